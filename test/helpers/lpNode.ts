import { type ChildProcess, spawn } from "node:child_process";
import { resolve } from "node:path";
import { tempDir } from "./tmp.js";

/** A combined gateway+orchestrator+transcoder node with every media listener on port 0. */
export const COMBINED_ON_PORT_0: readonly string[] = [
  "--mode",
  "gateway,orchestrator,transcoder",
  "-serviceAddr",
  "127.0.0.1:0",
  "-httpAddr",
  "127.0.0.1:0",
  "-rtmpAddr",
  "127.0.0.1:0",
];

/** A gateway with its HTTP, RTMP and CLI listeners on port 0. */
export const GATEWAY_ON_PORT_0: readonly string[] = [
  "--mode",
  "gateway",
  "-httpAddr",
  "127.0.0.1:0",
  "-rtmpAddr",
  "127.0.0.1:0",
  "-cliAddr",
  "127.0.0.1:0",
];

/** Path of the built CLI entry point (tests run after `npm run build`). */
export const LP_NODE = resolve(import.meta.dirname, "../../dist/src/cli/main.js");

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Run lp-node to completion (for --help, --version, bad flags). */
export function runLpNode(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  timeoutMs = 20_000,
): Promise<RunResult> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [LP_NODE, ...args], {
      env: { ...process.env, HOME: freshHome(), ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      fail(new Error(`lp-node ${args.join(" ")} did not exit in ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      done({ code, signal, stdout, stderr });
    });
  });
}

/** Every LpNodeProcess started in this test file and not yet reaped. */
const alive = new Set<LpNodeProcess>();
/** Every spawnLpNode child started in this test file and not yet exited. */
const spawned = new Set<ChildProcess>();

/** Kill (SIGKILL) every lp-node this file started and wait for their exits (the setup file's afterAll). */
export async function stopAllLpNodes(): Promise<void> {
  // SIGKILL: a devnet's anvil and cluster nodes follow their parent by its parent-death signal.
  for (const child of spawned) child.kill("SIGKILL");
  await Promise.all([...alive].map((p) => p.kill()));
}

/** A spawned lp-node subcommand whose plain-text output is kept as it comes. */
export interface SpawnedLpNode {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Spawn `lp-node <args>` with an empty HOME, keeping its stdout and stderr (for subcommands such
 * as `devnet` that print rather than log JSON); stopAllLpNodes kills it if it is still running.
 */
export function spawnLpNode(args: string[]): SpawnedLpNode {
  const child = spawn(process.execPath, [LP_NODE, ...args], {
    env: { ...process.env, HOME: freshHome() },
    stdio: ["ignore", "pipe", "pipe"],
  });
  spawned.add(child);
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => {
    stdout += d;
  });
  child.stderr!.on("data", (d) => {
    stderr += d;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => {
      spawned.delete(child);
      resolve({ code, signal });
    }),
  );
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

/** A running lp-node process whose JSON log lines can be awaited. */
export class LpNodeProcess {
  readonly child: ChildProcess;
  readonly lines: Record<string, unknown>[] = [];
  stderr = "";
  private waiters: {
    match: (l: Record<string, unknown>) => boolean;
    resolve: (l: Record<string, unknown>) => void;
  }[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(args: string[], env: NodeJS.ProcessEnv = {}) {
    this.child = spawn(process.execPath, [LP_NODE, ...args, "-logFormat", "json"], {
      env: { ...process.env, HOME: freshHome(), ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let buf = "";
    this.child.stderr!.on("data", (d: Buffer) => {
      this.stderr += d;
      buf += d;
      let nl = buf.indexOf("\n");
      while (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        nl = buf.indexOf("\n");
        try {
          const parsed = JSON.parse(line) as Record<string, unknown>;
          this.lines.push(parsed);
          this.waiters = this.waiters.filter((w) => {
            if (!w.match(parsed)) return true;
            w.resolve(parsed);
            return false;
          });
        } catch {
          // not a log line
        }
      }
    });
    this.child.stdout!.resume();
    alive.add(this);
    this.exited = new Promise((done) =>
      this.child.on("exit", (code, signal) => {
        alive.delete(this);
        done({ code, signal });
      }),
    );
  }

  /** Resolve with the first log line (past or future) matching `match`, or fail after `timeoutMs`. */
  waitFor(
    match: (l: Record<string, unknown>) => boolean,
    timeoutMs = 20_000,
  ): Promise<Record<string, unknown>> {
    const seen = this.lines.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((done, fail) => {
      const timer = setTimeout(
        () => fail(new Error(`no matching log line in ${timeoutMs} ms:\n${this.stderr}`)),
        timeoutMs,
      );
      this.waiters.push({
        match,
        resolve: (l) => {
          clearTimeout(timer);
          done(l);
        },
      });
      this.exited.then(() => fail(new Error(`lp-node exited before the log line:\n${this.stderr}`)));
    });
  }

  /** Wait for "CLI server listening" and return the bound CLI port. */
  async cliPort(): Promise<number> {
    const line = await this.waitFor((l) => l["msg"] === "CLI server listening");
    return Number(String(line["addr"]).split(":").pop());
  }

  /** Wait for the log line `msg` (a server's "... listening") and return its `addr` (host:port). */
  async listenAddr(msg: string, timeoutMs = 30_000): Promise<string> {
    return String((await this.waitFor((l) => l["msg"] === msg, timeoutMs))["addr"]);
  }

  /** Wait for the orchestrator's TLS port and return it. */
  async orchestratorPort(timeoutMs = 30_000): Promise<number> {
    return Number((await this.listenAddr("orchestrator TLS port listening", timeoutMs)).split(":").pop());
  }

  /** Wait for the gateway's HTTP server and return its host:port. */
  gatewayHttpAddr(timeoutMs = 30_000): Promise<string> {
    return this.listenAddr("gateway HTTP server listening", timeoutMs);
  }

  /**
   * The CLI listener's host:port, from the per-listener line logged once the whole node has
   * started (so /status answers for every role by then).
   */
  async cliAddr(timeoutMs = 30_000): Promise<string> {
    const line = await this.waitFor(
      (l) => l["listener"] === "cli" && typeof l["addr"] === "string",
      timeoutMs,
    );
    return String(line["addr"]);
  }

  /** GET the node's CLI /status, parsed (waits for the node to have started). */
  async status<T = Record<string, unknown>>(): Promise<T> {
    return (await (await fetch(`http://${await this.cliAddr()}/status`)).json()) as T;
  }

  /** Kill hard if still running (afterEach safety net); resolves once it has exited. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
    await this.exited;
  }

  /** Log lines whose message is `msg`. */
  linesWith(msg: string): Record<string, unknown>[] {
    return this.lines.filter((l) => l["msg"] === msg);
  }
}

/** An empty HOME so the default data directory never touches the real one (removed after the file). */
export function freshHome(): string {
  return tempDir("lp-home-");
}
