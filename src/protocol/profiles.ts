import { create } from "@bufbuild/protobuf";
import { LpError } from "../errors/LpError.js";
import {
  VideoProfile_Format,
  VideoProfile_Profile,
  VideoProfile_VideoCodec,
  VideoProfileSchema,
  type VideoProfile as WireProfile,
} from "./gen/lp_rpc_pb.js";

/** The wire-level facts of one rendition, independent of the media engine's own type. */
export interface ProfileSpec {
  name: string;
  width: number;
  height: number;
  bitrate: number;
  fps: number;
  fpsDen: number;
  format: "mpegts" | "mp4";
  profile: "none" | "baseline" | "main" | "high" | "constrained-high";
  /** Milliseconds when >= 0; negative values are special (-1 intra-only). */
  gopMs: number;
  codec: "h264" | "h265" | "vp8" | "vp9";
  quality: number;
}

const FORMATS: Record<number, ProfileSpec["format"]> = {
  [VideoProfile_Format.MPEGTS]: "mpegts",
  [VideoProfile_Format.MP4]: "mp4",
};
const ENCODER_PROFILES: Record<number, ProfileSpec["profile"]> = {
  [VideoProfile_Profile.ENCODER_DEFAULT]: "none",
  [VideoProfile_Profile.H264_BASELINE]: "baseline",
  [VideoProfile_Profile.H264_MAIN]: "main",
  [VideoProfile_Profile.H264_HIGH]: "high",
  [VideoProfile_Profile.H264_CONSTRAINED_HIGH]: "constrained-high",
};
const CODECS: Record<number, ProfileSpec["codec"]> = {
  [VideoProfile_VideoCodec.H264]: "h264",
  [VideoProfile_VideoCodec.H265]: "h265",
  [VideoProfile_VideoCodec.VP8]: "vp8",
  [VideoProfile_VideoCodec.VP9]: "vp9",
};

/**
 * Bounds on a rendition, checked wherever profiles enter the node (the gateway's push header, the
 * auth webhook, -transcodingOptions, and wire profiles at the orchestrator), so that no client can
 * order an encode no player needs (a 16384x16384 frame, 10 000 fps) or a name that breaks a
 * playlist line or a storage path.
 */
export const PROFILE_LIMITS = {
  /** Longest side (8K UHD landscape or portrait). */
  maxLongSide: 7680,
  /** Shortest side. */
  maxShortSide: 4320,
  /** Smallest side a 4:2:0 encoder can produce. */
  minSide: 2,
  /** Frames per second (fps / fpsDen). */
  maxFps: 240,
  /** fpsDen (1001 for NTSC rates; larger values only express odd rates). */
  maxFpsDen: 100_000,
  /** Bits per second (0 means the encoder's default; a tiny rate costs no more than a normal one). */
  maxBitrate: 200_000_000,
  /** GOP in ms (0 = encoder default, -1 = intra-only). */
  maxGopMs: 60_000,
  /** Length of a profile name. */
  maxNameLength: 64,
} as const;

/** Profile names: letters, digits, `_`, `-` and `.`, not starting with a dot (a playlist line and a path segment). */
const PROFILE_NAME_RE = /^[A-Za-z0-9_-][A-Za-z0-9_.-]*$/;

/** What is wrong with a rendition, naming the field, or null when it is within PROFILE_LIMITS. */
export function profileProblem(p: ProfileSpec): string | null {
  const L = PROFILE_LIMITS;
  const name = JSON.stringify(p.name);
  if (p.name === "" || p.name.length > L.maxNameLength)
    return `profile name ${name}: must be 1 to ${L.maxNameLength} characters`;
  if (!PROFILE_NAME_RE.test(p.name))
    return `profile name ${name}: only letters, digits, '_', '-' and '.' (not first) are allowed`;
  const at = `profile ${name}`;
  for (const [field, v] of [
    ["width", p.width],
    ["height", p.height],
  ] as const) {
    if (!Number.isInteger(v) || v < L.minSide)
      return `${at}: ${field} ${v} is below the minimum of ${L.minSide}`;
  }
  const long = Math.max(p.width, p.height);
  const short = Math.min(p.width, p.height);
  if (long > L.maxLongSide || short > L.maxShortSide)
    return `${at}: width x height ${p.width}x${p.height} is larger than ${L.maxLongSide}x${L.maxShortSide}`;
  const den = p.fpsDen || 1;
  if (!Number.isInteger(p.fpsDen) || p.fpsDen < 0 || p.fpsDen > L.maxFpsDen)
    return `${at}: fpsDen ${p.fpsDen} is outside 0 to ${L.maxFpsDen}`;
  if (!Number.isInteger(p.fps) || p.fps < 0 || p.fps / den > L.maxFps)
    return `${at}: fps ${p.fps}/${den} is outside 0 to ${L.maxFps}`;
  if (!Number.isInteger(p.bitrate) || p.bitrate < 0 || p.bitrate > L.maxBitrate)
    return `${at}: bitrate ${p.bitrate} is outside 0 to ${L.maxBitrate} bits/s`;
  if (!Number.isInteger(p.gopMs) || p.gopMs < -1 || p.gopMs > L.maxGopMs)
    return `${at}: gop ${p.gopMs} ms is outside 0 to ${L.maxGopMs} ms (or intra-only)`;
  return null;
}

/**
 * Read wire profiles as go-livepeer's orchestrator does (server/segment_rpc.go
 * makeFfmpegVideoProfiles), with its error texts for unknown enums; an empty name becomes
 * net_<W>x<H>_<bitrate>. Unlike go-livepeer, a profile outside PROFILE_LIMITS is refused.
 */
export function profilesFromWire(list: WireProfile[]): ProfileSpec[] {
  return list.map((p) => {
    const format = FORMATS[p.format];
    if (!format) throw new LpError("BAD_PROFILE", "unrecognized profile output format");
    const profile = ENCODER_PROFILES[p.profile];
    if (!profile) throw new LpError("BAD_PROFILE", "unrecognized encoder profile");
    const codec = CODECS[p.encoder];
    if (!codec) throw new LpError("BAD_PROFILE", "unrecognized video codec");
    const spec: ProfileSpec = {
      name: p.name === "" ? `net_${p.width}x${p.height}_${p.bitrate}` : p.name,
      width: p.width,
      height: p.height,
      bitrate: p.bitrate,
      fps: p.fps,
      fpsDen: p.fpsDen,
      format,
      profile,
      gopMs: p.gop,
      codec,
      quality: p.quality,
    };
    const problem = profileProblem(spec);
    if (problem) throw new LpError("BAD_PROFILE", `invalid profile: ${problem}`);
    return spec;
  });
}

/** Write profiles for the wire (common.FFmpegProfiletoNetProfile); an empty name becomes ffmpeg_<W>x<H>_<bitrate>. */
export function profilesToWire(list: ProfileSpec[]): WireProfile[] {
  const inverse = <T extends string>(table: Record<number, T>, v: T) =>
    Number(Object.entries(table).find(([, x]) => x === v)![0]);
  return list.map((p) =>
    create(VideoProfileSchema, {
      name: p.name === "" ? `ffmpeg_${p.width}x${p.height}_${p.bitrate}` : p.name,
      width: p.width,
      height: p.height,
      bitrate: p.bitrate,
      fps: p.fps,
      fpsDen: p.fpsDen,
      format: inverse(FORMATS, p.format),
      profile: inverse(ENCODER_PROFILES, p.profile),
      gop: p.gopMs,
      encoder: inverse(CODECS, p.codec),
      quality: p.quality,
    }),
  );
}
