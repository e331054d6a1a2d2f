import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defaultFfmpegPath } from "../../src/media/ffmpeg/binaries.js";

export const FFMPEG = defaultFfmpegPath();

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
  } = {},
): string {
  const dir = mkdtempSync(join(tmpdir(), "lp-clip-"));
  const w = opts.width ?? 320;
  const h = opts.height ?? 240;
  const fps = opts.fps ?? 30;
  const secs = opts.seconds ?? 2;
  const out = join(dir, `clip.${opts.format === "mp4" ? "mp4" : "ts"}`);
  const args = ["-hide_banner", "-loglevel", "error", "-y"];
  if (opts.video !== false) args.push("-f", "lavfi", "-i", `testsrc=size=${w}x${h}:rate=${fps}`);
  if (opts.audio !== false) args.push("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100");
  args.push("-t", String(secs));
  if (opts.video !== false)
    args.push("-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", String(fps * 2), "-preset", "ultrafast");
  if (opts.audio !== false) args.push("-c:a", "aac");
  args.push("-f", opts.format === "mp4" ? "mp4" : "mpegts", out);
  execFileSync(FFMPEG, args);
  return out;
}
