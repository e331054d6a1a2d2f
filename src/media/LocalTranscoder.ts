import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LpError } from "../errors/LpError.js";
import type { Logger } from "../logger/logger.js";
import type { SegmentJob, SegmentOutput, SegmentTranscoder } from "../orchestrator/SegmentTranscoder.js";
import { classifyFfmpegFailure } from "./ffmpeg/errors.js";
import { runProcess } from "./ffmpeg/runFfmpeg.js";
import { parseFfmpegStats } from "./ffmpeg/stats.js";
import { transcodeArgs } from "./ffmpeg/transcodeArgs.js";
import type { GpuBalancer } from "./gpu/GpuBalancer.js";
import { formatInfo } from "./profiles.js";

/** Smallest rendition go-livepeer accepts (ZeroSegments below it). */
const MIN_RENDITION_BYTES = 25;
/** lpms' limit on outputs per transcode call. */
export const MAX_OUTPUTS = 10;

export interface LocalTranscoderOptions {
  ffmpegPath: string;
  /** Capabilities this node's ffmpeg (and GPUs) can serve. */
  capabilities: number[];
  /** GPU balancer when -nvidia is set; null transcodes on the CPU. */
  gpus: GpuBalancer | null;
  /** scale_npp (Livepeer's FFmpeg) instead of scale_cuda. */
  npp?: boolean;
  workDir?: string;
  /** Most sessions the hardware allows (an NVENC driver cap); null when unlimited. */
  sessionCap?: number | null;
}

/**
 * Transcodes on this machine (go-livepeer core/transcoder.go LocalTranscoder and, with GPUs,
 * NvidiaTranscoder behind the load balancer): one ffmpeg process per segment that decodes once
 * and encodes every rendition, pixel counts from ffmpeg's own frame counts, the child always
 * reaped and the work directory always removed.
 */
export class LocalTranscoder implements SegmentTranscoder {
  constructor(
    private readonly options: LocalTranscoderOptions,
    private readonly deps: { logger: Logger },
  ) {}

  capabilities(): number[] {
    return this.options.capabilities;
  }

  capacity(): number | null {
    return this.options.sessionCap ?? null;
  }

  endSession(sessionId: string): void {
    this.options.gpus?.release(sessionId);
  }

  async transcode(job: SegmentJob): Promise<SegmentOutput> {
    if (job.profiles.length === 0) throw new LpError("NO_PROFILES", "no profiles requested");
    if (job.profiles.length > MAX_OUTPUTS) throw new LpError("TOO_MANY_OUTPUTS", "Too many outputs");
    if (job.data.length === 0) throw new LpError("EMPTY_SEGMENT", "TranscoderInvalidVideo");
    const gpu = this.options.gpus ? this.options.gpus.acquire(job.sessionId, job.profiles) : null;
    const dir = await mkdtemp(join(this.options.workDir ?? tmpdir(), "lp-tc-"));
    try {
      // MP4 input is recognised by its ftyp box; everything else is read as MPEG-TS.
      const isMp4 = job.data.subarray(4, 8).toString("latin1") === "ftyp";
      const input = join(dir, isMp4 ? "in.mp4" : "in.ts");
      await writeFile(input, job.data);
      const outputs = job.profiles.map((profile, i) => ({
        path: join(dir, `out${i}${formatInfo(profile.format).ext}`),
        profile,
      }));
      const args = transcodeArgs({ input, outputs, gpu, npp: this.options.npp ?? false });
      const run = await runProcess(this.options.ffmpegPath, args, {
        signal: job.signal,
        timeoutMs: Math.max(20_000, 8 * job.durationMs),
      });
      const failed = run.code !== 0;
      if (failed) {
        const err = classifyFfmpegFailure(run.stderr);
        this.deps.logger.debug({ code: run.code, signal: run.signal, err: err.message }, "ffmpeg failed");
        if (gpu) this.options.gpus!.release(job.sessionId); // any error ends a GPU session (core/lb.go)
        throw err;
      }
      const stats = parseFfmpegStats(run.stderr);
      const renditions = await Promise.all(
        outputs.map(async (o, i) => {
          const s = stats.outputs[i];
          if (!s || s.frames === 0) throw new LpError("ZERO_FRAMES", "TranscoderInvalidVideo");
          const data = await readFile(o.path);
          if (data.length < MIN_RENDITION_BYTES) throw new LpError("ZERO_SEGMENTS", "ZeroSegments");
          return { data, pixels: s.frames * s.width * s.height };
        }),
      );
      const decodedPixels = stats.input ? stats.decodedFrames * stats.input.width * stats.input.height : 0;
      return { renditions, decodedPixels, ffmpegMs: run.elapsedMs };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}
