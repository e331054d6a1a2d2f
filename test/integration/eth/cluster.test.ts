import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { clusterCommand } from "../../../src/eth/cluster.js";
import { parseDevnetArgs } from "../../../src/eth/devnet.js";
import { isAlive } from "../../../src/utils/process.js";
import { tempDir } from "../../helpers/tmp.js";

// The cluster command in-process against a real anvil, with a stand-in for lp-node that fails.

function capture() {
  const stream = new PassThrough();
  let text = "";
  stream.on("data", (d) => {
    text += d;
  });
  return { stream, text: () => text };
}

describe("lp-node devnet --cluster", () => {
  it("fails with the dead node's log tail when a node exits while starting, and leaves neither nodes nor anvil", async () => {
    const dir = tempDir("lp-cluster-fail-");
    const script = join(tempDir("lp-cluster-script-"), "node.mjs");
    writeFileSync(script, 'process.stderr.write("boom: cannot start\\n");\nprocess.exit(3);\n');
    const parsed = parseDevnetArgs(["--cluster", "--dir", dir, "--port", "0", "--free-ports"]);
    expect(parsed.problems).toEqual([]);
    const stdout = capture();
    const stderr = capture();
    const code = await clusterCommand(parsed.options!, {
      stdout: stdout.stream,
      stderr: stderr.stream,
      signal: new AbortController().signal,
      mainScript: script,
    });
    expect(code).toBe(1);
    const said = stderr.text();
    expect(said).toMatch(
      /(orchestrator-\d|gateway) exited while starting \(code 3, signal null\); the end of /,
    );
    expect(said).toContain("boom: cannot start");
    // No cluster.json for a cluster that never came up; every node has its own log.
    expect(existsSync(join(dir, "cluster.json"))).toBe(false);
    for (const name of ["orchestrator-1", "orchestrator-2", "gateway"]) {
      expect(existsSync(join(dir, `${name}.log`))).toBe(true);
    }
    const pids = [...said.matchAll(/\(pid (\d+)\)/g)].map((m) => Number(m[1]));
    expect(pids).toHaveLength(4); // anvil and three nodes
    for (const pid of pids) expect(isAlive(pid), `pid ${pid}`).toBe(false);
    expect(stdout.text()).toBe("");
  }, 60_000);
});
