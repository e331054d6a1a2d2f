import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { LpError } from "../../errors/LpError.js";
import type { Logger } from "../../logger/logger.js";
import { Capability } from "../../protocol/capabilities.js";
import { classifyFfmpegFailure, isNvencUnavailable } from "../ffmpeg/errors.js";
import { type ChildProcesses, runProcess } from "../ffmpeg/runFfmpeg.js";
import { transcodeArgs } from "../ffmpeg/transcodeArgs.js";
import { PRESETS } from "../profiles.js";
import {
  CAPABILITY_TESTS,
  type CapabilityTest,
  type CapabilityTestRunner,
  testTranscoderCapabilities,
} from "./startupTest.js";

const CLIP_ENCODERS = { h264: "libx264", hevc: "libx265", vp8: "libvpx", vp9: "libvpx-vp9" } as const;

/** The line of ffmpeg's stderr that names the NVENC problem, for the log. */
function nvencLine(stderr: string): string | undefined {
  return stderr
    .split(/\r?\n/)
    .find((l) => /nvenc|OpenEncodeSessionEx|capable devices|libnvidia-encode/i.test(l))
    ?.trim()
    .slice(0, 300);
}

/** argv that makes a 1 s test clip for a capability test (go-livepeer embeds such clips instead). */
export function testClipArgs(input: CapabilityTest["input"], out: string): string[] {
  const args = ["-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi"];
  args.push("-i", `testsrc=size=${input.size}x${input.size}:rate=30`, "-t", "1");
  args.push("-c:v", CLIP_ENCODERS[input.codec], "-pix_fmt", input.pixFmt);
  // libx265 prints its own [info] lines whatever -loglevel says.
  if (input.codec === "hevc") args.push("-x265-params", "log-level=error");
  args.push("-f", input.codec === "vp8" || input.codec === "vp9" ? "webm" : "mpegts", out);
  return args;
}

/**
 * The runner behind testTranscoderCapabilities, used by the node's -testTranscoder check and by
 * the tests alike (go-livepeer core/transcoder.go testTranscode): makes each test clip once with
 * this ffmpeg, then transcodes it on the GPU into N identical 146x146 renditions, encoded by
 * NVENC or, in hybrid mode, by the CPU encoders. A clip this ffmpeg cannot make fails that test;
 * NVENC missing on a working CUDA device fails with the code NVENC_UNAVAILABLE. `close()` removes
 * the clips.
 */
export async function createGpuTestRunner(options: {
  ffmpegPath: string;
  npp?: boolean;
  /** Parent of the clip folder: the node's temporary folder. */
  workDir: string;
  timeoutMs?: number;
  children?: ChildProcesses | null;
}): Promise<{ run: CapabilityTestRunner; close: () => Promise<void> }> {
  const dir = await mkdtemp(join(options.workDir, "lp-gputest-"));
  const children = options.children;
  const timeoutMs = options.timeoutMs ?? 60_000;
  const clips = new Map<string, Promise<string>>();
  let runs = 0;
  const clip = (input: CapabilityTest["input"]): Promise<string> => {
    const key = `${input.codec}-${input.pixFmt}-${input.size}`;
    let p = clips.get(key);
    if (!p) {
      const ext = input.codec === "vp8" || input.codec === "vp9" ? "webm" : "ts";
      const file = join(dir, `${key}.${ext}`);
      p = runProcess(options.ffmpegPath, testClipArgs(input, file), { timeoutMs, children }).then((r) => {
        if (r.code !== 0) {
          throw new LpError(
            "GPU_TEST_CLIP",
            `cannot make the ${key} test clip: ${r.stderr.trim().slice(-300)}`,
          );
        }
        return file;
      });
      clips.set(key, p);
    }
    return p;
  };
  const run: CapabilityTestRunner = async (device, test, renditions, mode = "nvenc") => {
    const input = await clip(test.input);
    const profile = {
      ...PRESETS["P144p30fps16x9"]!,
      width: 146,
      height: 146,
      bitrate: 1_000_000,
      codec: test.output,
    };
    const n = runs++;
    const outputs = Array.from({ length: renditions }, (_, i) => ({
      path: join(dir, `out-${n}-${i}.ts`),
      profile: { ...profile, name: `test${i}` },
    }));
    const args = transcodeArgs({
      input,
      outputs,
      gpu: device,
      npp: options.npp ?? false,
      decoders: null,
      hybrid: mode === "hybrid",
    });
    try {
      const r = await runProcess(options.ffmpegPath, args, { timeoutMs, children });
      if (r.code !== 0) {
        // Told apart from other failures: the start-up test then tries the card in hybrid mode.
        if (mode === "nvenc" && isNvencUnavailable(r.stderr))
          throw new LpError(
            "NVENC_UNAVAILABLE",
            `no NVENC on this GPU: ${nvencLine(r.stderr) ?? "NVENC unavailable"}`,
          );
        throw classifyFfmpegFailure(r.stderr);
      }
    } finally {
      await Promise.all(outputs.map((o) => rm(o.path, { force: true })));
    }
  };
  return { run, close: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * The GPUs among `devices` that have no NVENC but pass the H.264 start-up test in hybrid mode
 * (for `lp-node bench`, which skips the full -testTranscoder check but must run such cards as
 * the node would). A device that fails in both modes fails here with the node's start-up error.
 */
export async function findHybridGpus(
  devices: readonly string[],
  options: { ffmpegPath: string; workDir: string; children?: ChildProcesses | null; logger: Logger },
): Promise<string[]> {
  const runner = await createGpuTestRunner(options);
  try {
    const h264 = CAPABILITY_TESTS.filter((t) => t.capability === Capability.H264);
    return (await testTranscoderCapabilities(devices, h264, runner.run, options.logger)).hybrid;
  } finally {
    await runner.close();
  }
}
