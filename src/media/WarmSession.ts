/*
 * Warm transcode sessions: why a started spare ffmpeg per stream, and not one long-running ffmpeg.
 *
 * go-livepeer keeps one lpms transcoder per stream on NVIDIA (the CUDA context, NVDEC decoder and
 * NVENC encoders live across segments) and a fresh one per segment on the CPU. We run ffmpeg as a
 * child process, so the candidate designs were:
 *
 * (a) a spare ffmpeg per (stream, ladder, device), started while the previous segment is still
 *     being transcoded, with its argv complete and (on a GPU) its CUDA device created by
 *     -init_hw_device, blocked reading `pipe:0`. The segment is written to its stdin and stdin
 *     closed; the process decodes, encodes every rendition into its own files and exits. One
 *     process is used for exactly one segment, so every rendition is a complete segment opening
 *     with an IDR frame, the pixel counts are that process's own frame counts, and a corrupt
 *     segment kills nothing but its own process. It saves the process start, option parsing and
 *     the device set-up (the CUDA context: the large part on NVIDIA). It does not save the
 *     encoders' fill and drain at each segment edge: x264 (lookahead, frame threads) and NVENC are
 *     still opened and flushed per segment.
 *
 * (b) one ffmpeg per stream fed segment after segment, outputs cut at the input boundaries by
 *     the segment muxer with keyframes forced there. It would save the fill and drain as well, but:
 *     ffmpeg's argv is fixed at start, so the boundaries (which come with each segment, of varying
 *     length) cannot be forced as keyframes without knowing them ahead; a segment's renditions are
 *     only complete once the encoder has seen frames of the next segment (x264 medium holds ~40
 *     frames of lookahead), which adds up to a whole segment of latency in a live stream (the
 *     issue asks p95 latency no worse than today); per-segment pixel counts would have to be
 *     re-derived by probing every cut file; and a corrupt segment makes the shared decoder log and
 *     carry on (or die and take the following segments' frames with it), so failures are no longer
 *     isolated per segment.
 *
 * Measured (2 shared cores, npm ffmpeg 2018 static build, libx264 medium, 240p/360p/720p ladder from
 * 1080p30): starting the binary costs ~1 ms; a 3-frame segment through the whole ladder costs ~85 ms
 * in bare ffmpeg (~25 ms demuxer probe and decoder, ~8 ms scalers, ~50 ms opening and flushing three
 * x264 encoders) and ~120 ms through the engine either way (warm 120 ms, cold 122 ms median). So on
 * the CPU a spare saves nothing worth its memory and is off by default there; on NVIDIA it moves the
 * CUDA context creation off every segment but the stream's first, and is on.
 *
 * What the per-segment design does cost is idle cores more than extra work: one segment in one
 * ffmpeg kept the 2 cores only ~85 % busy (the demuxer, the decoder's feed and the three scalers run
 * on one thread; each x264 waits for its lookahead to fill at the start and drains alone at the
 * end). Ten 2 s segments one at a time took 1.11-1.14x the wall time of one process over the same
 * 20 s (with IDR frames forced at the same boundaries, so the same work) but only 1.02-1.04x its CPU
 * time. That gap is closed by (c), not by (b):
 *
 * (c) two segments of a stream at once (LocalTranscoder's STREAM_DEPTH). A gateway sends each
 *     segment as it is cut without waiting for the previous one's renditions; when the next
 *     segment is already here, it starts beside the running one and fills the cores that one
 *     leaves idle. Each is still its own single-use process, so (a)'s guarantees hold unchanged.
 *     Ten segments back to back: 0.97-1.02x one process's wall time. The price is that two
 *     segments share the cores, so each one takes longer (p95 2.4 s instead of 1.3-1.4 s from
 *     hand-over to renditions), while the stream as a whole is done sooner; a live stream the node
 *     keeps up with never has two segments at once, so its latency does not change.
 *
 * Lifecycle: the spare is started right after a segment is handed to the current one, so the
 * next segment finds it ready. A session is closed (spare killed, files removed) on endSession,
 * on any failed segment (go-livepeer ends a session on any transcode error, core/lb.go; the next
 * segment starts a new one; a segment already running beside the failed one keeps its own
 * process and finishes), after an idle timeout (LocalTranscoder's warmIdleMs; default 70 s,
 * lpms' transcodeLoopTimeout), and when the engine stops. Every child is in the owner's
 * ChildProcesses registry, so a node stopping on SIGTERM kills spares as well.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { LpError } from "../errors/LpError.js";
import { type ChildExit, type ChildProcesses, type RunningChild, spawnProcess } from "./ffmpeg/runFfmpeg.js";
import { transcodeArgs } from "./ffmpeg/transcodeArgs.js";
import { extensionFor, type VideoProfile } from "./profiles.js";

/** lpms' transcodeLoopTimeout: a stream session without a segment for this long is closed. */
export const WARM_IDLE_MS = 70_000;

export interface WarmSessionOptions {
  ffmpegPath: string;
  profiles: readonly VideoProfile[];
  /** The GPU the session is pinned to; null for the CPU. */
  gpu: string | null;
  npp: boolean;
  /** The GPU has no NVENC: decode and scale on it, encode on the CPU (hybrid mode). */
  hybrid?: boolean;
  /** Parent of the per-segment directories. */
  workDir: string;
  children: ChildProcesses | null;
}

/** An ffmpeg started for one segment, waiting on stdin. */
interface Spare {
  child: RunningChild;
  dir: string;
  outputs: { path: string; profile: VideoProfile }[];
  exited: boolean;
}

/** What one segment's process left: its exit and its output files (the caller removes `dir`). */
export interface WarmRun {
  exit: ChildExit;
  dir: string;
  outputs: { path: string; profile: VideoProfile }[];
  /** Whether the process had been started before the segment arrived. */
  warm: boolean;
  /** Set when run() killed it: the segment's time limit or the caller's signal. */
  killed: "timeout" | "abort" | null;
  /** ms from the segment's first byte written to the process reaped (a spare's wait left out). */
  busyMs: number;
}

/** The ladder's identity: a session is reused only for the very same renditions. */
export function ladderKey(profiles: readonly VideoProfile[]): string {
  return JSON.stringify(profiles);
}

/**
 * argv of a warm session's process: the segment arrives as MPEG-TS on stdin, and on a GPU the CUDA
 * device is created before the input is read, so it is ready when the segment comes.
 */
export function warmArgs(
  o: Pick<WarmSessionOptions, "gpu" | "npp" | "hybrid">,
  outputs: { path: string; profile: VideoProfile }[],
): string[] {
  return transcodeArgs({
    input: "pipe:0",
    inputFormat: "mpegts",
    outputs,
    gpu: o.gpu,
    npp: o.npp,
    hybrid: o.hybrid ?? false,
    initDevice: o.gpu !== null,
  });
}

/**
 * One stream's warm transcoding (our stand-in for lpms' per-stream transcoder, core/transcoder.go
 * NvidiaTranscoder): a single-use ffmpeg started ahead of each segment, reading the segment on
 * stdin as MPEG-TS.
 */
export class WarmSession {
  private spare: Promise<Spare> | null = null;
  private closed = false;
  readonly key: string;

  constructor(private readonly options: WarmSessionOptions) {
    this.key = ladderKey(options.profiles);
  }

  /** The GPU this session is pinned to. */
  get gpu(): string | null {
    return this.options.gpu;
  }

  /** Start the spare now (if there is none) so the first segment finds it ready. */
  prepare(): void {
    if (this.closed || this.spare !== null) return;
    const spare = this.startSpare();
    // Nobody may wait on it (the stream stops): a failed start must not be an unhandled rejection.
    spare.catch(() => {});
    this.spare = spare;
  }

  /**
   * Transcode one segment: hand it to the spare (or a fresh process when none is ready), start the
   * next spare, and wait for the exit. Timeout and abort kill this segment's process only; the
   * caller reads the outputs, maps the exit to an error and removes `dir`.
   */
  async run(data: Buffer, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<WarmRun> {
    if (this.closed) throw new LpError("SESSION_CLOSED", "transcode session closed", { retryable: true });
    const pending = this.spare;
    this.spare = null;
    let spare = pending ? await pending.catch(() => null) : null;
    const warm = spare !== null && !spare.exited;
    if (!warm) {
      if (spare) await rm(spare.dir, { recursive: true, force: true });
      // This segment's own process: a close() meanwhile (another segment of the stream failed)
      // must not take it down, or that failure would not be alone.
      spare = await this.startSpare(true);
    }
    this.prepare();
    const s = spare!;
    let killed: WarmRun["killed"] = null;
    const timer = setTimeout(() => {
      killed ??= "timeout";
      s.child.kill();
    }, opts.timeoutMs);
    const onAbort = () => {
      killed ??= "abort";
      s.child.kill();
    };
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener("abort", onAbort, { once: true });
    const fedAt = performance.now();
    s.child.stdin?.end(data);
    const exit = await s.child.done;
    const busyMs = performance.now() - fedAt;
    clearTimeout(timer);
    opts.signal?.removeEventListener("abort", onAbort);
    return { exit, dir: s.dir, outputs: s.outputs, warm, killed, busyMs };
  }

  /** Kill the spare and remove its files; the session cannot be used again. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    const pending = this.spare;
    this.spare = null;
    const spare = pending ? await pending.catch(() => null) : null;
    if (spare) {
      spare.child.kill();
      await spare.child.done;
      await rm(spare.dir, { recursive: true, force: true });
    }
  }

  private async startSpare(own = false): Promise<Spare> {
    const o = this.options;
    const dir = await mkdtemp(join(o.workDir, "lp-warm-"));
    const outputs = o.profiles.map((profile, i) => ({
      path: join(dir, `out${i}${extensionFor(profile.format)}`),
      profile,
    }));
    const args = warmArgs(o, outputs);
    // No runner timeout: it may wait for its segment; run() arms the segment's own time limit.
    const child = spawnProcess(o.ffmpegPath, args, { stdin: true, children: o.children });
    const spare: Spare = { child, dir, outputs, exited: false };
    void child.done.then(() => {
      spare.exited = true;
    });
    if (this.closed && !own) {
      child.kill();
      await child.done;
      await rm(dir, { recursive: true, force: true });
      throw new LpError("SESSION_CLOSED", "transcode session closed", { retryable: true });
    }
    return spare;
  }
}
