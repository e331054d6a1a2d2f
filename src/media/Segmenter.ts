import { mkdtemp, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { type ChildProcesses, type RunningChild, spawnProcess } from "./ffmpeg/runFfmpeg.js";

/** go-livepeer's SegLen: target segment length for RTMP ingest. */
export const SEGMENT_SECONDS = 2;

/** One finished segment: MPEG-TS bytes, sequence number from 0, and its media duration. */
export interface CutSegment {
  seq: number;
  data: Buffer;
  durationMs: number;
}

export interface SegmenterOptions {
  ffmpegPath: string;
  /** Input container read from stdin ("flv" for RTMP). */
  inputFormat: string;
  segmentSeconds?: number;
  /** Parent of the segment directory: the node's temporary folder. */
  workDir: string;
  /** The node's child registry. */
  children?: ChildProcesses | null;
  onSegment: (seg: CutSegment) => void;
}

/**
 * Cuts a live stream written to its stdin into keyframe-aligned MPEG-TS segments (the job of
 * lpms' RTMP-to-HLS segmenter): one ffmpeg child with stream copy and the segment muxer, which
 * prints a CSV line on stdout each time it closes a segment. The first video and first audio
 * stream are kept; both must exist. The child is always reaped and its directory removed.
 */
export class Segmenter {
  private child: RunningChild | null = null;
  private dir = "";
  private stderrTail = "";
  private exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | null = null;
  private pendingReads: Promise<void> = Promise.resolve();

  constructor(private readonly options: SegmenterOptions) {}

  /** Last lines ffmpeg printed (known once it has exited), for the reason of a failure. */
  get lastError(): string {
    const lines = this.stderrTail.trim().split(/\r?\n/).filter(Boolean);
    return lines.slice(-3).join("; ");
  }

  async start(): Promise<void> {
    this.dir = await mkdtemp(join(this.options.workDir, "lp-seg-"));
    const args = [
      "-hide_banner",
      "-nostdin",
      "-loglevel",
      "error",
      "-f",
      this.options.inputFormat,
      "-i",
      "pipe:0",
      "-map",
      "0:v:0",
      "-map",
      "0:a:0",
      "-c",
      "copy",
      "-f",
      "segment",
      "-segment_time",
      String(this.options.segmentSeconds ?? SEGMENT_SECONDS),
      "-segment_format",
      "mpegts",
      "-segment_list",
      "pipe:1",
      "-segment_list_type",
      "csv",
      join(this.dir, "%d.ts"),
    ];
    const child = spawnProcess(this.options.ffmpegPath, args, {
      stdin: true,
      stdout: true,
      children: this.options.children,
      stderrLimit: 4096,
      stderrHeadLimit: 0,
    });
    this.child = child;
    this.exited = child.done.then((exit) => {
      this.stderrTail = exit.spawnError ? `cannot run ffmpeg: ${exit.spawnError.message}` : exit.stderr;
      return { code: exit.code, signal: exit.signal };
    });
    const lines = createInterface({ input: child.stdout! });
    lines.on("line", (line) => {
      const [file, start, end] = line.split(",");
      if (!file || start === undefined || end === undefined) return;
      const durationMs = Math.max(0, Math.round((Number(end) - Number(start)) * 1000));
      const seq = Number(file.replace(/\.ts$/, ""));
      this.pendingReads = this.pendingReads.then(() => this.collect(seq, durationMs));
    });
  }

  private async collect(seq: number, durationMs: number): Promise<void> {
    const path = join(this.dir, `${seq}.ts`);
    try {
      const data = await readFile(path);
      await rm(path, { force: true });
      this.options.onSegment({ seq, data, durationMs });
    } catch {
      // The file vanished (the segmenter was killed): nothing to hand on.
    }
  }

  /** Write input; false means wait for drain() before writing more. */
  write(data: Buffer): boolean {
    const stdin = this.child?.stdin;
    if (!stdin || stdin.destroyed || stdin.writableEnded) return true;
    return stdin.write(data);
  }

  /** Resolves when the child can take more input (or has gone). */
  drain(): Promise<void> {
    const stdin = this.child?.stdin;
    if (!stdin || stdin.destroyed || !stdin.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        stdin.off("drain", done);
        stdin.off("close", done);
        resolve();
      };
      stdin.on("drain", done);
      stdin.on("close", done);
    });
  }

  /** The exit of the child, whenever it comes (crash, bad input, or after finish()). */
  get done(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return this.exited ?? Promise.resolve({ code: null, signal: null });
  }

  /**
   * End of input: ffmpeg writes the last segment and exits; every segment is handed on before
   * this resolves. A child that does not exit within `timeoutMs` is killed.
   */
  async finish(timeoutMs = 10_000): Promise<void> {
    const child = this.child;
    if (!child) return;
    if (child.stdin && !child.stdin.writableEnded) child.stdin.end();
    const timer = setTimeout(() => child.kill(), timeoutMs);
    await this.done;
    clearTimeout(timer);
    await this.pendingReads;
    await rm(this.dir, { recursive: true, force: true });
  }

  /** Stop at once: SIGKILL, reap, remove the directory. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill();
    await this.done;
    await this.pendingReads;
    await rm(this.dir, { recursive: true, force: true });
  }
}
