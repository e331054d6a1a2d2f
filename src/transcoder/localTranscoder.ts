import type { NodeConfig } from "../config/resolve.js";
import type { Logger } from "../logger/logger.js";
import { detectCodecs, transcodingCapabilities } from "../media/capabilities.js";
import { defaultFfmpegPath } from "../media/ffmpeg/binaries.js";
import type { ChildProcesses } from "../media/ffmpeg/runFfmpeg.js";
import { GpuBalancer } from "../media/gpu/GpuBalancer.js";
import { resolveNvidiaDevices } from "../media/gpu/nvidiaSmi.js";
import { CAPABILITY_TESTS, testTranscoderCapabilities } from "../media/gpu/startupTest.js";
import { createGpuTestRunner } from "../media/gpu/testRunner.js";
import { LocalTranscoder } from "../media/LocalTranscoder.js";

/** Sessions each stream is assumed to hold on NVENC when sizing from a driver cap (the default ladder). */
const RENDITIONS_PER_STREAM = 2;

/** What the local transcoder takes from its node: logs, the child registry and the temporary folder. */
export interface LocalTranscoderContext {
  logger: Logger;
  children: ChildProcesses;
  tmpDir: string;
}

/**
 * Build this node's local transcoder from its flags: -ffmpegPath, -nvidia (with go-livepeer's
 * -testTranscoder capability tests on every GPU, which also find GPUs without NVENC and run them
 * in hybrid mode) and -hevcDecoding. Capabilities come from the ffmpeg build, less those a GPU
 * failed.
 */
export async function buildLocalTranscoder(
  config: NodeConfig,
  ctx: LocalTranscoderContext,
): Promise<LocalTranscoder> {
  const { logger, children, tmpDir } = ctx;
  const o = config.options;
  const ffmpegPath = o.str("ffmpegPath") || defaultFfmpegPath();
  const codecs = await detectCodecs(ffmpegPath, children).catch((err: Error) => {
    throw new Error(`cannot run ffmpeg at ${ffmpegPath}: ${err.message}`);
  });
  const nvidia = o.str("nvidia");
  const hevc = o.isSet("hevcDecoding") ? o.bool("hevcDecoding") : undefined;
  let gpus: GpuBalancer | null = null;
  let sessionCap: number | null = null;
  let failed: number[] = [];
  let hybridGpus: string[] = [];
  if (nvidia !== "") {
    const devices = await resolveNvidiaDevices(nvidia);
    if (o.bool("testTranscoder")) {
      const runner = await createGpuTestRunner({ ffmpegPath, workDir: tmpDir, children });
      try {
        const result = await testTranscoderCapabilities(devices, CAPABILITY_TESTS, runner.run, logger);
        failed = result.dropped;
        hybridGpus = result.hybrid;
        if (result.nvencSessionCap !== null)
          sessionCap = Math.max(1, Math.floor(result.nvencSessionCap / RENDITIONS_PER_STREAM));
      } finally {
        await runner.close();
      }
    }
    // The driver's NVENC limit, when found, also bounds the sessions pinned to each GPU.
    gpus = new GpuBalancer(devices, sessionCap ?? Number.POSITIVE_INFINITY);
  }
  const hybrid =
    hybridGpus.length === 0 ? "none" : hybridGpus.length === gpus?.devices.length ? "all" : "some";
  const capabilities = transcodingCapabilities(codecs, {
    gpu: gpus !== null,
    hevcDecoding: hevc,
    hybrid,
  }).filter((c) => !failed.includes(c));
  logger.info(
    {
      ffmpegPath,
      gpus: gpus?.devices ?? "cpu",
      ...(hybridGpus.length > 0 ? { hybridGpus } : {}),
      capabilities,
    },
    "local transcoder ready",
  );
  return new LocalTranscoder(
    {
      ffmpegPath,
      capabilities,
      gpus,
      sessionCap,
      hybridGpus,
      workDir: tmpDir,
      children,
      // A card whose driver caps NVENC sessions (GeForce) is sized one segment per stream at a
      // time; two segments of a stream at once would open twice the encoders the cap allows for.
      streamDepth: sessionCap !== null ? 1 : undefined,
    },
    { logger },
  );
}
