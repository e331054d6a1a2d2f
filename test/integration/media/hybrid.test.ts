import { chmodSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../../src/logger/logger.js";
import { ChildProcesses } from "../../../src/media/ffmpeg/runFfmpeg.js";
import { outputSize } from "../../../src/media/ffmpeg/transcodeArgs.js";
import { GpuBalancer } from "../../../src/media/gpu/GpuBalancer.js";
import { CAPABILITY_TESTS, testTranscoderCapabilities } from "../../../src/media/gpu/startupTest.js";
import { createGpuTestRunner } from "../../../src/media/gpu/testRunner.js";
import { probe } from "../../../src/media/probe.js";
import { PRESETS } from "../../../src/media/profiles.js";
import { LocalTranscoder } from "../../../src/media/transcoder.js";
import { Capability } from "../../../src/protocol/capabilities.js";
import {
  FFMPEG,
  FFPROBE,
  makeClip,
  probeFrames,
  removeClips,
  segmentClip,
  tempFile,
} from "../../helpers/media.js";
import { tempDir } from "../../helpers/tmp.js";

// Hybrid mode through the engine, balancer and warm sessions on a machine without a GPU: a
// stand-in for a CUDA ffmpeg logs the argv it is given, then runs the CPU twin of every GPU
// option (device options left out, scale_cuda as scale, nothing to download) with the real ffmpeg.

const ladder = [PRESETS["P144p30fps16x9"]!, PRESETS["P240p30fps16x9"]!];
let segments: { data: Buffer; frames: number }[] = [];
let standIn: string;
let argvLog: string;

const STAND_IN = (log: string) => `#!/usr/bin/env bash
printf '%s\\037' "$@" >>"${log}"
printf '\\n' >>"${log}"
args=()
while (($#)); do
  case "$1" in
    -hwaccel|-hwaccel_output_format|-hwaccel_device|-init_hw_device|-filter_hw_device) shift 2; continue;;
    -filter_complex) a=\${2//scale_cuda=/scale=}; a=\${a//hwdownload,format=nv12,/}; args+=("$1" "$a"); shift 2; continue;;
  esac
  args+=("$1"); shift
done
exec "${FFMPEG}" "\${args[@]}"
`;

/**
 * A stand-in for a CUDA ffmpeg on a card without NVENC (H100): an NVENC encoder fails as there,
 * everything else runs as STAND_IN does. `device: true` makes it a broken CUDA device instead.
 */
const NO_NVENC_STAND_IN = (inner: string, device = false) => `#!/usr/bin/env bash
for a in "$@"; do
  if [[ ${device ? "$a == -hwaccel" : "$a == h264_nvenc || $a == hevc_nvenc"} ]]; then
    ${
      device
        ? `echo "[AVHWDeviceContext @ 0x1] cu->cuInit(0) failed -> CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected" >&2
    echo "Device creation failed: -542398533." >&2`
        : `echo "[h264_nvenc @ 0x55d4c0a1b2c0] OpenEncodeSessionEx failed: unsupported device (2): (no details)" >&2
    echo "Error initializing output stream 0:0 -- Error while opening encoder for output stream #0:0" >&2`
    }
    exit 1
  fi
done
exec "${inner}" "$@"
`;

/** Every argv the stand-in was started with, in order. */
const invocations = (): string[][] =>
  readFileSync(argvLog, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => l.split("\x1f").slice(0, -1));

beforeAll(async () => {
  const dir = tempDir();
  argvLog = join(dir, "argv.log");
  writeFileSync(argvLog, "");
  standIn = join(dir, "ffmpeg");
  writeFileSync(standIn, STAND_IN(argvLog));
  chmodSync(standIn, 0o755);
  segments = await Promise.all(
    segmentClip(makeClip({ width: 320, height: 240, seconds: 6 }), 2).map(async (data) => {
      const p = await probe(data, { countFrames: true, workDir: dir });
      return { data, frames: p.video!.frames };
    }),
  );
}, 120_000);
afterAll(() => removeClips());

describe("the start-up GPU test on a card without NVENC (stand-in ffmpeg)", () => {
  const standInFor = (name: string, device: boolean) => {
    const file = join(tempDir(), name);
    writeFileSync(file, NO_NVENC_STAND_IN(standIn, device));
    chmodSync(file, 0o755);
    return file;
  };
  const startupTest = async (ffmpegPath: string) => {
    const workDir = tempDir();
    const children = new ChildProcesses();
    const runner = await createGpuTestRunner({ ffmpegPath, workDir, children });
    try {
      return await testTranscoderCapabilities(
        ["0"],
        CAPABILITY_TESTS.slice(0, 3),
        runner.run,
        silentLogger(),
      );
    } finally {
      await runner.close();
      expect(children.size).toBe(0);
      expect(readdirSync(workDir)).toEqual([]);
    }
  };

  it("NVENC fails as on an H100: the device passes in hybrid mode, HEVC encode dropped", async () => {
    const r = await startupTest(standInFor("h100-ffmpeg", false));
    expect(r.hybrid).toEqual(["0"]);
    expect(r.supported).toEqual([Capability.H264, Capability.HEVC_Decode]);
    expect(r.dropped).toEqual([Capability.HEVC_Encode]);
  }, 120_000);

  it("a broken CUDA device still refuses to start", async () => {
    await expect(startupTest(standInFor("broken-ffmpeg", true))).rejects.toThrow(
      /^required capability "H.264" is not supported on hardware \(device 0\): /,
    );
  }, 120_000);
});

describe("hybrid GPUs in the engine (CUDA ffmpeg stand-in)", () => {
  it("balances streams across hybrid GPUs, keeps them warm, and encodes every rendition with libx264", async () => {
    expect(segments).toHaveLength(3);
    const before = invocations().length;
    const children = new ChildProcesses();
    const workDir = tempDir();
    const gpus = new GpuBalancer(["0", "1"]);
    const tc = new LocalTranscoder(
      { ffmpegPath: standIn, ffprobePath: FFPROBE, gpus, hybridGpus: ["0", "1"], workDir, children },
      { logger: silentLogger() },
    );
    // Warm sessions are on by default with GPUs, hybrid ones included.
    expect(tc.warmEnabled).toBe(true);
    const job = (sessionId: string, data: Buffer) => ({
      data,
      durationMs: 2000,
      profiles: ladder,
      sessionId,
    });
    const outs = [];
    outs.push(await tc.transcode(job("a", segments[0]!.data)));
    outs.push(await tc.transcode(job("b", segments[0]!.data)));
    // Each stream has its own GPU, the least loaded when it started.
    expect(gpus.snapshot().map((g) => g.sessions)).toEqual([1, 1]);
    expect(tc.status()).toMatchObject({
      GPUs: [
        { Device: "0", Mode: "hybrid", H264Encoder: "libx264", Sessions: 1 },
        { Device: "1", Mode: "hybrid", H264Encoder: "libx264", Sessions: 1 },
      ],
    });
    for (const seg of segments.slice(1)) outs.push(await tc.transcode(job("a", seg.data)));
    // Stream a's later segments went to spares started ahead of them.
    expect(outs.map((o) => o.warm)).toEqual([false, false, true, true]);
    const frames = [segments[0]!, segments[0]!, segments[1]!, segments[2]!].map((s) => s.frames);
    for (const [k, out] of outs.entries()) {
      for (const [i, r] of out.renditions.entries()) {
        const size = outputSize(320, 240, ladder[i]!);
        const p = await probe(r.data, { countFrames: true, workDir });
        expect(p.video).toMatchObject({ codec: "h264", width: size.width, height: size.height });
        expect(p.video!.frames).toBe(frames[k]);
        expect(r.pixels).toBe(frames[k]! * size.width * size.height);
        expect(probeFrames(tempFile(r.data, ".ts"))[0]!.keyFrame).toBe(true);
      }
    }
    // What the node asked of the (stand-in) CUDA ffmpeg: the device per stream, GPU scaling, a
    // download, and libx264 for every rendition; NVENC never.
    const runs = invocations().slice(before);
    expect(runs.length).toBeGreaterThanOrEqual(4);
    for (const argv of runs) {
      expect(argv.join(" ")).not.toContain("nvenc");
      expect(argv.filter((a) => a === "libx264")).toHaveLength(2);
      expect(argv[argv.indexOf("-hwaccel") + 1]).toBe("cuda");
      const graph = argv[argv.indexOf("-filter_complex") + 1]!;
      expect(graph.match(/scale_cuda=/g)).toHaveLength(2);
      expect(graph.match(/hwdownload,format=nv12,format=yuv420p/g)).toHaveLength(2);
    }
    const devices = new Set(runs.map((a) => a[a.indexOf("-init_hw_device") + 1]));
    expect(devices).toEqual(new Set(["cuda=lpgpu:0", "cuda=lpgpu:1"]));
    await tc.stop();
    tc.endSession("a");
    tc.endSession("b");
    expect(gpus.snapshot().map((g) => g.sessions)).toEqual([0, 0]);
    expect(children.size).toBe(0);
  }, 300_000);

  it("runs a segment without a session cold, on the hybrid graph", async () => {
    const before = invocations().length;
    const tc = new LocalTranscoder(
      { ffmpegPath: standIn, ffprobePath: FFPROBE, nvidia: ["2"], hybridGpus: ["2"], workDir: tempDir() },
      { logger: silentLogger() },
    );
    const out = await tc.transcode({ data: segments[0]!.data, durationMs: 2000, profiles: ladder });
    expect(out.warm).toBeUndefined();
    expect(out.renditions).toHaveLength(2);
    const argv = invocations().slice(before);
    expect(argv).toHaveLength(1);
    expect(argv[0]).not.toContain("-init_hw_device");
    expect(argv[0]![argv[0]!.indexOf("-hwaccel_device") + 1]).toBe("2");
    expect(argv[0]!.filter((a) => a === "libx264")).toHaveLength(2);
    await tc.stop();
  }, 120_000);
});
