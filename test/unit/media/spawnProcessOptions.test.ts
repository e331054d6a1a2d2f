import { closeSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ChildProcesses, spawnProcess } from "../../../src/media/ffmpeg/runFfmpeg.js";
import { removeTempDirs, tempDir } from "../../helpers/tmp.js";

// The runner's options for long-lived children with their own log (a devnet cluster's nodes).

afterAll(() => removeTempDirs());

// Whether a process group with this id exists (signal 0 to -pgid probes without signalling).
function groupExists(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("spawnProcess", () => {
  it("writes stdout and stderr to the given file descriptor", async () => {
    const path = join(tempDir("lp-spawn-"), "node.log");
    const fd = openSync(path, "w");
    const child = spawnProcess(
      process.execPath,
      ["-e", 'process.stdout.write("to stdout\\n"); process.stderr.write("to stderr\\n")'],
      { output: fd },
    );
    closeSync(fd);
    const exit = await child.done;
    expect(exit.code).toBe(0);
    expect(readFileSync(path, "utf8").split("\n").sort()).toEqual(["", "to stderr", "to stdout"]);
    expect(exit.stderr).toBe("");
  });

  it("starts a child in its own process group when asked, and in the parent's otherwise", async () => {
    const children = new ChildProcesses();
    const own = spawnProcess(process.execPath, ["-e", "setInterval(() => {}, 1000)"], {
      children,
      newProcessGroup: true,
    });
    const shared = spawnProcess(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { children });
    try {
      expect(groupExists(own.pid!)).toBe(true);
      expect(groupExists(shared.pid!)).toBe(false);
    } finally {
      await children.killAll();
    }
  });
});
