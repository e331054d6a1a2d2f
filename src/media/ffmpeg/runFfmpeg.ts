import { spawn } from "node:child_process";
import { LpError } from "../../errors/LpError.js";
import { defaultFfmpegPath } from "./binaries.js";

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

export interface RunOptions {
  signal?: AbortSignal;
  timeoutMs: number;
  env?: NodeJS.ProcessEnv;
  /** Characters of stderr's tail kept; default 192 Ki. */
  stderrLimit?: number;
  /** Characters of stderr's head kept; default 64 Ki. */
  stderrHeadLimit?: number;
}

/** Child processes alive now, for tests that check nothing leaks. */
export const liveChildren = new Set<number>();

/**
 * Run one ffmpeg/ffprobe process (our stand-in for lpms' in-process ffmpeg.Transcode3 call): argv as given (no shell), stderr tail captured, killed with
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
    const limit = options.stderrLimit ?? 192 * 1024;
    const headLimit = options.stderrHeadLimit ?? 64 * 1024;
    let head = "";
    let stderr = "";
    let dropped = false;
    let why: "timeout" | "abort" | null = null;
    if (child.pid) liveChildren.add(child.pid);
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk: string) => {
      let d = chunk;
      if (head.length < headLimit) {
        const room = headLimit - head.length;
        head += d.slice(0, room);
        d = d.slice(room);
      }
      stderr += d;
      if (stderr.length > limit * 2) {
        stderr = stderr.slice(-limit);
        dropped = true;
      }
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
      else {
        const truncated = dropped || stderr.length > limit;
        const tail = stderr.slice(-limit);
        // A cut lands mid-line; the marker line keeps the head's last line and the tail's first apart.
        resolve({
          code,
          signal,
          stderr: truncated ? `${head}\n[... stderr truncated ...]\n${tail}` : head + tail,
          stderrTruncated: truncated,
          elapsedMs,
        });
      }
    });
  });
}

/**
 * Run ffmpeg with an argv from the builders (lpms ffmpeg/ffmpeg.go Transcode, as a child
 * process): the child is always reaped, SIGKILLed on abort or timeout; resolves with its exit
 * code, signal, bounded stderr and lifetime.
 */
export function runFfmpeg(
  argv: readonly string[],
  options: { signal?: AbortSignal; timeoutMs: number; ffmpegPath?: string },
): Promise<RunResult> {
  const binary = options.ffmpegPath ?? defaultFfmpegPath();
  return runProcess(binary, argv, { signal: options.signal, timeoutMs: options.timeoutMs });
}
