import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import type { NodeConfig } from "../config/resolve.js";
import type { Logger } from "../logger/logger.js";
import { detectCodecs, transcodingCapabilities } from "../media/capabilities.js";
import { defaultFfmpegPath } from "../media/ffmpeg/binaries.js";
import { runProcess } from "../media/ffmpeg/runFfmpeg.js";
import { GpuBalancer } from "../media/gpu/GpuBalancer.js";
import { resolveNvidiaDevices } from "../media/gpu/nvidiaSmi.js";
import { testGpus } from "../media/gpu/startupTest.js";
import { LocalTranscoder } from "../media/LocalTranscoder.js";
import { PRESETS } from "../media/profiles.js";
import { SegDataSchema } from "../protocol/gen/lp_rpc_pb.js";

/** Sessions each stream is assumed to hold on NVENC when sizing from a driver cap (the default ladder). */
const RENDITIONS_PER_STREAM = 2;

/**
 * Build this node's local transcoder from its flags: -ffmpegPath, -nvidia (with the
 * -testTranscoder check on every GPU) and -hevcDecoding. Capabilities come from the ffmpeg build.
 */
export async function buildLocalTranscoder(config: NodeConfig, logger: Logger): Promise<LocalTranscoder> {
  const o = config.options;
  const ffmpegPath = o.str("ffmpegPath") || defaultFfmpegPath();
  const codecs = await detectCodecs(ffmpegPath).catch((err: Error) => {
    throw new Error(`cannot run ffmpeg at ${ffmpegPath}: ${err.message}`);
  });
  const nvidia = o.str("nvidia");
  const hevc = o.isSet("hevcDecoding") ? o.bool("hevcDecoding") : undefined;
  let gpus: GpuBalancer | null = null;
  let sessionCap: number | null = null;
  if (nvidia !== "") {
    const devices = await resolveNvidiaDevices(nvidia);
    if (o.bool("testTranscoder")) {
      const result = await testGpus(
        devices,
        (device, n) => gpuTestTranscode(ffmpegPath, device, n, logger),
        logger,
      );
      if (result.nvencSessionCap !== null)
        sessionCap = Math.max(1, Math.floor(result.nvencSessionCap / RENDITIONS_PER_STREAM));
    }
    // The driver's NVENC limit, when found, also bounds the sessions pinned to each GPU.
    gpus = new GpuBalancer(devices, sessionCap ?? Number.POSITIVE_INFINITY);
  }
  const capabilities = transcodingCapabilities(codecs, { gpu: gpus !== null, hevcDecoding: hevc });
  logger.info({ ffmpegPath, gpus: gpus?.devices ?? "cpu", capabilities }, "local transcoder ready");
  return new LocalTranscoder({ ffmpegPath, capabilities, gpus, sessionCap }, { logger });
}

/** One test transcode on a GPU: a 146x146 H.264 clip into `renditions` identical outputs. */
async function gpuTestTranscode(
  ffmpegPath: string,
  device: string,
  renditions: number,
  logger: Logger,
): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "lp-gputest-"));
  try {
    const clip = join(dir, "test.ts");
    const gen = await runProcess(
      ffmpegPath,
      [
        "-hide_banner",
        "-y",
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=146x146:rate=30",
        "-t",
        "1",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "-f",
        "mpegts",
        clip,
      ],
      { timeoutMs: 30_000 },
    );
    if (gen.code !== 0) throw new Error(`cannot make the GPU test clip: ${gen.stderr.slice(-300)}`);
    const tc = new LocalTranscoder(
      { ffmpegPath, capabilities: [], gpus: new GpuBalancer([device]) },
      { logger },
    );
    const profile = { ...PRESETS["P144p30fps16x9"]!, width: 146, height: 146, bitrate: 1_000_000 };
    await tc.transcode({
      sessionId: `gpu-test-${device}`,
      manifestId: "gpu-test",
      seq: 0n,
      data: await readFile(clip),
      durationMs: 1000,
      profiles: Array.from({ length: renditions }, (_, i) => ({ ...profile, name: `test${i}` })),
      segData: create(SegDataSchema),
      signal: new AbortController().signal,
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
