import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runBench } from "../../../src/bench/bench.js";
import { resolveConfig } from "../../../src/config/resolve.js";
import { silentLogger } from "../../../src/logger/logger.js";
import { ChildProcesses, runProcess } from "../../../src/media/ffmpeg/runFfmpeg.js";
import { transcodeArgs } from "../../../src/media/ffmpeg/transcodeArgs.js";
import { CAPABILITY_TESTS, testTranscoderCapabilities } from "../../../src/media/gpu/startupTest.js";
import { createGpuTestRunner, testClipArgs } from "../../../src/media/gpu/testRunner.js";
import { PRESETS } from "../../../src/media/profiles.js";
import { firstVideoPtsSec } from "../../../src/media/sniff.js";
import { LocalTranscoder } from "../../../src/media/transcoder.js";
import { buildLocalTranscoder } from "../../../src/transcoder/localTranscoder.js";
import { FFMPEG, makeClip, probeFrames, segmentClip } from "../../helpers/media.js";
import { tempDir } from "../../helpers/tmp.js";

describe("GPU startup test on a machine without a usable GPU", () => {
  it("fails the required H.264 test with a clear message and leaves nothing behind", async () => {
    const children = new ChildProcesses();
    const workDir = tempDir();
    const runner = await createGpuTestRunner({ ffmpegPath: FFMPEG, timeoutMs: 20_000, workDir, children });
    try {
      await expect(
        testTranscoderCapabilities(["0"], CAPABILITY_TESTS, runner.run, silentLogger()),
      ).rejects.toThrow(/required capability "H.264" is not supported on hardware \(device 0\)/);
    } finally {
      await runner.close();
    }
    expect(children.size).toBe(0);
    expect(readdirSync(workDir)).toEqual([]);
  });

  it("can make every capability's test clip with the shipped ffmpeg (a clip it cannot make drops the capability on every GPU)", async () => {
    const children = new ChildProcesses();
    const dir = tempDir();
    const made: string[] = [];
    for (const test of CAPABILITY_TESTS) {
      const file = join(dir, `${test.name.replace(/\W+/g, "_")}.ts`);
      const r = await runProcess(FFMPEG, testClipArgs(test.input, file), { timeoutMs: 30_000, children });
      if (r.code === 0) made.push(test.name);
      else made.push(`${test.name}: ${r.stderr.slice(-200)}`);
    }
    expect(made).toEqual(CAPABILITY_TESTS.map((t) => t.name));
  });

  it("is the same check the node runs at start with -nvidia and -testTranscoder", async () => {
    const r = resolveConfig(
      ["-transcoder", "-orchAddr", "127.0.0.1:8935", "-orchSecret", "s", "-nvidia", "0"],
      {
        env: {},
        readFile: () => null,
      },
    );
    if (r.kind !== "ok") throw new Error(JSON.stringify(r));
    const children = new ChildProcesses();
    const tmpDir = tempDir();
    await expect(
      buildLocalTranscoder(r.config, { logger: silentLogger(), children, tmpDir }),
    ).rejects.toThrow(/required capability "H.264" is not supported on hardware \(device 0\)/);
    expect(children.size).toBe(0);
    expect(readdirSync(tmpDir)).toEqual([]);
  });
});

describe("bench", () => {
  it("cuts an input into segments, transcodes them in real time, compares with one process and writes a JSON report", async () => {
    const input = makeClip({ width: 320, height: 240, seconds: 4 });
    let text = "";
    const out = {
      write(chunk: string) {
        text += chunk;
        return true;
      },
    } as unknown as NodeJS.WritableStream;
    const children = new ChildProcesses();
    const workDir = tempDir();
    const transcoder = new LocalTranscoder(
      { ffmpegPath: FFMPEG, workDir, children },
      { logger: silentLogger() },
    );
    const report = await runBench(
      {
        input,
        profiles: [PRESETS["P144p30fps16x9"]!],
        concurrentSessions: 2,
        segs: 2,
        nvidia: null,
        json: true,
        compare: true,
      },
      { transcoder, out, isTTY: false, workDir, children },
    );
    const json = JSON.parse(text) as typeof report;
    expect(json.segments).toBe(4);
    expect(json.failed).toBe(0);
    expect(json.realTimeRatio).toBeGreaterThan(0);
    expect(json.overheadPercent).toBeGreaterThanOrEqual(0);
    expect(json.rows).toHaveLength(4);
    expect(json.rows[0]).toMatchObject({ stream: 0, seq: 0 });
    expect(json.rows.every((r) => r.pixels % (256 * 192) === 0 && r.pixels > 0)).toBe(true);
    expect(json.memory.heapStartMiB).toBeGreaterThan(0);
    // The comparison run: the same 2 segments through one bare ffmpeg per stream.
    expect(json.singleProcessMs).toBeGreaterThan(0);
    // Both times are rounded to 0.1 ms in the report, the ratio from the unrounded ones.
    expect(json.vsSingleProcess).toBeCloseTo(json.nodeWallMs / json.singleProcessMs!, 2);
    expect(json.latencyP95Ms).toBeGreaterThanOrEqual(json.latencyP50Ms);
    expect(json.latencyP50Ms).toBeGreaterThan(0);
    expect(children.size).toBe(0);
    expect(readdirSync(workDir)).toEqual([]);
  });
});

describe("the bench's single-process comparison", () => {
  it("starts a new IDR frame where each of the node's segments starts, as the node's renditions do", async () => {
    const segs = segmentClip(makeClip({ width: 320, height: 240, seconds: 6 }), 2);
    expect(segs).toHaveLength(3);
    const dir = tempDir();
    const whole = join(dir, "whole.ts");
    writeFileSync(whole, Buffer.concat(segs));
    const starts = segs.map((s) => firstVideoPtsSec(s)!);
    const keyframes = async (keyframesAtSec?: number[]) => {
      const out = join(dir, `out${keyframesAtSec ? "kf" : ""}.ts`);
      const argv = transcodeArgs({
        input: whole,
        outputs: [{ path: out, profile: PRESETS["P144p30fps16x9"]! }],
        gpu: null,
        keyframesAtSec,
      });
      expect((await runProcess(FFMPEG, argv, { timeoutMs: 60_000 })).code).toBe(0);
      return probeFrames(out)
        .filter((f) => f.keyFrame)
        .map((f) => f.pts);
    };
    // The fps filter puts frames on its 1/30 s grid, so an output frame is within half a frame of its source frame.
    const near = (got: number[], want: number[]) => {
      expect(got).toHaveLength(want.length);
      for (const [i, t] of got.entries()) expect(Math.abs(t - want[i]!)).toBeLessThan(1 / 60);
    };
    // Without the boundaries ffmpeg makes one IDR for the whole input (keyint 250 > 180 frames).
    near(await keyframes(), [starts[0]!]);
    near(await keyframes(starts.slice(1)), starts);
  });
});
