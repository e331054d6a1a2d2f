import type { VideoProfile } from "../profiles.js";

/** Encoder size limits lpms applies before scaling (nvidiaCodecSizeLimts). */
const LIMITS = {
  h264: { minW: 146, minH: 50, max: 4096 },
  h265: { minW: 132, minH: 40, max: 8192 },
  vp8: { minW: 2, minH: 2, max: 16384 },
  vp9: { minW: 2, minH: 2, max: 16384 },
} as const;

const even = (n: number) => Math.max(2, Math.floor(n / 2) * 2);

/** The longest side an output gets: max(w, h) of the profile, clamped to the encoder's limits, even. */
export function targetLongSide(p: VideoProfile): number {
  const lim = LIMITS[p.codec];
  return even(Math.min(lim.max, Math.max(p.width, p.height, lim.minW)));
}

/**
 * Output size for a source, by lpms' rule (ffmpeg.go, doc/transcodingoptions.md): the source's
 * long side becomes the profile's larger dimension, the other is derived keeping the aspect ratio
 * and rounded to even as ffmpeg's -2 does; a derived side under the encoder minimum is pinned to
 * it and the long side derived instead. 640x360 into 426x240 gives 426x240.
 */
export function outputSize(srcW: number, srcH: number, p: VideoProfile): { width: number; height: number } {
  const lim = LIMITS[p.codec];
  const maxD = targetLongSide(p);
  const derive = (long: number, num: number, den: number) =>
    Math.max(2, Math.round((long * num) / den / 2) * 2);
  if (srcW >= srcH) {
    let h = derive(maxD, srcH, srcW);
    let w = maxD;
    if (h < lim.minH) {
      h = even(lim.minH);
      w = derive(h, srcW, srcH);
    }
    return { width: w, height: h };
  }
  let w = derive(maxD, srcW, srcH);
  let h = maxD;
  if (w < lim.minW) {
    w = even(lim.minW);
    h = derive(w, srcH, srcW);
  }
  return { width: w, height: h };
}

/** The same rule as ffmpeg scale expressions, so one process needs no probe first. */
export function scaleExpressions(p: VideoProfile): { w: string; h: string } {
  const lim = LIMITS[p.codec];
  const maxD = targetLongSide(p);
  const minH = even(lim.minH);
  const minW = even(lim.minW);
  // -2 keeps the aspect ratio with an even size, evaluated by the scale filter itself.
  const w = `if(gte(iw,ih),if(lt(${maxD}*ih/iw,${minH}),-2,${maxD}),if(lt(${maxD}*iw/ih,${minW}),${minW},-2))`;
  const h = `if(gte(iw,ih),if(lt(${maxD}*ih/iw,${minH}),${minH},-2),if(lt(${maxD}*iw/ih,${minW}),-2,${maxD}))`;
  return { w, h };
}

/**
 * Decoders a segment may use: the video codecs go-livepeer advertises (H.264, HEVC, VP8, VP9)
 * and the usual audio codecs of ingest. lpms' FFmpeg build only has decoders for these, so any
 * other input codec fails there as "Unsupported input codec"; ffmpeg's codec whitelist gives the
 * same answer here instead of quietly decoding MPEG-2 or ProRes.
 */
export const DECODER_WHITELIST = [
  "h264",
  "hevc",
  "vp8",
  "vp9",
  "libvpx",
  "libvpx-vp9",
  "aac",
  "aac_fixed",
  "aac_latm",
  "mp3",
  "mp3float",
  "mp2",
  "mp2float",
  "ac3",
  "ac3_fixed",
  "eac3",
  "opus",
  "libopus",
  "vorbis",
  "flac",
  "alac",
  "pcm_s16le",
  "pcm_s16be",
  "pcm_s24le",
  "pcm_bluray",
  "pcm_dvd",
];

export interface TranscodeArgsInput {
  input: string;
  outputs: { path: string; profile: VideoProfile }[];
  /** NVIDIA device id for NVDEC decode, GPU scaling and NVENC; null for CPU. */
  gpu: string | null;
  /** Use scale_npp (Livepeer's FFmpeg build) instead of scale_cuda on GPU. */
  npp?: boolean;
  /**
   * GPU only: hybrid mode for cards without NVENC (A100, H100, H200): decode on NVDEC and scale
   * on the GPU as usual, then bring the frames to system memory and encode with the CPU encoders
   * at the CPU path's settings.
   */
  hybrid?: boolean;
  /** Decoders allowed; default DECODER_WHITELIST, null allows any. */
  decoders?: readonly string[] | null;
  /**
   * Demuxer forced for the input (a warm session reads `pipe:0`, which has no file name to guess
   * from); absent lets ffmpeg probe.
   */
  inputFormat?: string;
  /**
   * GPU only: create the CUDA device while parsing options (-init_hw_device), before the input is
   * opened, so a process started ahead of its segment has its CUDA context ready when data arrives.
   */
  initDevice?: boolean;
  /**
   * Source times (seconds, as the input's timestamps carry them) where every output without a GOP
   * of its own must start a new IDR frame: the bench's single-process run uses the node's segment
   * boundaries so that it makes the same independently decodable segments the node does.
   */
  keyframesAtSec?: readonly number[];
}

/** Name given to the CUDA device created up front by -init_hw_device. */
export const WARM_DEVICE_NAME = "lpgpu";

const CPU_ENCODERS = { h264: "libx264", h265: "libx265", vp8: "libvpx", vp9: "libvpx-vp9" } as const;
const GPU_ENCODERS = { h264: "h264_nvenc", h265: "hevc_nvenc", vp8: null, vp9: null } as const;

/** Encoder name for a profile on CPU or GPU (lpms ffmpeg.go configEncoder); null when the GPU has none. */
export function encoderFor(p: VideoProfile, gpu: boolean): string | null {
  return gpu ? GPU_ENCODERS[p.codec] : CPU_ENCODERS[p.codec];
}

/**
 * The scaler (and fps) chain of one rendition (lpms ffmpeg.go filter strings). `hybrid`: the GPU
 * scales but the CPU encodes (no NVENC on the card).
 */
export function filterChain(p: VideoProfile, gpu: boolean, npp = false, hybrid = false): string {
  const { w, h } = scaleExpressions(p);
  let chain: string;
  if (!gpu) chain = `scale=w='${w}':h='${h}',format=yuv420p`;
  else {
    chain = npp ? `scale_npp=w='${w}':h='${h}':interp_algo=super` : `scale_cuda=w='${w}':h='${h}'`;
    // No NVENC encoder for this codec (or on this card): bring the scaled frames to system memory
    // for the CPU encoder.
    if (hybrid || encoderFor(p, true) === null) chain += ",hwdownload,format=nv12,format=yuv420p";
  }
  if (p.fps > 0) chain += `,fps=${p.fps}/${p.fpsDen || 1}`;
  return chain;
}

/** Encoder options of one rendition (lpms ffmpeg.go createCOutputParams, encoder.c open_output). */
export function encoderArgs(p: VideoProfile, gpu: boolean): string[] {
  const hw = gpu && encoderFor(p, true) !== null;
  const encoder = encoderFor(p, hw) ?? CPU_ENCODERS[p.codec];
  const args = ["-c:v", encoder];
  const br = String(p.bitrate);
  if (p.bitrate > 0) args.push("-b:v", br, "-minrate", br, "-maxrate", br, "-bufsize", br);
  if (p.codec === "h264" || p.codec === "h265") {
    // NVENC never gets B-frames here (lpms: none for the default profile, and none with fps
    // passthrough because of NVENC's DTS handling); x264 follows the encoder profile.
    const noB = hw || p.profile === "baseline" || p.profile === "constrained-high";
    args.push("-preset", "medium", "-forced-idr", "1", "-bf", noB ? "0" : "3");
    if (encoder === "hevc_nvenc") args.push("-tier", "high");
    if (p.codec === "h264" && p.profile !== "none") {
      args.push("-profile:v", p.profile === "constrained-high" ? "high" : p.profile);
    }
  }
  if (p.quality > 0) {
    if (hw) {
      if (p.quality + 7 <= 51) args.push("-cq", String(p.quality + 7));
    } else args.push("-crf", String(p.quality));
  }
  if (p.gopMs === -1) args.push("-g", hw ? "0" : "1");
  else if (p.gopMs > 0) {
    const secs = p.gopMs / 1000;
    if (p.fps > 0) args.push("-g", String(Math.max(1, Math.floor(secs * p.fps))));
    else {
      // Timestamps are the source's (-copyts), so count from the first frame, not from t=0.
      args.push("-force_key_frames", `expr:if(isnan(prev_forced_t),1,gte(t-prev_forced_t,${secs}))`);
    }
  }
  return args;
}

/**
 * argv for one ffmpeg process that decodes a segment once and encodes every rendition through a
 * split filter (lpms transcoder.c does the same in-process). Mirrors lpms' settings: bitrate as
 * min/max/buffer, fps filter after the scaler, GOP, encoder profile and B-frames, audio copied,
 * source timestamps kept, MPEG-TS or MP4 with faststart. `-v verbose` makes ffmpeg print the
 * per-output frame counts the pixel accounting reads.
 */
export function transcodeArgs(job: TranscodeArgsInput): string[] {
  const gpu = job.gpu !== null;
  const hybrid = gpu && job.hybrid === true;
  const args = ["-hide_banner", "-nostdin", "-v", "verbose", "-y"];
  const decoders = job.decoders === undefined ? DECODER_WHITELIST : job.decoders;
  if (decoders !== null) args.push("-codec_whitelist", decoders.join(","));
  if (gpu && job.initDevice) {
    // The decoder finds the named device by -hwaccel_device instead of creating a second one.
    args.push(
      "-init_hw_device",
      `cuda=${WARM_DEVICE_NAME}:${job.gpu}`,
      "-filter_hw_device",
      WARM_DEVICE_NAME,
    );
    args.push("-hwaccel", "cuda", "-hwaccel_output_format", "cuda", "-hwaccel_device", WARM_DEVICE_NAME);
  } else if (gpu)
    args.push("-hwaccel", "cuda", "-hwaccel_output_format", "cuda", "-hwaccel_device", job.gpu!);
  if (job.inputFormat) args.push("-f", job.inputFormat);
  args.push("-i", job.input);
  const n = job.outputs.length;
  const labels = job.outputs.map((_, i) => `s${i}`);
  const chains = job.outputs.map(
    ({ profile: p }, i) => `[${labels[i]}]${filterChain(p, gpu, job.npp ?? false, hybrid)}[v${i}]`,
  );
  const split = n === 1 ? `[0:v:0]null[s0]` : `[0:v:0]split=${n}${labels.map((l) => `[${l}]`).join("")}`;
  args.push("-filter_complex", [split, ...chains].join(";"));
  job.outputs.forEach(({ path, profile: p }, i) => {
    // Hybrid: the encoder settings are the CPU path's, exactly.
    args.push("-map", `[v${i}]`, "-map", "0:a?", ...encoderArgs(p, gpu && !hybrid));
    if (job.keyframesAtSec && job.keyframesAtSec.length > 0 && p.gopMs === 0) {
      // With an fps filter the boundary's frame moves to the nearest point of the output's frame
      // grid; ffmpeg rounds the given times to that grid too, so aim just below the grid point.
      const den = p.fpsDen || 1;
      const at = (t: number) => (p.fps > 0 ? (Math.round((t * p.fps) / den) * den) / p.fps - 1e-4 : t - 1e-3);
      args.push("-force_key_frames", job.keyframesAtSec.map((t) => at(t).toFixed(6)).join(","));
    }
    args.push("-c:a", "copy", "-copyts", "-muxdelay", "0", "-muxpreload", "0");
    // Audio packets wait in the muxer until the first video packet: allow a whole segment's worth.
    args.push("-max_muxing_queue_size", "4096");
    if (p.format === "mp4") args.push("-f", "mp4", "-movflags", "+faststart");
    else args.push("-f", "mpegts");
    args.push(path);
  });
  return args;
}
