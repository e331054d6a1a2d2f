import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { LpError } from "../errors/LpError.js";
import { defaultFfprobePath, ffprobeEnv } from "./ffmpeg/binaries.js";
import { type ChildProcesses, runForOutput } from "./ffmpeg/runFfmpeg.js";
import { isMp4 } from "./sniff.js";

/** What tests and tools need to know about a media file. */
export interface ProbeResult {
  formatName: string;
  durationSec: number;
  video: {
    codec: string;
    width: number;
    height: number;
    frames: number;
    pixFmt: string;
    profile: string;
  } | null;
  audio: { codec: string } | null;
}

export interface ProbeOptions {
  countFrames?: boolean;
  ffprobePath?: string;
  /** Kill ffprobe after this long; default 30 s. */
  timeoutMs?: number;
  /** Where a buffer is written for ffprobe (the node's temporary folder); needed for a buffer. */
  workDir?: string;
  /** The owner's child registry. */
  children?: ChildProcesses | null;
}

/**
 * ffprobe a file or an in-memory segment (lpms ffmpeg/extras.c GetCodecInfo, as a child
 * process), counting frames when asked. Runs with the GCONV_PATH workaround, and turns a crash,
 * a timeout or bad output into an LpError instead of throwing something unexpected.
 */
export async function probe(input: string | Buffer, options: ProbeOptions = {}): Promise<ProbeResult> {
  if (typeof input === "string") return probeFile(input, options);
  if (!options.workDir) throw new LpError("PROBE_FAILED", "probing a buffer needs a work directory");
  const dir = await mkdtemp(join(options.workDir, "lp-probe-"));
  try {
    // ffprobe needs a seekable file for MP4 (the moov box may sit at the end).
    const file = join(dir, isMp4(input) ? "in.mp4" : "in.ts");
    await writeFile(file, input);
    return await probeFile(file, options);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function probeFile(file: string, options: ProbeOptions): Promise<ProbeResult> {
  const args = ["-v", "error", "-print_format", "json", "-show_format", "-show_streams"];
  if (options.countFrames) args.push("-count_frames");
  args.push(file);
  const run = await runForOutput(options.ffprobePath ?? defaultFfprobePath(), args, {
    env: ffprobeEnv(),
    timeoutMs: options.timeoutMs ?? 30_000,
    children: options.children,
    stderrLimit: 4096,
    stderrHeadLimit: 0,
  }).catch((err: Error) => {
    throw new LpError("PROBE_FAILED", `ffprobe failed on ${file}: ${err.message}`);
  });
  if (run.code !== 0) {
    const why = run.stderr.trim().split("\n").pop() || `exit ${run.code}`;
    throw new LpError(
      "PROBE_FAILED",
      `ffprobe failed on ${file}: ${why}${run.signal ? ` (killed by ${run.signal})` : ""}`,
    );
  }
  try {
    const j = JSON.parse(run.stdout) as {
      format?: { format_name?: string; duration?: string };
      streams?: Record<string, string | number>[];
    };
    const v = j.streams?.find((s) => s["codec_type"] === "video");
    const a = j.streams?.find((s) => s["codec_type"] === "audio");
    return {
      formatName: j.format?.format_name ?? "",
      durationSec: Number(j.format?.duration ?? 0),
      video: v
        ? {
            codec: String(v["codec_name"]),
            width: Number(v["width"]),
            height: Number(v["height"]),
            frames: Number(v["nb_read_frames"] ?? v["nb_frames"] ?? 0),
            pixFmt: String(v["pix_fmt"] ?? ""),
            profile: String(v["profile"] ?? ""),
          }
        : null,
      audio: a ? { codec: String(a["codec_name"]) } : null,
    };
  } catch (e) {
    throw new LpError("PROBE_FAILED", `ffprobe output unreadable for ${file}: ${(e as Error).message}`);
  }
}
