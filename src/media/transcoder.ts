import { randomUUID } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { LpError } from "../errors/LpError.js";
import type { Logger } from "../logger/logger.js";
import type { SegData } from "../protocol/gen/lp_rpc_pb.js";
import { KeyedLimiter } from "../utils/KeyedLimiter.js";
import { defaultFfmpegPath } from "./ffmpeg/binaries.js";
import { classifyFfmpegFailure } from "./ffmpeg/errors.js";
import { type ChildProcesses, type RunResult, runProcess } from "./ffmpeg/runFfmpeg.js";
import { parseFfmpegStats } from "./ffmpeg/stats.js";
import { transcodeArgs } from "./ffmpeg/transcodeArgs.js";
import { GpuBalancer } from "./gpu/GpuBalancer.js";
import { probe } from "./probe.js";
import { extensionFor, type VideoProfile } from "./profiles.js";
import { isMp4 } from "./sniff.js";
import { ladderKey, WARM_IDLE_MS, WarmSession } from "./WarmSession.js";

/** Smallest rendition go-livepeer accepts (core/orchestrator.go: ZeroSegments below it). */
export const MIN_RENDITION_BYTES = 25;
/** lpms' limit on outputs per transcode call (MAX_OUTPUT_SIZE). */
export const MAX_OUTPUTS = 10;
/** lpms' runaway guard: an output may not get more than this many frames per decoded frame. */
export const RUNAWAY_FACTOR = 25;

/** One segment to transcode. */
export interface TranscodeJob {
  data: Buffer;
  durationMs: number;
  /** Renditions wanted, in the order the results come back. */
  profiles: VideoProfile[];
  /** Cancels the work (the gateway went away, the node stops); the child is killed. */
  signal?: AbortSignal;
  /**
   * The stream session (the auth token's session id on an orchestrator): with GPUs a session
   * stays on one GPU, with remote transcoders on one transcoder, until endSession.
   */
  sessionId?: string;
  manifestId?: string;
  seq?: bigint;
  /** The gateway's segment metadata, forwarded as is to remote transcoders. */
  segData?: SegData;
}

/** One encoded rendition and what it is paid for: Σ width × height over its frames. */
export interface RenditionData {
  data: Buffer;
  pixels: number;
}

/** A rendition made here, with the profile it was made for. */
export interface Rendition extends RenditionData {
  profile: VideoProfile;
}

/** The renditions of one segment, in the order of the requested profiles. */
export interface TranscodeResult {
  renditions: RenditionData[];
  /** Lifetime of the ffmpeg child, when one ran here (the benchmark's overhead baseline). */
  ffmpegMs?: number;
  /** Pixels decoded from the source, when known (the Pixels header of /transcodeResults). */
  decodedPixels?: number;
}

/** What the local engine returns: every field known. */
export interface LocalTranscodeResult extends TranscodeResult {
  renditions: Rendition[];
  ffmpegMs: number;
  decodedPixels: number;
  /** The segment went to a warm session's process started before it arrived. */
  warm?: boolean;
}

/**
 * Whoever turns a segment into renditions (go-livepeer core/transcoder.go Transcoder and
 * core/orchestrator.go's transcoder choice): the local ffmpeg engine and the orchestrator's
 * remote transcoder pool both implement it; the orchestrator, the transcoder worker and the
 * bench call it. Errors are LpErrors carrying go-livepeer's text and retry class.
 */
export interface Transcoder {
  transcode(job: TranscodeJob): Promise<TranscodeResult>;
  /** Capability numbers this transcoder can serve now (codecs, formats, profiles). */
  capabilities(): number[];
  /** Sessions it can hold at once (hardware or pool capacity); null when unlimited. */
  capacity(): number | null;
  /** The session ended: free what was kept for it. */
  endSession?(sessionId: string): void;
  /** The node stops: close what is kept between segments (warm sessions). */
  stop?(): Promise<void>;
  /** Fields for the node's /status (the GPUs and how each transcodes); absent when none. */
  status?(): Record<string, unknown>;
}

/** One GPU as /status shows it. */
export interface GpuStatus {
  Device: string;
  /** "nvenc": all on the card; "hybrid": decode and scale on the card, H.264 encoded by libx264. */
  Mode: "nvenc" | "hybrid";
  H264Encoder: "h264_nvenc" | "libx264";
  /** Sessions pinned to it now and their summed cost (Σ w × h × fps, as the balancer counts). */
  Sessions: number;
  Load: number;
}

/**
 * ffmpeg's time limit for one segment. Live transcoding must run faster than real time, so 3x
 * the segment's duration already means a machine too loaded to be useful, and 20 s covers
 * start-up and short segments. The cap (5 min, the longest legal segment at real time) keeps a
 * declared 300 s duration from pinning a CPU for 15-40 min; a go-livepeer gateway gives up on
 * the whole request after max(8 s, 4x duration) anyway.
 */
export function ffmpegTimeoutMs(durationMs: number): number {
  return Math.min(FFMPEG_TIMEOUT_CAP_MS, Math.max(20_000, 3 * durationMs));
}

/** Upper bound of ffmpegTimeoutMs. */
export const FFMPEG_TIMEOUT_CAP_MS = 300_000;

export interface LocalTranscoderOptions {
  /** ffmpeg binary; default the one shipped by @ffmpeg-installer (-ffmpegPath). */
  ffmpegPath?: string;
  /** ffprobe binary, used only to diagnose a failed or unreadable run. */
  ffprobePath?: string;
  /** NVIDIA device ids (-nvidia, resolved); null or absent transcodes on the CPU. */
  nvidia?: readonly string[] | null;
  /** A GPU balancer to share instead of `nvidia` (its devices are used). */
  gpus?: GpuBalancer | null;
  /** scale_npp (Livepeer's FFmpeg) instead of scale_cuda. */
  npp?: boolean;
  /**
   * GPUs without NVENC that the start-up test found working in hybrid mode: NVDEC and GPU scaling,
   * then libx264 on the CPU. Balancing and warm sessions treat them like the others.
   */
  hybridGpus?: readonly string[];
  /** Parent of the per-segment temp directories: the node's temporary folder. */
  workDir: string;
  /** The owner's child registry (the node's): every ffmpeg/ffprobe is listed there while it runs. */
  children?: ChildProcesses | null;
  /** ffmpeg is killed after this long; default ffmpegTimeoutMs(duration). */
  timeoutMs?: number;
  /** Capability numbers this node's ffmpeg (and GPUs) can serve, for the orchestrator. */
  capabilities?: number[];
  /** Most sessions the hardware allows (an NVENC driver cap); null when unlimited. */
  sessionCap?: number | null;
  /**
   * Warm sessions (WarmSession.ts): segments with a session id and MPEG-TS data go to an ffmpeg
   * started ahead of them. Default: on with NVIDIA GPUs, where a new process pays a CUDA context
   * and codec sessions before its first frame; off on the CPU, where bench measured no gain (a
   * process starts in about 1 ms; the per-segment cost is ffmpeg's own set-up) and a waiting
   * spare would only cost memory.
   */
  warm?: boolean;
  /** A warm session without a segment for this long is closed; default WARM_IDLE_MS (70 s). */
  warmIdleMs?: number;
  /**
   * Segments of one stream (session id) that transcode at once; later ones wait in arrival order.
   * Default STREAM_DEPTH (2); 1 is go-livepeer's one-at-a-time transcode loop.
   */
  streamDepth?: number;
}

/**
 * Segments of one stream transcoded at once by default. One independent segment leaves part of
 * the machine idle (ffmpeg's set-up, the demuxer and scalers on one thread, the encoders' fill
 * and drain: a 2-core machine ran a 1080p segment at about 1.7 cores); a second segment of the
 * same stream, when the gateway already sent it, fills that gap (ten segments back to back took
 * 1.11-1.14x the wall time of one ffmpeg over the whole input one at a time, 0.97-1.02x two at a
 * time; WarmSession.ts has the full account). More than two only splits the cores further and
 * delays the oldest segment, which the viewer waits for first.
 */
export const STREAM_DEPTH = 2;

/**
 * Transcodes on this machine (go-livepeer core/transcoder.go LocalTranscoder and, with GPUs,
 * NvidiaTranscoder behind core/lb.go's balancer): one ffmpeg process per segment that decodes
 * once and encodes every rendition, pixel counts from ffmpeg's own frame counts, the child
 * always reaped and the work directory always removed.
 */
export class LocalTranscoder implements Transcoder {
  private readonly ffmpegPath: string;
  private readonly gpus: GpuBalancer | null;
  private readonly warm = new Map<
    string,
    { session: WarmSession; idle: NodeJS.Timeout | null; inflight: number }
  >();
  private stopped = false;
  private readonly lanes: KeyedLimiter;

  constructor(
    private readonly options: LocalTranscoderOptions,
    private readonly deps: { logger: Logger },
  ) {
    this.ffmpegPath = options.ffmpegPath || defaultFfmpegPath();
    this.gpus =
      options.gpus ?? (options.nvidia && options.nvidia.length > 0 ? new GpuBalancer(options.nvidia) : null);
    this.lanes = new KeyedLimiter(options.streamDepth ?? STREAM_DEPTH);
  }

  /** Capability numbers advertised for this transcoder. */
  capabilities(): number[] {
    return this.options.capabilities ?? [];
  }

  /** Sessions the hardware can hold (NVENC driver cap), null when unlimited. */
  capacity(): number | null {
    return this.options.sessionCap ?? null;
  }

  /** Whether a GPU runs in hybrid mode (no NVENC: the CPU encodes). */
  isHybrid(gpu: string | null): boolean {
    return gpu !== null && (this.options.hybridGpus?.includes(gpu) ?? false);
  }

  /** The GPUs, their mode and load for /status (`GPUs`); nothing on the CPU. */
  status(): Record<string, unknown> {
    if (!this.gpus) return {};
    const gpus: GpuStatus[] = this.gpus.snapshot().map((g) => {
      const hybrid = this.isHybrid(g.device);
      return {
        Device: g.device,
        Mode: hybrid ? "hybrid" : "nvenc",
        H264Encoder: hybrid ? "libx264" : "h264_nvenc",
        Sessions: g.sessions,
        Load: g.load,
      };
    });
    return { GPUs: gpus };
  }

  /** The stream session ended: close its warm session and free its GPU share. */
  endSession(sessionId: string): void {
    void this.closeWarm(sessionId);
    this.gpus?.release(sessionId);
  }

  /** Whether segments go to warm sessions (see LocalTranscoderOptions.warm). */
  get warmEnabled(): boolean {
    return this.options.warm ?? this.gpus !== null;
  }

  /** Warm sessions open now (one per stream). */
  get warmSessions(): number {
    return this.warm.size;
  }

  /** Close every warm session (spares killed, files removed); later segments run cold. Idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.warm.keys()].map((sid) => this.closeWarm(sid)));
  }

  private async closeWarm(sessionId: string): Promise<void> {
    const w = this.warm.get(sessionId);
    if (!w) return;
    this.warm.delete(sessionId);
    if (w.idle) clearTimeout(w.idle);
    await w.session.close();
  }

  /** The stream's warm session for this ladder and GPU, a new one when either changed. */
  private warmSession(sessionId: string, profiles: VideoProfile[], gpu: string | null): WarmSession {
    const w = this.warm.get(sessionId);
    if (w && w.session.key === ladderKey(profiles) && w.session.gpu === gpu) {
      if (w.idle) clearTimeout(w.idle);
      w.idle = null;
      w.inflight += 1;
      return w.session;
    }
    if (w) void this.closeWarm(sessionId);
    const session = new WarmSession({
      ffmpegPath: this.ffmpegPath,
      profiles: [...profiles],
      gpu,
      npp: this.options.npp ?? false,
      hybrid: this.isHybrid(gpu),
      workDir: this.options.workDir,
      children: this.options.children ?? null,
    });
    this.warm.set(sessionId, { session, idle: null, inflight: 1 });
    return session;
  }

  /** A segment of the stream is done: arm the idle reaper, so a stream that stops leaves no process. */
  private touchWarm(sessionId: string, session: WarmSession): void {
    const w = this.warm.get(sessionId);
    if (!w || w.session !== session) return;
    w.inflight -= 1;
    // A stream with a segment still in flight is not idle.
    if (w.inflight > 0) return;
    if (w.idle) clearTimeout(w.idle);
    w.idle = setTimeout(() => {
      if (this.warm.get(sessionId)?.session !== session) return;
      void this.closeWarm(sessionId);
      this.gpus?.release(sessionId);
    }, this.options.warmIdleMs ?? WARM_IDLE_MS);
    // The reaper alone never keeps the process alive.
    w.idle.unref();
  }

  async transcode(job: TranscodeJob): Promise<LocalTranscodeResult> {
    if (job.profiles.length === 0) throw new LpError("NO_PROFILES", "no profiles requested");
    if (job.profiles.length > MAX_OUTPUTS) throw new LpError("TOO_MANY_OUTPUTS", "Too many outputs");
    if (job.data.length === 0) throw new LpError("EMPTY_SEGMENT", "TranscoderInvalidVideo");
    if (job.signal?.aborted) throw new LpError("ABORTED", "transcode cancelled", { retryable: true });
    // A stream's segments take their turn (STREAM_DEPTH at once); the time limit starts with ffmpeg.
    const release = job.sessionId ? await this.lanes.acquire(job.sessionId, job.signal) : null;
    try {
      return await this.transcodeNow(job);
    } finally {
      release?.();
    }
  }

  /** Segments of the stream transcoding now (at most the stream depth). */
  streamSegments(sessionId: string): { running: number; waiting: number } {
    return { running: this.lanes.running(sessionId), waiting: this.lanes.waiting(sessionId) };
  }

  private async transcodeNow(job: TranscodeJob): Promise<LocalTranscodeResult> {
    // Without a session, the GPU is held for this segment only.
    const sessionKey = job.sessionId ?? `segment-${randomUUID()}`;
    const gpu = this.gpus ? this.gpus.acquire(sessionKey, job.profiles) : null;
    let failed = true;
    if (this.warmEnabled && !this.stopped && job.sessionId && !isMp4(job.data)) {
      const session = this.warmSession(job.sessionId, job.profiles, gpu);
      try {
        const result = await this.runWarm(job, session, gpu);
        failed = false;
        return result;
      } finally {
        if (failed) {
          // Any failure ends the stream's session (core/lb.go); the next segment starts a new one.
          if (this.warm.get(job.sessionId)?.session === session) await this.closeWarm(job.sessionId);
          if (gpu !== null) this.gpus!.release(sessionKey);
        } else this.touchWarm(job.sessionId, session);
      }
    }
    const dir = await mkdtemp(join(this.options.workDir, "lp-tc-"));
    try {
      const result = await this.run(job, dir, gpu);
      failed = false;
      return result;
    } finally {
      // Any error ends a GPU session (core/lb.go); a segment without a session always lets go.
      if (gpu !== null && (failed || job.sessionId === undefined)) this.gpus!.release(sessionKey);
      await rm(dir, { recursive: true, force: true });
    }
  }

  private async run(job: TranscodeJob, dir: string, gpu: string | null): Promise<LocalTranscodeResult> {
    // MP4 input is recognised by its ftyp box; everything else is read as MPEG-TS.
    const input = join(dir, isMp4(job.data) ? "in.mp4" : "in.ts");
    await writeFile(input, job.data);
    const outputs = job.profiles.map((profile, i) => ({
      path: join(dir, `out${i}${extensionFor(profile.format)}`),
      profile,
    }));
    const args = transcodeArgs({
      input,
      outputs,
      gpu,
      npp: this.options.npp ?? false,
      hybrid: this.isHybrid(gpu),
    });
    const run = await runProcess(this.ffmpegPath, args, {
      signal: job.signal,
      timeoutMs: this.options.timeoutMs ?? ffmpegTimeoutMs(job.durationMs),
      children: this.options.children,
    });
    return this.collect(run, outputs, gpu, async () => input);
  }

  /** One segment through the stream's warm session (the spare reads it on stdin). */
  private async runWarm(
    job: TranscodeJob,
    session: WarmSession,
    gpu: string | null,
  ): Promise<LocalTranscodeResult> {
    const timeoutMs = this.options.timeoutMs ?? ffmpegTimeoutMs(job.durationMs);
    const run = await session.run(job.data, { timeoutMs, signal: job.signal });
    try {
      const { exit } = run;
      if (exit.spawnError)
        throw new LpError("FFMPEG_SPAWN", `cannot run ${this.ffmpegPath}: ${exit.spawnError.message}`);
      if (run.killed === "timeout")
        throw new LpError("FFMPEG_TIMEOUT", `ffmpeg timed out after ${timeoutMs} ms`, { retryable: true });
      if (run.killed === "abort") throw new LpError("ABORTED", "transcode cancelled", { retryable: true });
      const result = await this.collect(exit, run.outputs, gpu, async () => {
        // The segment came in on stdin: write it out only to diagnose a failure.
        const input = join(run.dir, "in.ts");
        await writeFile(input, job.data);
        return input;
      });
      // The spare's lifetime includes its wait for the segment; count only the work.
      return { ...result, ffmpegMs: run.busyMs, warm: run.warm };
    } finally {
      await rm(run.dir, { recursive: true, force: true });
    }
  }

  /** A finished ffmpeg run's renditions and pixel counts, or the error it stands for. */
  private async collect(
    run: RunResult,
    outputs: { path: string; profile: VideoProfile }[],
    gpu: string | null,
    inputFile: () => Promise<string>,
  ): Promise<LocalTranscodeResult> {
    if (run.code !== 0) {
      let err = classifyFfmpegFailure(run.stderr);
      if (err.code === "FFMPEG_EXITED") err = await this.diagnose(await inputFile(), err);
      this.deps.logger.debug(
        { code: run.code, signal: run.signal, err: err.message, gpu },
        "ffmpeg failed on a segment",
      );
      throw err;
    }
    const stats = parseFfmpegStats(run.stderr);
    const renditions = await Promise.all(
      outputs.map(async (o, i): Promise<Rendition> => {
        const data = await readFile(o.path).catch(() => Buffer.alloc(0));
        let s = stats.outputs[i];
        if (!s || s.width === 0) s = await this.countWithProbe(o.path);
        if (s.frames === 0) throw new LpError("ZERO_FRAMES", "TranscoderInvalidVideo");
        if (stats.decodedFrames > 0 && s.frames > RUNAWAY_FACTOR * stats.decodedFrames) {
          throw new LpError("ENC_RUNAWAY", "Encoded frames runaway");
        }
        if (data.length < MIN_RENDITION_BYTES) throw new LpError("ZERO_SEGMENTS", "ZeroSegments");
        return { profile: o.profile, data, pixels: s.frames * s.width * s.height };
      }),
    );
    const decodedPixels = stats.input ? stats.decodedFrames * stats.input.width * stats.input.height : 0;
    return { renditions, decodedPixels, ffmpegMs: run.elapsedMs };
  }

  /** Exact frames and size of an output from ffprobe, when ffmpeg's own report was not readable. */
  private async countWithProbe(file: string): Promise<{ frames: number; width: number; height: number }> {
    const p = await probe(file, {
      countFrames: true,
      ffprobePath: this.options.ffprobePath,
      children: this.options.children,
    }).catch((err: unknown) => {
      throw new LpError("PIXEL_COUNT", `cannot count the frames of a rendition: ${(err as Error).message}`, {
        retryable: true,
      });
    });
    if (!p.video) return { frames: 0, width: 0, height: 0 };
    return { frames: p.video.frames, width: p.video.width, height: p.video.height };
  }

  /** An unexplained ffmpeg failure: a source without a usable video stream gets lpms' text. */
  private async diagnose(input: string, fallback: LpError): Promise<LpError> {
    try {
      const p = await probe(input, {
        ffprobePath: this.options.ffprobePath,
        timeoutMs: 10_000,
        children: this.options.children,
      });
      if (!p.video || p.video.height === 0) return new LpError("NO_VIDEO", "TranscoderInvalidVideo");
    } catch {
      // ffprobe cannot read it either; keep ffmpeg's own message.
    }
    return fallback;
  }
}
