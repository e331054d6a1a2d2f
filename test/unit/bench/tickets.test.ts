import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import {
  benchTicketsCommand,
  formatTicketBenchReport,
  runTicketBench,
  TICKET_BENCH_GOAL_PER_SECOND,
} from "../../../src/bench/tickets.js";

function sink(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on("data", (c: Buffer) => chunks.push(c));
  return { stream, text: () => Buffer.concat(chunks).toString("utf8") };
}

describe("bench tickets", () => {
  it("measures both backends with real signed tickets and reports the goal", async () => {
    const r = await runTicketBench({ durationSeconds: 0.05, tickets: 5 });
    expect(r.nativeAvailable).toBe(true);
    expect(r.results.map((x) => x.backend)).toEqual(["native", "noble"]);
    for (const x of r.results) {
      expect(x.verifyPerSecond).toBeGreaterThan(0);
      expect(x.receivePerSecond).toBeGreaterThan(0);
    }
    expect(r.goalPerSecond).toBe(TICKET_BENCH_GOAL_PER_SECOND);
    expect(typeof r.goalMet).toBe("boolean");
    const text = formatTicketBenchReport(r);
    expect(text).toMatch(/native +verify +\d+\/s/);
    expect(text).toMatch(/noble +verify +\d+\/s/);
    expect(text).toContain("goal 15000/s native");
  });

  it("--json prints one parseable report; bad flags exit 2 with the problem", async () => {
    const out = sink();
    const err = sink();
    const code = await benchTicketsCommand(["--json", "--duration", "0.02", "--tickets=3"], {
      stdout: out.stream,
      stderr: err.stream,
    });
    expect(code).toBe(0);
    const report = JSON.parse(out.text());
    expect(report.results).toHaveLength(2);
    expect(err.text()).toBe("");

    const out2 = sink();
    const err2 = sink();
    expect(
      await benchTicketsCommand(["--duration", "-1", "--bogus"], {
        stdout: out2.stream,
        stderr: err2.stream,
      }),
    ).toBe(2);
    expect(err2.text()).toContain("unknown flag --bogus");
    expect(err2.text()).toContain("--duration must be in (0, 600]");
    expect(out2.text()).toBe("");
  });
});
