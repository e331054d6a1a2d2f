import { spawn } from "node:child_process";
import { LpError } from "../../errors/LpError.js";

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last `stderrLimit` bytes of stderr. */
  stderr: string;
  /** ms from spawn to exit: the process's own lifetime. */
  elapsedMs: number;
}

export interface RunOptions {
  signal?: AbortSignal;
  timeoutMs: number;
  env?: NodeJS.ProcessEnv;
  /** Bytes of stderr kept (the tail); default 256 KiB. */
  stderrLimit?: number;
}

/** Child processes alive now, for tests that check nothing leaks. */
export const liveChildren = new Set<number>();

/**
 * Run one ffmpeg/ffprobe process: argv as given (no shell), stderr tail captured, killed with
 * SIGKILL on abort or timeout, and always reaped before the promise settles.
 */
export function runProcess(binary: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(new LpError("ABORTED", "transcode cancelled", { retryable: true }));
      return;
    }
    const started = performance.now();
    const child = spawn(binary, args, {
      stdio: ["ignore", "ignore", "pipe"],
      env: options.env ?? process.env,
    });
    const limit = options.stderrLimit ?? 256 * 1024;
    let stderr = "";
    let why: "timeout" | "abort" | null = null;
    if (child.pid) liveChildren.add(child.pid);
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (d: string) => {
      stderr += d;
      if (stderr.length > limit * 2) stderr = stderr.slice(-limit);
    });
    const kill = (reason: "timeout" | "abort") => {
      why = reason;
      child.kill("SIGKILL");
    };
    const timer = setTimeout(() => kill("timeout"), options.timeoutMs);
    const onAbort = () => kill("abort");
    options.signal?.addEventListener("abort", onAbort, { once: true });
    child.on("error", (err) => {
      // spawn failure (ENOENT...): there is no process to reap.
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      if (child.pid) liveChildren.delete(child.pid);
      reject(new LpError("FFMPEG_SPAWN", `cannot run ${binary}: ${err.message}`));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      if (child.pid) liveChildren.delete(child.pid);
      const elapsedMs = performance.now() - started;
      if (why === "timeout")
        reject(
          new LpError("FFMPEG_TIMEOUT", `ffmpeg timed out after ${options.timeoutMs} ms`, {
            retryable: true,
          }),
        );
      else if (why === "abort") reject(new LpError("ABORTED", "transcode cancelled", { retryable: true }));
      else resolve({ code, signal, stderr: stderr.slice(-limit), elapsedMs });
    });
  });
}
