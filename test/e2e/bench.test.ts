import { execFileSync, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { freshHome, LP_NODE } from "../helpers/lpNode.js";
import { makeClip } from "../helpers/media.js";
import { tempDir } from "../helpers/tmp.js";
import { waitFor } from "../helpers/waitFor.js";

describe("lp-node bench interrupted", () => {
  it("removes its per-process temporary folder and kills its ffmpeg on SIGINT", async () => {
    const tmp = tempDir();
    const child = spawn(process.execPath, [LP_NODE, "bench", "-segs", "10", "--json"], {
      env: { ...process.env, HOME: freshHome(), TMPDIR: tmp },
      stdio: ["ignore", "ignore", "pipe"],
    });
    child.stderr.resume();
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    // The input is being prepared (a 20 s 1080p pattern cut into segments) in lp-<pid>-*/lp-bench-*.
    const folder = await waitFor(() => {
      const own = readdirSync(tmp).find((d) => d.startsWith(`lp-${child.pid}-`));
      return own && readdirSync(join(tmp, own)).length > 0 ? own : null;
    });
    expect(folder).toBeTruthy();
    child.kill("SIGINT");
    expect(await exited).toBe(130);
    expect(readdirSync(tmp)).toEqual([]);
    // The ffmpeg that was cutting the input (its argv names the folder) went with it.
    const ps = execFileSync("ps", ["-eo", "args"]).toString();
    expect(ps.split("\n").filter((l) => l.includes(tmp))).toEqual([]);
  }, 60_000);
});

describe("lp-node bench --json into a pipe", () => {
  it("writes the whole report before it exits, even to a reader slower than the pipe", async () => {
    // A 1 s clip cycled 600 times at 144p: a report of about 250 KB, more than a pipe holds.
    const clip = makeClip({ width: 160, height: 90, seconds: 1 });
    const out = join(tempDir(), "report.json");
    const args = [LP_NODE, "bench", "-in", clip, "-segs", "600", "-realtime=false", "-compare=false"].concat([
      "-transcodingOptions",
      "P144p30fps16x9",
      "--json",
    ]);
    // A real pipe (node's own child stdio is a socket pair) to a reader that starts late.
    const child = spawn("sh", ["-c", `"$0" "$@" | (sleep 1; cat > "${out}")`, process.execPath, ...args], {
      env: { ...process.env, HOME: freshHome() },
      stdio: ["ignore", "ignore", "ignore"],
    });
    expect(await new Promise((resolve) => child.on("exit", resolve))).toBe(0);
    const text = readFileSync(out, "utf8");
    expect(text.length).toBeGreaterThan(200_000);
    const report = JSON.parse(text) as { segments: number; rows: unknown[] };
    expect(report.segments).toBe(600);
    expect(report.rows).toHaveLength(600);
  }, 180_000);
});
