import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

/** The ffmpeg binary shipped in the npm package (@ffmpeg-installer), unless -ffmpegPath says otherwise. */
export function defaultFfmpegPath(): string {
  return (require("@ffmpeg-installer/ffmpeg") as { path: string }).path;
}

/** The ffprobe binary shipped in the npm package (@ffprobe-installer). */
export function defaultFfprobePath(): string {
  return (require("@ffprobe-installer/ffprobe") as { path: string }).path;
}

/**
 * Environment for ffprobe: the npm-shipped static ffprobe segfaults on MPEG-TS input on these
 * machines when it can load the system's iconv modules, so GCONV_PATH points nowhere.
 */
export function ffprobeEnv(): NodeJS.ProcessEnv {
  return { ...process.env, GCONV_PATH: "/nonexistent/lp-node-gconv" };
}
