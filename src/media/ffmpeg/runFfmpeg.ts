import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import type { Readable, Writable } from "node:stream";
import { LpError } from "../../errors/LpError.js";
import { defaultFfmpegPath } from "./binaries.js";

/**
 * The child processes one owner (a node, a tool run, a test) has alive. The runner adds each
 * child it spawns and removes it once reaped; the owner kills whatever is left when it stops, so
 * no ffmpeg outlives the node that started it.
 */
export class ChildProcesses {
  private readonly live = new Map<number, { child: ChildProcess; reaped: Promise<void> }>();

  /** Children alive now. */
  get size(): number {
    return this.live.size;
  }

  /** Process ids of the children alive now. */
  pids(): number[] {
    return [...this.live.keys()];
  }

  /** Track a child; `reaped` resolves once it has exited (the runner calls delete first). */
  add(child: ChildProcess, reaped: Promise<unknown>): void {
    if (child.pid === undefined) return;
    this.live.set(child.pid, { child, reaped: reaped.then(() => {}) });
  }

  /** The child has been reaped. */
  delete(child: ChildProcess): void {
    if (child.pid !== undefined && this.live.get(child.pid)?.child === child) this.live.delete(child.pid);
  }

  /** SIGKILL every child still alive, without waiting (the process is about to exit). */
  killAllNow(): void {
    for (const { child } of this.live.values()) {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }
  }

  /** SIGKILL every child still alive and wait until each has been reaped. */
  async killAll(): Promise<void> {
    const all = [...this.live.values()];
    this.killAllNow();
    await Promise.all(all.map((c) => c.reaped));
  }
}

/** How a child ended. */
export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /**
   * stderr, bounded: the first `stderrHeadLimit` characters (stream headers, which pixel
   * accounting reads) and the last `stderrLimit` (end-of-run statistics and the error).
   */
  stderr: string;
  /** Whether stderr was cut in the middle. */
  stderrTruncated: boolean;
  /** ms from spawn to exit: the process's own lifetime. */
  elapsedMs: number;
}

/** How a streaming child ended: the run result plus why it was killed, if it was. */
export interface ChildExit extends RunResult {
  /** Set when the runner killed it: the timeout, the caller's AbortSignal, or kill(). */
  killed: "timeout" | "abort" | "kill" | null;
  /** The spawn itself failed (no such binary...): there was never a process. */
  spawnError: Error | null;
}

export interface SpawnOptions {
  signal?: AbortSignal;
  /** Kill the child after this long; absent for a long-running child (a live segmenter). */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** The owner's registry: the child is listed there until reaped (and killed at its stop). */
  children?: ChildProcesses | null;
  /** A stdin pipe (live input); otherwise stdin is closed. */
  stdin?: boolean;
  /** A stdout pipe to read; otherwise stdout is discarded. */
  stdout?: boolean;
  /**
   * A file descriptor (an open log file) that takes the child's stdout and stderr instead of
   * pipes; the exit's stderr is then empty. For long-lived children with their own log, such as
   * the nodes of a devnet cluster.
   */
  output?: number;
  /**
   * Start the child in its own process group, so a terminal's Ctrl-C reaches only its parent,
   * which then stops it in order (a devnet cluster's nodes).
   */
  newProcessGroup?: boolean;
  /** Characters of stderr's tail kept; default 192 Ki. */
  stderrLimit?: number;
  /** Characters of stderr's head kept; default 64 Ki. */
  stderrHeadLimit?: number;
  /**
   * Linux: the kernel sends the child this signal when lp-node dies, even by SIGKILL (setpriv
   * --pdeathsig from util-linux execs the binary). For children that would otherwise run on
   * alone, such as a devnet's anvil; ignored where setpriv is missing.
   */
  parentDeathSignal?: NodeJS.Signals;
}

export type RunOptions = Omit<SpawnOptions, "stdin" | "stdout"> & { timeoutMs: number };

/** A running child: its pipes (when asked for), a kill switch and its exit. */
export interface RunningChild {
  readonly pid: number | undefined;
  /** Present with `stdin: true`; EPIPE after the child exits is swallowed (the exit says why). */
  readonly stdin: Writable | null;
  /** Present with `stdout: true`. */
  readonly stdout: Readable | null;
  /** Resolves once the child has been reaped (never rejects). */
  readonly done: Promise<ChildExit>;
  /** Send it a signal, SIGKILL by default (a no-op once it has exited). */
  kill(signal?: NodeJS.Signals): void;
}

const SETPRIV = "/usr/bin/setpriv";

/**
 * The one way lp-node starts a child process (our stand-in for lpms' in-process ffmpeg calls):
 * argv as given (no shell), stderr bounded, SIGKILL on timeout, abort or kill(), listed in the
 * owner's registry until reaped. Short runs use runProcess; live ones (the RTMP segmenter, the
 * demo publisher) use the pipes.
 */
export function spawnProcess(
  binary: string,
  args: readonly string[],
  options: SpawnOptions = {},
): RunningChild {
  const started = performance.now();
  const wrap = options.parentDeathSignal !== undefined && process.platform === "linux" && existsSync(SETPRIV);
  const [file, argv] = wrap
    ? [SETPRIV, ["--pdeathsig", options.parentDeathSignal!.replace(/^SIG/, ""), "--", binary, ...args]]
    : [binary, args];
  const child = spawn(file, argv, {
    stdio: [
      options.stdin ? "pipe" : "ignore",
      options.output ?? (options.stdout ? "pipe" : "ignore"),
      options.output ?? "pipe",
    ],
    env: options.env ?? process.env,
    detached: options.newProcessGroup === true,
  });
  const limit = options.stderrLimit ?? 192 * 1024;
  const headLimit = options.stderrHeadLimit ?? 64 * 1024;
  let head = "";
  let tail = "";
  let dropped = false;
  let killed: ChildExit["killed"] = null;
  let spawnError: Error | null = null;
  child.stdin?.on("error", () => {}); // EPIPE when the child exits first; the exit is reported instead
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (chunk: string) => {
    let d = chunk;
    if (head.length < headLimit) {
      const room = headLimit - head.length;
      head += d.slice(0, room);
      d = d.slice(room);
    }
    tail += d;
    if (tail.length > limit * 2) {
      tail = tail.slice(-limit);
      dropped = true;
    }
  });
  const kill = (reason: "timeout" | "abort" | "kill", signal: NodeJS.Signals = "SIGKILL") => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    killed ??= reason;
    child.kill(signal);
  };
  const timer = options.timeoutMs !== undefined ? setTimeout(() => kill("timeout"), options.timeoutMs) : null;
  const onAbort = () => kill("abort");
  if (options.signal?.aborted) queueMicrotask(onAbort);
  else options.signal?.addEventListener("abort", onAbort, { once: true });
  const done = new Promise<ChildExit>((resolve) => {
    let settled = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (settled) return;
      settled = true;
      options.children?.delete(child);
      if (timer) clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      const truncated = dropped || tail.length > limit;
      const end = tail.slice(-limit);
      resolve({
        code,
        signal,
        // A cut lands mid-line; the marker line keeps the head's last line and the tail's first apart.
        stderr: truncated ? `${head}\n[... stderr truncated ...]\n${end}` : head + end,
        stderrTruncated: truncated,
        elapsedMs: performance.now() - started,
        killed,
        spawnError,
      });
    };
    child.on("error", (err) => {
      // A failed spawn has no process to reap and may never emit "close".
      if (child.pid === undefined) {
        spawnError = err;
        finish(null, null);
      }
    });
    child.on("close", (code, signal) => finish(code, signal));
  });
  options.children?.add(child, done);
  return {
    pid: child.pid,
    stdin: child.stdin,
    stdout: child.stdout,
    done,
    kill: (signal) => kill("kill", signal),
  };
}

/**
 * Run one ffmpeg/ffprobe process to completion: stderr captured, killed with SIGKILL on abort or
 * timeout, and always reaped before the promise settles. Rejects with FFMPEG_SPAWN,
 * FFMPEG_TIMEOUT or ABORTED; any exit code resolves.
 */
export async function runProcess(
  binary: string,
  args: readonly string[],
  options: RunOptions,
): Promise<RunResult> {
  if (options.signal?.aborted) throw new LpError("ABORTED", "transcode cancelled", { retryable: true });
  const exit = await spawnProcess(binary, args, options).done;
  return finishedRun(exit, binary, "ffmpeg", options.timeoutMs, "transcode cancelled");
}

/** A child's exit as a RunResult; spawn failures, timeouts and aborts become LpErrors. */
function finishedRun(
  exit: ChildExit,
  binary: string,
  what: string,
  timeoutMs: number,
  abortText: string,
): RunResult {
  if (exit.spawnError) throw new LpError("FFMPEG_SPAWN", `cannot run ${binary}: ${exit.spawnError.message}`);
  if (exit.killed === "timeout")
    throw new LpError("FFMPEG_TIMEOUT", `${what} timed out after ${timeoutMs} ms`, { retryable: true });
  if (exit.killed === "abort") throw new LpError("ABORTED", abortText, { retryable: true });
  return {
    code: exit.code,
    signal: exit.signal,
    stderr: exit.stderr,
    stderrTruncated: exit.stderrTruncated,
    elapsedMs: exit.elapsedMs,
  };
}

/** A finished run with its stdout. */
export interface OutputResult extends RunResult {
  stdout: string;
}

/**
 * Run a short command (ffmpeg -encoders, ffprobe, nvidia-smi) and collect its stdout, at most
 * `maxStdout` bytes (default 16 MiB; more kills it). Rejects as runProcess does, and with
 * PROCESS_OUTPUT when the output is too large; any exit code resolves.
 */
export async function runForOutput(
  binary: string,
  args: readonly string[],
  options: RunOptions & { maxStdout?: number },
): Promise<OutputResult> {
  if (options.signal?.aborted) throw new LpError("ABORTED", "cancelled", { retryable: true });
  const max = options.maxStdout ?? 16 << 20;
  const child = spawnProcess(binary, args, { ...options, stdout: true });
  const chunks: Buffer[] = [];
  let size = 0;
  let tooBig = false;
  child.stdout?.on("data", (d: Buffer) => {
    size += d.length;
    if (size > max) {
      tooBig = true;
      child.kill();
    } else chunks.push(d);
  });
  const exit = await child.done;
  if (tooBig && !exit.spawnError)
    throw new LpError("PROCESS_OUTPUT", `${binary} printed more than ${max} bytes`);
  const run = finishedRun(exit, binary, binary, options.timeoutMs, "cancelled");
  return { ...run, stdout: Buffer.concat(chunks).toString("utf8") };
}

/**
 * Run ffmpeg with an argv from the builders (lpms ffmpeg/ffmpeg.go Transcode, as a child
 * process): the child is always reaped, SIGKILLed on abort or timeout; resolves with its exit
 * code, signal, bounded stderr and lifetime.
 */
export function runFfmpeg(
  argv: readonly string[],
  options: { signal?: AbortSignal; timeoutMs: number; ffmpegPath?: string; children?: ChildProcesses | null },
): Promise<RunResult> {
  const binary = options.ffmpegPath ?? defaultFfmpegPath();
  return runProcess(binary, argv, {
    signal: options.signal,
    timeoutMs: options.timeoutMs,
    children: options.children,
  });
}
