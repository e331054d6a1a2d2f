import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defaultFfmpegPath, defaultFfprobePath, ffprobeEnv } from "../../src/media/ffmpeg/binaries.js";

export const FFMPEG = defaultFfmpegPath();
export const FFPROBE = defaultFfprobePath();

/** Directories made by makeClip, for removeClips. */
const made: string[] = [];

/** Generate a test clip with ffmpeg (testsrc + sine tone), returning its path. */
export function makeClip(
  opts: {
    width?: number;
    height?: number;
    seconds?: number;
    fps?: number;
    format?: "mpegts" | "mp4";
    audio?: boolean;
    video?: boolean;
    /** Video encoder; default libx264. */
    videoCodec?: string;
  } = {},
): string {
  const dir = mkdtempSync(join(tmpdir(), "lp-clip-"));
  made.push(dir);
  const w = opts.width ?? 320;
  const h = opts.height ?? 240;
  const fps = opts.fps ?? 30;
  const secs = opts.seconds ?? 2;
  const out = join(dir, `clip.${opts.format === "mp4" ? "mp4" : "ts"}`);
  const args = ["-hide_banner", "-loglevel", "error", "-y"];
  if (opts.video !== false) args.push("-f", "lavfi", "-i", `testsrc=size=${w}x${h}:rate=${fps}`);
  if (opts.audio !== false) args.push("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100");
  args.push("-t", String(secs));
  if (opts.video !== false) {
    const codec = opts.videoCodec ?? "libx264";
    args.push("-c:v", codec, "-pix_fmt", "yuv420p", "-g", String(fps * 2));
    if (codec === "libx264") args.push("-preset", "ultrafast");
    // libx265 prints its own [info] lines whatever -loglevel says.
    if (codec === "libx265") args.push("-x265-params", "log-level=error");
  }
  if (opts.audio !== false) args.push("-c:a", "aac");
  args.push("-f", opts.format === "mp4" ? "mp4" : "mpegts", out);
  // stderr is piped (kept for the error) rather than inherited into the test output.
  execFileSync(FFMPEG, args, { stdio: ["ignore", "ignore", "pipe"] });
  return out;
}

/** Cut a clip into MPEG-TS segments of about `seconds` each (at its keyframes), as a gateway would. */
export function segmentClip(clip: string, seconds: number): Buffer[] {
  const dir = mkdtempSync(join(tmpdir(), "lp-segs-"));
  made.push(dir);
  execFileSync(
    FFMPEG,
    ["-hide_banner", "-loglevel", "error", "-i", clip, "-c", "copy", "-f", "segment"].concat([
      "-segment_time",
      String(seconds),
      "-segment_format",
      "mpegts",
      join(dir, "s%03d.ts"),
    ]),
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  return readdirSync(dir)
    .sort()
    .map((n) => readFileSync(join(dir, n)));
}

/** Remove every clip makeClip made (afterAll). */
export function removeClips(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/**
 * Drop every MPEG-TS packet of one PID: with the video PID (ffmpeg writes 0x100) the PMT still
 * announces a video stream that never gets a frame, like the first segments OBS often sends.
 */
export function stripTsPid(ts: Buffer, pid: number): Buffer {
  const keep: Buffer[] = [];
  for (let i = 0; i + 188 <= ts.length; i += 188) {
    const p = ((ts[i + 1]! & 0x1f) << 8) | ts[i + 2]!;
    if (p !== pid) keep.push(ts.subarray(i, i + 188));
  }
  return Buffer.concat(keep);
}

/** Per-frame facts of a media file's first video stream, from ffprobe. */
export function probeFrames(
  file: string,
): { keyFrame: boolean; pts: number; width: number; height: number }[] {
  const out = execFileSync(
    FFPROBE,
    [
      "-v",
      "error",
      "-select_streams",
      "v:0",
      "-show_entries",
      "frame=key_frame,pkt_pts_time,best_effort_timestamp_time,width,height",
      "-of",
      "json",
      file,
    ],
    { env: ffprobeEnv(), stdio: ["ignore", "pipe", "pipe"] },
  );
  const j = JSON.parse(out.toString()) as { frames?: Record<string, string | number>[] };
  return (j.frames ?? []).map((f) => ({
    keyFrame: Number(f["key_frame"]) === 1,
    pts: Number(f["best_effort_timestamp_time"] ?? f["pkt_pts_time"]),
    width: Number(f["width"]),
    height: Number(f["height"]),
  }));
}

/** Write a buffer to a temp file (removed with removeClips). */
export function tempFile(data: Buffer, ext: string): string {
  const dir = mkdtempSync(join(tmpdir(), "lp-out-"));
  made.push(dir);
  const f = join(dir, `f${ext}`);
  writeFileSync(f, data);
  return f;
}
