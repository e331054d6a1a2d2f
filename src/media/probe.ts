import { execFile } from "node:child_process";
import { LpError } from "../errors/LpError.js";
import { defaultFfprobePath, ffprobeEnv } from "./ffmpeg/binaries.js";

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

/**
 * ffprobe a file, counting frames when asked. Runs with the GCONV_PATH workaround, and turns a
 * crash or bad output into an LpError instead of throwing something unexpected.
 */
export function probe(
  file: string,
  options: { countFrames?: boolean; ffprobePath?: string } = {},
): Promise<ProbeResult> {
  const args = ["-v", "error", "-print_format", "json", "-show_format", "-show_streams"];
  if (options.countFrames) args.push("-count_frames");
  args.push(file);
  return new Promise((resolve, reject) =>
    execFile(
      options.ffprobePath ?? defaultFfprobePath(),
      args,
      { env: ffprobeEnv(), timeout: 30_000, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        if (err) {
          reject(
            new LpError("PROBE_FAILED", `ffprobe failed on ${file}: ${String(stderr).trim() || err.message}`),
          );
          return;
        }
        try {
          const j = JSON.parse(stdout) as {
            format?: { format_name?: string; duration?: string };
            streams?: Record<string, string | number>[];
          };
          const v = j.streams?.find((s) => s["codec_type"] === "video");
          const a = j.streams?.find((s) => s["codec_type"] === "audio");
          resolve({
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
          });
        } catch (e) {
          reject(
            new LpError("PROBE_FAILED", `ffprobe output unreadable for ${file}: ${(e as Error).message}`),
          );
        }
      },
    ),
  );
}
