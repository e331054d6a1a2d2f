import { execFileSync, spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { freshHome, LP_NODE } from "../helpers/lpNode.js";
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
