import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { LpError } from "../errors/LpError.js";
import { spawnProcess } from "../media/ffmpeg/runFfmpeg.js";

/** A running anvil process on 127.0.0.1 and its RPC URL. */
export interface AnvilProcess {
  url: string;
  port: number;
  pid: number;
  /** Resolves with anvil's exit code (or signal) once it has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends SIGTERM (anvil dumps its state on the way out), then SIGKILL after graceMs; waits for the exit. */
  stop(graceMs?: number): Promise<void>;
}

/** Options of spawnAnvil. */
export interface SpawnAnvilOptions {
  /** Port to bind on 127.0.0.1; 0 lets the OS pick one (read back from anvil's output). */
  port: number;
  chainId: number;
  /** Interval mining in seconds; undefined mines a block per transaction (automine). */
  blockTime?: number;
  /** File anvil loads at start when it exists and dumps into on exit (anvil's --state). */
  stateFile?: string;
  /** Seconds between periodic state dumps, so a crash loses at most this much. */
  stateIntervalS?: number;
  /** How long to wait for anvil to listen. */
  timeoutMs?: number;
  /** The anvil binary; default: the one in the @foundry-rs/anvil npm package. */
  binary?: string;
}

// The platform packages the @foundry-rs/anvil package lists as optional dependencies.
function platformPackage(): string {
  const arch = process.arch === "x64" ? "amd64" : process.arch;
  return `@foundry-rs/anvil-${process.platform}-${arch}`;
}

/**
 * The anvil binary shipped with the @foundry-rs/anvil npm package for this platform, or `anvil`
 * from PATH when the package is not installed.
 */
export function anvilBinary(): string {
  const exe = process.platform === "win32" ? "anvil.exe" : "anvil";
  const require = createRequire(import.meta.url);
  // The platform package can sit beside @foundry-rs/anvil or nested inside it; resolve from both.
  const bases: string[] = [import.meta.url];
  try {
    bases.push(require.resolve("@foundry-rs/anvil/package.json"));
  } catch {
    // the wrapper package is absent: only the top-level lookup remains
  }
  for (const base of bases) {
    try {
      const pkg = createRequire(base).resolve(`${platformPackage()}/package.json`);
      const bin = join(dirname(pkg), "bin", exe);
      if (existsSync(bin)) return bin;
    } catch {
      // not installed from this base
    }
  }
  return exe;
}

/**
 * Starts anvil on 127.0.0.1 and resolves once it listens. A port already in use is an LpError
 * with code ANVIL_PORT_IN_USE; any other failure to start is ANVIL_START_FAILED. On Linux the
 * kernel sends anvil SIGTERM when lp-node dies, even by SIGKILL, so no anvil is ever orphaned.
 */
export async function spawnAnvil(options: SpawnAnvilOptions): Promise<AnvilProcess> {
  const args = ["--host", "127.0.0.1", "--port", String(options.port), "--chain-id", String(options.chainId)];
  if (options.blockTime !== undefined) args.push("--block-time", String(options.blockTime));
  if (options.stateFile !== undefined) {
    // The dump keeps blocks and their hashes (blockHashForRound answers after a reload) but not
    // the state at past blocks: --preserve-historical-states would make it ten times larger.
    args.push("--state", options.stateFile);
    if (options.stateIntervalS !== undefined) args.push("--state-interval", String(options.stateIntervalS));
  }
  const binary = options.binary ?? anvilBinary();
  const child = spawnProcess(binary, args, {
    stdout: true,
    parentDeathSignal: "SIGTERM",
    stderrLimit: 16 * 1024,
    stderrHeadLimit: 4 * 1024,
  });
  // Where pdeathsig is not available: kill anvil when this process exits.
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  const done = child.done.then((exit) => {
    process.removeListener("exit", killOnExit);
    return exit;
  });
  const exited = done.then(({ code, signal }) => ({ code, signal }));
  let finished = false;
  void done.then(() => {
    finished = true;
  });
  const stop = async (graceMs = 5_000) => {
    if (finished || child.pid === undefined) return;
    // SIGTERM first: anvil dumps its state on the way out.
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await done;
    clearTimeout(timer);
  };

  const timeoutMs = options.timeoutMs ?? 20_000;
  let output = "";
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new LpError("ANVIL_START_FAILED", `anvil did not start in ${timeoutMs} ms: ${lastLine(output)}`),
          ),
        timeoutMs,
      );
      child.stdout!.on("data", (chunk: Buffer) => {
        if (output.length < 64 * 1024) output += chunk.toString();
        const match = /Listening on [\d.]+:(\d+)/.exec(output);
        if (match) {
          clearTimeout(timer);
          resolve(Number(match[1]));
        }
      });
      void done.then((exit) => {
        clearTimeout(timer);
        const said = `${output}\n${exit.stderr}`;
        if (exit.spawnError) {
          reject(
            new LpError("ANVIL_START_FAILED", `cannot run anvil (${binary}): ${exit.spawnError.message}`),
          );
        } else if (/address already in use/i.test(said)) {
          reject(new LpError("ANVIL_PORT_IN_USE", `port ${options.port} on 127.0.0.1 is already in use`));
        } else {
          reject(new LpError("ANVIL_START_FAILED", `anvil exited with code ${exit.code}: ${lastLine(said)}`));
        }
      });
    });
    // Keep draining its output so a chatty anvil never blocks on a full pipe.
    child.stdout!.resume();
    return { url: `http://127.0.0.1:${port}`, port, pid: child.pid!, exited, stop };
  } catch (err) {
    await stop(1_000);
    throw err;
  }
}

function lastLine(text: string): string {
  const lines = text.trim().split("\n");
  return lines[lines.length - 1] ?? "";
}
