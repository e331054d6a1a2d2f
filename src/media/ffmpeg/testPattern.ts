/**
 * ffmpeg arguments for lp-node's generated test stream: a moving 30 fps test pattern and a
 * 440 Hz tone, encoded with libx264 (veryfast, yuv420p) in fixed 2 s GOPs so it cuts into
 * clean 2 s segments, with AAC audio. Inputs and codec options only; the caller adds the output.
 */
export function testPatternArgs(opts: {
  width: number;
  height: number;
  videoBitrate: string;
  sampleRate: number;
  /** Read the inputs at their native rate (for live publishing). */
  realtime?: boolean;
  /** Stop after this many seconds; endless when absent. */
  seconds?: number;
  audioBitrate?: string;
}): string[] {
  return [
    ...(opts.realtime ? ["-re"] : []),
    "-f",
    "lavfi",
    "-i",
    `testsrc2=size=${opts.width}x${opts.height}:rate=30`,
    "-f",
    "lavfi",
    "-i",
    `sine=frequency=440:sample_rate=${opts.sampleRate}`,
    ...(opts.seconds !== undefined ? ["-t", String(opts.seconds)] : []),
    "-c:v",
    "libx264",
    "-preset",
    "veryfast",
    "-pix_fmt",
    "yuv420p",
    "-b:v",
    opts.videoBitrate,
    "-g",
    "60",
    "-keyint_min",
    "60",
    "-sc_threshold",
    "0",
    "-c:a",
    "aac",
    ...(opts.audioBitrate ? ["-b:a", opts.audioBitrate] : []),
  ];
}
