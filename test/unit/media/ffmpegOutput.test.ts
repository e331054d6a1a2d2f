import { describe, expect, it } from "vitest";
import {
  classifyFfmpegFailure,
  isNonRetryable,
  isNvencSessionCapError,
} from "../../../src/media/ffmpeg/errors.js";
import { ChildProcesses, runFfmpeg, runProcess, spawnProcess } from "../../../src/media/ffmpeg/runFfmpeg.js";
import { parseFfmpegStats } from "../../../src/media/ffmpeg/stats.js";
import { isAlive } from "../../../src/utils/process.js";

const stderr = [
  "Input #0, mpegts, from 'in.ts':",
  "    Stream #0:0[0x100]: Video: h264 (High) ([27][0][0][0] / 0x001B), yuv420p(progressive), 640x360 [SAR 1:1 DAR 16:9], 30 fps, 30 tbr, 90k tbn, 60 tbc",
  "    Stream #0:1[0x101]: Audio: aac (LC) ([15][0][0][0] / 0x000F), 44100 Hz, mono, fltp, 4 kb/s",
  "Output #0, mpegts, to 'o0.ts':",
  "    Stream #0:0: Video: h264 (libx264), 1 reference frame, yuv420p(left), 426x240 [SAR 640:639 DAR 16:9], q=-1--1, 600 kb/s, 30 fps, 90k tbn, 30 tbc",
  "Output #1, mp4, to 'o1.mp4':",
  "    Stream #1:0: Video: h264 (libx264), 1 reference frame (avc1 / 0x31637661), yuv420p(left), 640x360 [SAR 1:1 DAR 16:9], q=-1--1, 25 fps, 12800 tbn, 25 tbc",
  "    Stream #1:1: Audio: aac (LC) ([15][0][0][0] / 0x000F), 44100 Hz, mono, fltp, 4 kb/s",
  "  Input stream #0:0 (video): 60 packets read (14453 bytes); 60 frames decoded; ",
  "  Output stream #0:0 (video): 60 frames encoded; 60 packets muxed (52359 bytes); ",
  "  Output stream #1:0 (video): 50 frames encoded; 50 packets muxed (15755 bytes); ",
  "  Output stream #1:1 (audio): 88 packets muxed (19174 bytes); ",
].join("\n");

describe("ffmpeg's end-of-run report", () => {
  it("reads sizes and frame counts per output", () => {
    const s = parseFfmpegStats(stderr);
    expect(s.input).toMatchObject({
      width: 640,
      height: 360,
      codec: "h264",
      pixFmt: "yuv420p",
      hasAudio: true,
    });
    expect(s.decodedFrames).toBe(60);
    expect(s.outputs).toEqual([
      { frames: 60, width: 426, height: 240 },
      { frames: 50, width: 640, height: 360 },
    ]);
  });
  it("reads nothing from a run that never started", () => {
    expect(parseFfmpegStats("in.ts: Invalid data found when processing input")).toEqual({
      input: null,
      decodedFrames: 0,
      outputs: [],
    });
  });
});

describe("ffmpeg failures", () => {
  const cases: [string, string, string, boolean][] = [
    [
      "in.ts: Invalid data found when processing input",
      "INVALID_INPUT",
      "Invalid data found when processing input",
      true,
    ],
    [
      "Stream specifier ':v:0' in filtergraph description [0:v:0]null[s0] matches no streams.",
      "NO_VIDEO",
      "TranscoderInvalidVideo",
      false,
    ],
    [
      "Cannot determine format of input stream 0:0 after EOF\nError marking filters as finished",
      "ZERO_FRAMES",
      "TranscoderInvalidVideo",
      false,
    ],
    [
      "[mpeg2video @ 0x1] Codec (mpeg2video) not on whitelist 'h264,hevc'\nError while opening decoder for input stream #0:0 : Invalid argument",
      "UNSUPPORTED_CODEC",
      "Unsupported input codec",
      false,
    ],
    [
      "[h264_nvenc @ 0x1] OpenEncodeSessionEx failed: out of memory (10)",
      "NVENC_SESSIONS",
      "Cannot allocate memory",
      true,
    ],
    ["Unknown encoder 'h264_nvenc'", "ENCODER", "Encoder not found", false],
    [
      "[Parsed_scale_cuda_1 @ 0x1] Unsupported input format: yuv444p",
      "PIXEL_FORMAT",
      "Unsupported input pixel format",
      false,
    ],
    [
      "Error reinitializing filters!\nFailed to inject frame into filter network",
      "FILTERGRAPH",
      "Error initializing filtergraph",
      false,
    ],
    ["Unrecognized option 'tier'.", "OPTION", "Option not found", false],
  ];
  it.each(cases)("maps %j", (text, code, message, retryable) => {
    const err = classifyFfmpegFailure(text);
    expect({ code: err.code, message: err.message, retryable: err.retryable }).toEqual({
      code,
      message,
      retryable,
    });
  });
  it("keeps ffmpeg's last meaningful line otherwise", () => {
    const err = classifyFfmpegFailure(
      "something odd\nCUDA_ERROR_NO_DEVICE: no CUDA-capable device\nConversion failed!\n",
    );
    expect(err.message).toBe("CUDA_ERROR_NO_DEVICE: no CUDA-capable device");
    expect(err.retryable).toBe(true);
  });
  it("knows go-livepeer's non-retryable texts and the NVENC cap", () => {
    expect(isNonRetryable("TranscoderInvalidVideo")).toBe(true);
    expect(isNonRetryable("Cannot allocate memory")).toBe(false);
    expect(isNvencSessionCapError("OpenEncodeSessionEx failed: incompatible client key (21)")).toBe(true);
    expect(isNvencSessionCapError("No capable devices found")).toBe(false);
  });
});

describe("process runner", () => {
  const node = process.execPath;
  it("returns exit code, bounded stderr (head and tail kept) and lifetime", async () => {
    const r = await runProcess(
      node,
      ["-e", "process.stderr.write('HEAD\\n' + 'x'.repeat(300000) + '\\nTAIL\\n', () => process.exit(3))"],
      { timeoutMs: 10_000, stderrLimit: 1000, stderrHeadLimit: 100 },
    );
    expect(r.code).toBe(3);
    expect(r.stderrTruncated).toBe(true);
    expect(r.stderr.startsWith("HEAD")).toBe(true);
    expect(r.stderr.trimEnd().endsWith("TAIL")).toBe(true);
    expect(r.stderr.length).toBeLessThan(1200);
    expect(r.elapsedMs).toBeGreaterThan(0);
  });
  it("SIGKILLs and reaps on timeout and on abort", async () => {
    const hang = ["-e", "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000)"];
    await expect(runProcess(node, hang, { timeoutMs: 200 })).rejects.toMatchObject({
      code: "FFMPEG_TIMEOUT",
    });
    const children = new ChildProcesses();
    const ac = new AbortController();
    const p = runProcess(node, hang, { timeoutMs: 10_000, signal: ac.signal, children });
    expect(children.size).toBe(1);
    const [pid] = children.pids();
    setTimeout(() => ac.abort(), 100);
    await expect(p).rejects.toMatchObject({ code: "ABORTED", retryable: true });
    expect(children.size).toBe(0);
    expect(isAlive(pid!)).toBe(false);
    const aborted = AbortSignal.abort();
    await expect(runProcess(node, hang, { timeoutMs: 1000, signal: aborted })).rejects.toMatchObject({
      code: "ABORTED",
    });
  });
  it("streams stdin to stdout for a long-running child, and its owner's killAll reaps it", async () => {
    const children = new ChildProcesses();
    const echo = spawnProcess(node, ["-e", "process.stdin.pipe(process.stdout)"], {
      stdin: true,
      stdout: true,
      children,
    });
    const got = new Promise<string>((resolve) =>
      echo.stdout!.once("data", (d: Buffer) => resolve(String(d))),
    );
    echo.stdin!.write("hello");
    expect(await got).toBe("hello");
    echo.stdin!.end();
    expect((await echo.done).code).toBe(0);
    // A child that would run forever: the owner's stop kills and reaps it.
    const hang = spawnProcess(node, ["-e", "setInterval(() => {}, 1000)"], { children });
    expect(children.pids()).toEqual([hang.pid]);
    await children.killAll();
    expect(children.size).toBe(0);
    expect(isAlive(hang.pid!)).toBe(false);
    expect((await hang.done).signal).toBe("SIGKILL");
  });
  it("reports a missing binary as an LpError", async () => {
    await expect(
      runFfmpeg(["-version"], { timeoutMs: 1000, ffmpegPath: "/no/such/ffmpeg" }),
    ).rejects.toMatchObject({
      code: "FFMPEG_SPAWN",
    });
  });
});

/** Whether a process id is alive (signal 0 only checks). */
