import { describe, expect, it } from "vitest";
import { type BenchTranscoder, formatReport, progressBar, runBench } from "../../../src/bench/bench.js";
import { PRESETS } from "../../../src/media/profiles.js";

/** A transcoder double that "runs ffmpeg" for ffmpegMs of each call's 20 ms. */
class FakeTranscoder implements BenchTranscoder {
  sessions = new Set<string>();
  async transcode(job: Parameters<BenchTranscoder["transcode"]>[0]) {
    this.sessions.add(job.sessionId);
    await new Promise((r) => setTimeout(r, 20));
    return { renditions: job.profiles.map((p) => ({ pixels: p.width * p.height })), ffmpegMs: 10 };
  }
}

describe("bench report", () => {
  it("measures real-time ratio, overhead around ffmpeg and pixels per segment", async () => {
    const t = new FakeTranscoder();
    const r = await runBench(
      { profiles: [PRESETS["P240p30fps16x9"]!], concurrentSessions: 2, segs: 2, nvidia: "0" },
      {
        transcoder: t,
        segments: [
          { data: Buffer.from("a"), durationMs: 50 },
          { data: Buffer.from("b"), durationMs: 50 },
        ],
      },
    );
    expect(t.sessions).toEqual(new Set(["bench0", "bench1"]));
    expect(r.segments).toBe(4);
    expect(r.nvidia).toBe("0");
    expect(r.pixels).toBe(4 * 426 * 240);
    // ~20 ms wall around 10 ms of "ffmpeg": about 100 % overhead, ratio about 0.4.
    expect(r.overheadPercent).toBeGreaterThan(50);
    expect(r.rows[0]!.overheadPercent).toBeGreaterThan(50);
    expect(r.realTimeRatio).toBeGreaterThan(0.3);
    const table = formatReport(r);
    expect(table).toContain("overhead%");
    expect(table).toContain("nvidia: 0");
  });
  it("draws a progress bar that ends its line when done", () => {
    expect(progressBar(1, 4, 8)).toBe("\r[##......] 1/4 segments");
    expect(progressBar(4, 4, 8)).toBe("\r[########] 4/4 segments\n");
  });
});
