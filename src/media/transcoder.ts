import { randomUUID } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LpError } from "../errors/LpError.js";
import type { Logger } from "../logger/logger.js";
import { defaultFfmpegPath } from "./ffmpeg/binaries.js";
import { classifyFfmpegFailure } from "./ffmpeg/errors.js";
import { runProcess } from "./ffmpeg/runFfmpeg.js";
import { parseFfmpegStats } from "./ffmpeg/stats.js";
import { transcodeArgs } from "./ffmpeg/transcodeArgs.js";
import { GpuBalancer } from "./gpu/GpuBalancer.js";
import { probe } from "./probe.js";
import { extensionFor, type VideoProfile } from "./profiles.js";
import { isMp4 } from "./sniff.js";

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
  signal?: AbortSignal;
  /** The stream session: with GPUs, a session stays on one GPU until endSession. */
  sessionId?: string;
  /** Orchestrator bookkeeping a caller may pass along; not used here. */
  manifestId?: string;
  seq?: bigint;
  segData?: unknown;
}

/** One encoded rendition and what it is paid for: Σ width × height over its frames. */
export interface Rendition {
  profile: VideoProfile;
  data: Buffer;
  pixels: number;
}

/** The renditions of one segment, in the order of the requested profiles. */
export interface TranscodeResult {
  renditions: Rendition[];
  /** Lifetime of the ffmpeg child (the benchmark's overhead baseline). */
  ffmpegMs: number;
  /** Pixels decoded from the source (the Pixels header a remote transcoder sends). */
  decodedPixels: number;
}

/**
 * What the orchestrator calls to turn a segment into renditions (go-livepeer core/transcoder.go
 * Transcoder). Errors are LpErrors carrying go-livepeer's text and retry class.
 */
export interface Transcoder {
  transcode(job: TranscodeJob): Promise<TranscodeResult>;
}

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
  /** Parent of the per-segment temp directories; default the OS temp dir. */
  workDir?: string;
  /** ffmpeg is killed after this long; default max(20 s, 8 x the segment duration). */
  timeoutMs?: number;
  /** Capability numbers this node's ffmpeg (and GPUs) can serve, for the orchestrator. */
  capabilities?: number[];
  /** Most sessions the hardware allows (an NVENC driver cap); null when unlimited. */
  sessionCap?: number | null;
}

/**
 * Transcodes on this machine (go-livepeer core/transcoder.go LocalTranscoder and, with GPUs,
 * NvidiaTranscoder behind core/lb.go's balancer): one ffmpeg process per segment that decodes
 * once and encodes every rendition, pixel counts from ffmpeg's own frame counts, the child
 * always reaped and the work directory always removed.
 */
export class LocalTranscoder implements Transcoder {
  private readonly ffmpegPath: string;
  private readonly gpus: GpuBalancer | null;

  constructor(
    private readonly options: LocalTranscoderOptions,
    private readonly deps: { logger: Logger },
  ) {
    this.ffmpegPath = options.ffmpegPath || defaultFfmpegPath();
    this.gpus =
      options.gpus ?? (options.nvidia && options.nvidia.length > 0 ? new GpuBalancer(options.nvidia) : null);
  }

  /** Capability numbers advertised for this transcoder. */
  capabilities(): number[] {
    return this.options.capabilities ?? [];
  }

  /** Sessions the hardware can hold (NVENC driver cap), null when unlimited. */
  capacity(): number | null {
    return this.options.sessionCap ?? null;
  }

  /** The stream session ended: free its GPU share. */
  endSession(sessionId: string): void {
    this.gpus?.release(sessionId);
  }

  async transcode(job: TranscodeJob): Promise<TranscodeResult> {
    if (job.profiles.length === 0) throw new LpError("NO_PROFILES", "no profiles requested");
    if (job.profiles.length > MAX_OUTPUTS) throw new LpError("TOO_MANY_OUTPUTS", "Too many outputs");
    if (job.data.length === 0) throw new LpError("EMPTY_SEGMENT", "TranscoderInvalidVideo");
    if (job.signal?.aborted) throw new LpError("ABORTED", "transcode cancelled", { retryable: true });
    // Without a session, the GPU is held for this segment only.
    const sessionKey = job.sessionId ?? `segment-${randomUUID()}`;
    const gpu = this.gpus ? this.gpus.acquire(sessionKey, job.profiles) : null;
    let failed = true;
    const dir = await mkdtemp(join(this.options.workDir ?? tmpdir(), "lp-tc-"));
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

  private async run(job: TranscodeJob, dir: string, gpu: string | null): Promise<TranscodeResult> {
    // MP4 input is recognised by its ftyp box; everything else is read as MPEG-TS.
    const input = join(dir, isMp4(job.data) ? "in.mp4" : "in.ts");
    await writeFile(input, job.data);
    const outputs = job.profiles.map((profile, i) => ({
      path: join(dir, `out${i}${extensionFor(profile.format)}`),
      profile,
    }));
    const args = transcodeArgs({ input, outputs, gpu, npp: this.options.npp ?? false });
    const run = await runProcess(this.ffmpegPath, args, {
      signal: job.signal,
      timeoutMs: this.options.timeoutMs ?? Math.max(20_000, 8 * job.durationMs),
    });
    if (run.code !== 0) {
      let err = classifyFfmpegFailure(run.stderr);
      if (err.code === "FFMPEG_EXITED") err = await this.diagnose(input, err);
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
    const p = await probe(file, { countFrames: true, ffprobePath: this.options.ffprobePath }).catch(
      (err: unknown) => {
        throw new LpError(
          "PIXEL_COUNT",
          `cannot count the frames of a rendition: ${(err as Error).message}`,
          {
            retryable: true,
          },
        );
      },
    );
    if (!p.video) return { frames: 0, width: 0, height: 0 };
    return { frames: p.video.frames, width: p.video.width, height: p.video.height };
  }

  /** An unexplained ffmpeg failure: a source without a usable video stream gets lpms' text. */
  private async diagnose(input: string, fallback: LpError): Promise<LpError> {
    try {
      const p = await probe(input, { ffprobePath: this.options.ffprobePath, timeoutMs: 10_000 });
      if (!p.video || p.video.height === 0) return new LpError("NO_VIDEO", "TranscoderInvalidVideo");
    } catch {
      // ffprobe cannot read it either; keep ffmpeg's own message.
    }
    return fallback;
  }
}
