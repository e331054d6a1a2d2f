import { describe, expect, it } from "vitest";
import { type BenchSegment, cycleSegments, formatReport, runBench } from "../../../src/bench/bench.js";
import { PRESETS } from "../../../src/media/profiles.js";
import { EchoTranscoder } from "../../helpers/orchestrator.js";

const segs: BenchSegment[] = [
  { data: Buffer.from("a"), durationMs: 40 },
  { data: Buffer.from("b"), durationMs: 40 },
];

describe("bench", () => {
  it("feeds every stream every segment and reports ratios, overhead and pixels", async () => {
    const t = new EchoTranscoder();
    t.delayMs = 10;
    const profiles = [PRESETS["P240p30fps16x9"]!];
    const progress: number[] = [];
    const r = await runBench(
      { input: "", profiles, concurrentSessions: 3, segs: 2, ffmpegPath: "" },
      { transcoder: t, segments: segs, onProgress: (d) => progress.push(d) },
    );
    expect(r.segments).toBe(6);
    expect(r.failed).toBe(0);
    expect(progress).toEqual([1, 2, 3, 4, 5, 6]);
    expect(new Set(t.jobs.map((j) => j.sessionId))).toEqual(new Set(["bench0", "bench1", "bench2"]));
    expect(r.pixels).toBe(6 * 426 * 240);
    expect(r.realTimeRatio).toBeGreaterThan(0);
    // The echo double runs no ffmpeg, so all of its time counts as ffmpeg time.
    expect(r.overheadPercent).toBe(0);
    expect(r.rows.map((x) => [x.stream, x.seq])).toEqual([
      [0, 0],
      [0, 1],
      [1, 0],
      [1, 1],
      [2, 0],
      [2, 1],
    ]);
    const text = formatReport(r);
    expect(text).toContain("real-time ratio: mean");
    expect(text).toContain("P240p30fps16x9");
  });
  it("counts failures and keeps going", async () => {
    const t = new EchoTranscoder();
    t.failWith = "boom";
    const r = await runBench(
      { input: "", profiles: [PRESETS["P144p30fps16x9"]!], concurrentSessions: 1, segs: 2, ffmpegPath: "" },
      { transcoder: t, segments: segs },
    );
    expect(r.failed).toBe(2);
    expect(r.rows[0]!.error).toBe("boom");
  });
  it("cycles a short input for long runs", () => {
    expect(cycleSegments(segs, 5).map((s) => s.data.toString())).toEqual(["a", "b", "a", "b", "a"]);
    expect(cycleSegments(segs, 1)).toHaveLength(1);
  });
});
