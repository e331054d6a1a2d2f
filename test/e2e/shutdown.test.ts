import { execFileSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { COMBINED_ON_PORT_0, LpNodeProcess } from "../helpers/lpNode.js";
import { makeClip } from "../helpers/media.js";
import { pushRtmp } from "../helpers/rtmp.js";
import { tempDir } from "../helpers/tmp.js";
import { waitFor } from "../helpers/waitFor.js";

const running: LpNodeProcess[] = [];
const publishers: AbortController[] = [];
afterEach(async () => {
  for (const p of publishers.splice(0)) p.abort();
  await Promise.all(running.splice(0).map((p) => p.kill()));
});

function spawnNode(args: string[], datadir: string): LpNodeProcess {
  const p = new LpNodeProcess([...args, "-cliAddr", "127.0.0.1:0", "-datadir", datadir]);
  running.push(p);
  return p;
}

const portOf = async (p: LpNodeProcess, msg: string) =>
  Number(
    String((await p.waitFor((l) => l["msg"] === msg, 30_000))["addr"])
      .split(":")
      .pop(),
  );

/** Publish a clip to the node's RTMP port in real time until the test ends (or the node goes). */
function publish(port: number, name: string, seconds: number) {
  const ac = new AbortController();
  publishers.push(ac);
  const clip = makeClip({ width: 640, height: 360, seconds, format: "mp4" });
  return pushRtmp(`rtmp://127.0.0.1:${port}/live/${name}`, clip, { signal: ac.signal });
}

/** Command lines of running processes that mention `text` (the node's children name its folder). */
function processesMentioning(text: string): string[] {
  return execFileSync("ps", ["-eo", "args"])
    .toString()
    .split("\n")
    .filter((l) => l.includes(text));
}

/** Entries of <datadir>/tmp and, one level down, of each node's folder. */
function tempEntries(datadir: string): string[] {
  const root = join(datadir, "tmp");
  if (!existsSync(root)) return [];
  return readdirSync(root).flatMap((d) => [d, ...readdirSync(join(root, d)).map((f) => `${d}/${f}`)]);
}

describe("stopping a node", () => {
  it("SIGTERM in combined mode drains an RTMP stream through the local orchestrator, then exits 0", async () => {
    const datadir = tempDir("lp-e2e-");
    const node = spawnNode([...COMBINED_ON_PORT_0], datadir);
    const rtmpPort = await portOf(node, "RTMP server listening");
    void publish(rtmpPort, "drain", 30);
    // Mid-stream: a segment has been through the orchestrator and more are being cut.
    await node.waitFor((l) => l["msg"] === "using orchestrator" && l["manifestID"] === "drain", 60_000);
    expect(processesMentioning(datadir).length).toBeGreaterThan(0); // the segmenter runs
    node.child.kill("SIGTERM");
    const exit = await node.exited;
    expect(exit.code, node.stderr).toBe(0);
    // Nothing failed on the way down: the last segments went through the local orchestrator.
    expect(node.linesWith("segment failed")).toEqual([]);
    expect(node.stderr).not.toContain("ECONNREFUSED");
    const finished = node.lines.find(
      (l) => l["msg"] === "RTMP stream finished" && l["manifestID"] === "drain",
    );
    expect(finished, node.stderr).toBeDefined();
    const cut = Number(finished!["segments"]);
    expect(cut).toBeGreaterThanOrEqual(2);
    const every = Array.from({ length: cut }, (_, i) => i);
    expect(finished!["playlists"]).toEqual({ source: every, P240p30fps16x9: every, P360p30fps16x9: every });
    // No child outlives the node, and its temporary folder is gone.
    expect(processesMentioning(datadir)).toEqual([]);
    expect(tempEntries(datadir)).toEqual([]);
  }, 120_000);

  it("a node killed with SIGKILL leaves temporary files that the next start on that datadir sweeps", async () => {
    const datadir = tempDir("lp-e2e-");
    const args = ["--mode", "gateway", "-httpAddr", "127.0.0.1:0", "-rtmpAddr", "127.0.0.1:0"];
    const first = spawnNode(args, datadir);
    const rtmpPort = await portOf(first, "RTMP server listening");
    void publish(rtmpPort, "killed", 30);
    await first.waitFor((l) => l["msg"] === "RTMP stream segmenting", 30_000);
    // The segmenter writes under <datadir>/tmp/<pid>-<random>/lp-seg-*.
    const left = await waitFor(() => {
      const e = tempEntries(datadir);
      return e.some((x) => x.includes("/lp-seg-")) ? e : null;
    });
    expect(left.some((x) => x.startsWith(`${first.child.pid}-`))).toBe(true);
    first.child.kill("SIGKILL");
    await first.exited;
    expect(tempEntries(datadir)).toEqual(expect.arrayContaining(left));

    const second = spawnNode(args, datadir);
    await second.cliPort();
    const now = tempEntries(datadir);
    // Only the new node's own (empty) folder: the dead node's files are gone.
    expect(now).toHaveLength(1);
    expect(now[0]!.startsWith(`${second.child.pid}-`)).toBe(true);
    second.child.kill("SIGTERM");
    expect((await second.exited).code).toBe(0);
    expect(tempEntries(datadir)).toEqual([]);
  }, 90_000);
});
