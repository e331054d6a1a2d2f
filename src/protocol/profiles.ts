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
 * Read wire profiles as go-livepeer's orchestrator does (server/segment_rpc.go
 * makeFfmpegVideoProfiles), with its error texts for unknown enums; an empty name becomes
 * net_<W>x<H>_<bitrate>.
 */
export function profilesFromWire(list: WireProfile[]): ProfileSpec[] {
  return list.map((p) => {
    const format = FORMATS[p.format];
    if (!format) throw new LpError("BAD_PROFILE", "unrecognized profile output format");
    const profile = ENCODER_PROFILES[p.profile];
    if (!profile) throw new LpError("BAD_PROFILE", "unrecognized encoder profile");
    const codec = CODECS[p.encoder];
    if (!codec) throw new LpError("BAD_PROFILE", "unrecognized video codec");
    return {
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
