import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { createServer } from "node:net";
import { resolve } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { LpNodeProcess } from "../helpers/lpNode.js";
import { tempDir } from "../helpers/tmp.js";

const running: LpNodeProcess[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.kill()));
});

/** The README's first command, word for word. */
const README_COMMAND = ["--mode", "gateway,orchestrator,transcoder", "-serviceAddr", "127.0.0.1:8935"];
/** The ports it takes by default; no other test uses them. */
const DEFAULT_PORTS = [8935, 1935, 9935, 5935];

/** Ports among `ports` that something on this machine already holds. */
async function busy(ports: number[]): Promise<number[]> {
  const out: number[] = [];
  for (const port of ports) {
    const free = await new Promise<boolean>((done) => {
      const s = createServer();
      s.once("error", () => done(false));
      // No host: the dual-stack wildcard, which clashes with a listener on any address.
      s.listen(port, () => s.close(() => done(true)));
    });
    if (!free) out.push(port);
  }
  return out;
}

interface Listening {
  address: string;
  port: number;
  loopback: boolean;
}

/** The TCP sockets `pid` listens on, read from /proc (its fds' socket inodes in /proc/net/tcp{,6}). */
function listeningSockets(pid: number): Listening[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // the fd closed while we looked
    }
  }
  const out: Listening[] = [];
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const line of readFileSync(table, "utf8").trim().split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      const [local, state, inode] = [f[1]!, f[3]!, f[9]!];
      if (state !== "0A" || !inodes.has(inode)) continue; // 0A: LISTEN
      const [hex, portHex] = local.split(":") as [string, string];
      out.push({ ...decode(hex), port: Number.parseInt(portHex, 16) });
    }
  }
  return out;
}

/** /proc/net address words are host-order (little-endian) 32-bit groups. */
function decode(hex: string): { address: string; loopback: boolean } {
  const words = hex.match(/.{8}/g)!.map((w) => w.match(/../g)!.reverse().join(""));
  const bytes = words
    .join("")
    .match(/../g)!
    .map((b) => Number.parseInt(b, 16));
  if (bytes.length === 4) return { address: bytes.join("."), loopback: bytes[0] === 127 };
  const v4mapped = bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  if (v4mapped) return { address: `::ffff:${bytes.slice(12).join(".")}`, loopback: bytes[12] === 127 };
  const loopback = bytes.slice(0, 15).every((b) => b === 0) && bytes[15] === 1;
  const groups = words.flatMap((w) => [w.slice(0, 4), w.slice(4)]);
  return { address: groups.join(":"), loopback };
}

describe("a new user's first run", () => {
  it("the README's main command listens on loopback only (sockets read from the OS)", async () => {
    const taken = await busy(DEFAULT_PORTS);
    if (taken.length > 0)
      throw new Error(
        `ports ${taken.join(", ")} are in use on this machine: this test runs the README's command with its default ports; free them and rerun`,
      );
    const node = new LpNodeProcess(README_COMMAND);
    running.push(node);
    await node.waitFor((l) => l["msg"] === "lp-node started", 60_000);
    const sockets = listeningSockets(node.child.pid!);
    expect(sockets.map((s) => s.port).sort()).toEqual([...DEFAULT_PORTS].sort());
    for (const s of sockets) expect(s, `${s.address}:${s.port}`).toMatchObject({ loopback: true });
    // One start-up line per listener, naming the flag that chose its address.
    const lines = node.lines.filter((l) => typeof l["listener"] === "string");
    expect(lines.map((l) => [l["listener"], l["addr"], l["flag"]])).toEqual([
      ["http", "127.0.0.1:9935", "-httpAddr"],
      ["rtmp", "127.0.0.1:1935", "-rtmpAddr"],
      ["orchestrator", "127.0.0.1:8935", "-serviceAddr"],
      ["cli", "127.0.0.1:5935", "-cliAddr"],
    ]);
    node.child.kill("SIGTERM");
    expect((await node.exited).code).toBe(0);
  }, 90_000);

  it("livepeer.config.example.json runs as shipped (listeners moved to port 0), loopback only", async () => {
    const example = resolve(import.meta.dirname, "../../livepeer.config.example.json");
    const node = new LpNodeProcess([
      "--config",
      example,
      "-serviceAddr",
      "127.0.0.1:0",
      "-cliAddr",
      "127.0.0.1:0",
      "-datadir",
      tempDir("lp-example-"),
    ]);
    running.push(node);
    // The start-up self-check pings the advertised URI 2 s after start: it must reach it.
    await node.waitFor((l) => l["msg"] === "orchestrator is reachable at its service URI", 60_000);
    const sockets = listeningSockets(node.child.pid!);
    expect(sockets).toHaveLength(2);
    for (const s of sockets) expect(s, `${s.address}:${s.port}`).toMatchObject({ loopback: true });
    expect(node.child.exitCode).toBeNull();
    node.child.kill("SIGTERM");
    expect((await node.exited).code).toBe(0);
  }, 90_000);
});
