import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import {
  type BenchSegment,
  cpuMs,
  cycleSegments,
  formatReport,
  percentile,
  runBench,
  unionMs,
  vsSingleProcess,
} from "../../../src/bench/bench.js";
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
  it("takes nearest-rank percentiles and the node / single-process ratio", () => {
    const xs = Array.from({ length: 20 }, (_, i) => 20 - i); // 20..1, unsorted on purpose
    expect(percentile(xs, 50)).toBe(10);
    expect(percentile(xs, 95)).toBe(19);
    expect(percentile(xs, 100)).toBe(20);
    expect(percentile(xs, 0)).toBe(1);
    expect(percentile([7], 95)).toBe(7);
    expect(percentile([], 50)).toBe(0);
    expect(percentile([3, 1, 2], 50)).toBe(2);
    expect(vsSingleProcess(1110, 1000)).toBeCloseTo(1.11, 10);
    expect(vsSingleProcess(500, 0)).toBe(0);
  });
  it("reports vsSingleProcess from the comparison run and latency percentiles, back to back", async () => {
    const t = new EchoTranscoder();
    t.delayMs = 5;
    const calls: [number, number][] = [];
    const r = await runBench(
      { input: "", profiles: [PRESETS["P240p30fps16x9"]!], concurrentSessions: 2, segs: 2, realtime: false },
      {
        transcoder: t,
        segments: segs,
        singleProcess: async (given, streams) => {
          calls.push([given.length, streams]);
          return r0;
        },
      },
    );
    // The comparison gets the same segments and one process per stream.
    expect(calls).toEqual([[2, 2]]);
    expect(r.singleProcessMs).toBe(r0);
    expect(r.nodeWallMs).toBeGreaterThan(0);
    expect(r.vsSingleProcess).toBeCloseTo(r.nodeWallMs / r0, 2);
    const lat = r.rows.map((x) => x.latencyMs).sort((a, b) => a - b);
    expect(r.latencyP50Ms).toBe(Math.round(lat[1]! * 10) / 10);
    expect(r.latencyP95Ms).toBe(Math.round(lat[3]! * 10) / 10);
    // Back to back, a segment arrives when it is fed: latency is at least its transcode time.
    for (const x of r.rows) expect(x.latencyMs).toBeGreaterThanOrEqual(x.transcodeMs);
    const text = formatReport(r);
    expect(text).toContain(`vs single process: ${r.vsSingleProcess}x`);
    expect(text).toContain("segment latency (arrival to last rendition): p50");
  });
  it("counts the wait of a segment that arrives while the node is behind in its latency", async () => {
    const t = new EchoTranscoder();
    t.delayMs = 40;
    const slow = [0, 1, 2].map((i) => ({ data: Buffer.from(String(i)), durationMs: 5 }));
    const r = await runBench(
      { input: "", profiles: [PRESETS["P240p30fps16x9"]!], concurrentSessions: 1, segs: 3 },
      { transcoder: t, segments: slow },
    );
    // Segment 2 was due at 10 ms but could start only after two 40 ms transcodes.
    expect(r.rows[2]!.latencyMs).toBeGreaterThan(r.rows[2]!.transcodeMs + 20);
    expect(r.singleProcessMs).toBeNull();
    expect(r.vsSingleProcess).toBeNull();
    expect(formatReport(r)).toContain("no single-process comparison run");
  });
});
const r0 = 1000;

/** An echo transcoder that records the most segments it held at once. */
class PeakTranscoder extends EchoTranscoder {
  peak = 0;
  override async transcode(job: Parameters<EchoTranscoder["transcode"]>[0]) {
    const p = super.transcode(job);
    this.peak = Math.max(this.peak, this.active);
    return p;
  }
}

describe("bench feeding", () => {
  const four = [0, 1, 2, 3].map((i) => ({ data: Buffer.from(String(i)), durationMs: 5 }));
  const profiles = [PRESETS["P240p30fps16x9"]!];

  it("keeps at most -inflight segments of a stream at the node, handed over in order", async () => {
    for (const inflight of [1, 2, 3]) {
      const t = new PeakTranscoder();
      t.delayMs = 30;
      const r = await runBench(
        { input: "", profiles, concurrentSessions: 1, segs: 4, realtime: false, inflight },
        { transcoder: t, segments: four },
      );
      expect(t.peak).toBe(inflight);
      expect(t.jobs.map((j) => Number(j.seq))).toEqual([0, 1, 2, 3]);
      expect(r.failed).toBe(0);
      expect(r.rows.map((x) => x.seq)).toEqual([0, 1, 2, 3]);
    }
  });

  it("defaults to the node's stream depth (two at once)", async () => {
    const t = new PeakTranscoder();
    t.delayMs = 30;
    await runBench(
      { input: "", profiles, concurrentSessions: 2, segs: 4, realtime: false },
      { transcoder: t, segments: four },
    );
    // Two streams, two segments each at most.
    expect(t.peak).toBe(4);
  });

  it("counts overlapping segments once in the node time of a paced stream", async () => {
    const t = new EchoTranscoder();
    t.delayMs = 40;
    const r = await runBench(
      { input: "", profiles, concurrentSessions: 1, segs: 4, inflight: 2 },
      { transcoder: t, segments: four },
    );
    const summed = r.rows.reduce((a, x) => a + x.transcodeMs, 0);
    // Segments due every 5 ms run two at a time, so their busy time is less than their sum.
    expect(r.nodeWallMs).toBeLessThan(summed);
    expect(r.nodeWallMs).toBeGreaterThanOrEqual(Math.max(...r.rows.map((x) => x.transcodeMs)));
  });

  it("measures the union of spans", () => {
    expect(unionMs([])).toBe(0);
    expect(unionMs([[0, 10]])).toBe(10);
    expect(
      unionMs([
        [5, 15],
        [0, 10],
      ]),
    ).toBe(15);
    expect(
      unionMs([
        [0, 10],
        [20, 25],
        [2, 4],
      ]),
    ).toBe(15);
    expect(
      unionMs([
        [0, 10],
        [10, 12],
      ]),
    ).toBe(12);
  });
});

describe("bench CPU accounting", () => {
  it.runIf(process.platform === "linux")("reads this process's and its reaped children's CPU time", () => {
    const a = cpuMs()!;
    // A child that burns some CPU, reaped before spawnSync returns.
    spawnSync(process.execPath, ["-e", "const t=Date.now();while(Date.now()-t<300){}"]);
    const b = cpuMs()!;
    expect(b.children).toBeGreaterThan(a.children);
    expect(b.own).toBeGreaterThanOrEqual(a.own);
  });
});
