/** What one ffmpeg run reports about its inputs and outputs on stderr at -v verbose. */
export interface FfmpegStats {
  input: {
    width: number;
    height: number;
    codec: string;
    pixFmt: string;
    hasVideo: boolean;
    hasAudio: boolean;
  } | null;
  decodedFrames: number;
  /** Per output file index: encoded video frames and the video size. */
  outputs: { frames: number; width: number; height: number }[];
}

/**
 * Our source of lpms' pixel counts (transcoder.c decoded pixels, encoder.c encoded pixels per
 * output): parse ffmpeg's stderr: the input and output stream headers ("Stream #1:0: Video: ..., 426x240")
 * and the end-of-run lines ("Output stream #1:0 (video): 60 frames encoded").
 */
export function parseFfmpegStats(stderr: string): FfmpegStats {
  const stats: FfmpegStats = { input: null, decodedFrames: 0, outputs: [] };
  let section: "input" | "output" | null = null;
  let outIndex = -1;
  let hasAudio = false;
  for (const line of stderr.split(/\r?\n/)) {
    let m = /^Input #0,/.exec(line);
    if (m) {
      section = "input";
      continue;
    }
    m = /^Output #(\d+),/.exec(line);
    if (m) {
      section = "output";
      outIndex = Number(m[1]);
      continue;
    }
    m = /^\s+Stream #(\d+):(\d+)[^:]*: (Video|Audio): (\w+)(.*)$/.exec(line);
    if (m && section) {
      const size = /,\s(\d{2,5})x(\d{2,5})[\s,]/.exec(`${m[5]} `);
      if (section === "input" && m[3] === "Audio") hasAudio = true;
      if (section === "input" && m[3] === "Video" && !stats.input) {
        const pix = /\b(yuvj?\d{3}p\w*|nv12|nv21|nv16|p010\w*|gray\w*|rgb\w*|bgr\w*)\b/.exec(m[5]!);
        stats.input = {
          width: size ? Number(size[1]) : 0,
          height: size ? Number(size[2]) : 0,
          codec: m[4]!,
          pixFmt: pix ? pix[1]! : "",
          hasVideo: true,
          hasAudio: false,
        };
      }
      if (section === "output" && m[3] === "Video" && size) {
        stats.outputs[outIndex] = {
          frames: stats.outputs[outIndex]?.frames ?? 0,
          width: Number(size[1]),
          height: Number(size[2]),
        };
      }
      continue;
    }
    if (/^\S/.test(line) && !/^\s*Stream mapping/.test(line)) section = null;
    m = /Input stream #0:\d+ \(video\): \d+ packets read \(\d+ bytes\); (\d+) frames decoded/.exec(line);
    if (m) stats.decodedFrames += Number(m[1]);
    m = /Output stream #(\d+):\d+ \(video\): (\d+) frames encoded/.exec(line);
    if (m) {
      const i = Number(m[1]);
      stats.outputs[i] = {
        width: stats.outputs[i]?.width ?? 0,
        height: stats.outputs[i]?.height ?? 0,
        frames: Number(m[2]),
      };
    }
  }
  if (stats.input) stats.input.hasAudio = hasAudio;
  return stats;
}
