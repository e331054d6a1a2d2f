import { keccak_256 } from "@noble/hashes/sha3.js";
import { LpError } from "../errors/LpError.js";
import type { ProfileSpec } from "../protocol/profiles.js";

/** A rendition: the wire-level profile facts are all the engine needs. */
export type VideoProfile = ProfileSpec;

const preset = (name: string, width: number, height: number, kbps: number, fps: number): VideoProfile => ({
  name,
  width,
  height,
  bitrate: kbps * 1000,
  fps,
  fpsDen: 1,
  format: "mpegts",
  profile: "none",
  gopMs: 0,
  codec: "h264",
  quality: 0,
});

/** lpms' 14 standard presets (lpms ffmpeg/videoprofile.go). */
export const PRESETS: Readonly<Record<string, VideoProfile>> = Object.fromEntries(
  [
    preset("P720p60fps16x9", 1280, 720, 6000, 60),
    preset("P720p30fps16x9", 1280, 720, 4000, 30),
    preset("P720p25fps16x9", 1280, 720, 3500, 25),
    preset("P720p30fps4x3", 960, 720, 3500, 30),
    preset("P576p30fps16x9", 1024, 576, 1500, 30),
    preset("P576p25fps16x9", 1024, 576, 1500, 25),
    preset("P360p30fps16x9", 640, 360, 1200, 30),
    preset("P360p25fps16x9", 640, 360, 1000, 25),
    preset("P360p30fps4x3", 480, 360, 1000, 30),
    preset("P240p30fps16x9", 426, 240, 600, 30),
    preset("P240p25fps16x9", 426, 240, 600, 25),
    preset("P240p30fps4x3", 320, 240, 600, 30),
    preset("P144p30fps16x9", 256, 144, 400, 30),
    preset("P144p25fps16x9", 256, 144, 400, 25),
  ].map((p) => [p.name, p]),
);

/** The 4-byte profile ID go-livepeer signs: keccak256(name)[0:4] (common/util.go ProfilesToTranscodeOpts). */
export function presetId(name: string): string {
  return Buffer.from(keccak_256(Buffer.from(name, "utf8")))
    .subarray(0, 4)
    .toString("hex");
}

const JSON_PROFILES: Record<string, VideoProfile["profile"]> = {
  "": "none",
  none: "none",
  h264baseline: "baseline",
  h264main: "main",
  h264high: "high",
  h264constrainedhigh: "constrained-high",
};
const JSON_ENCODERS: Record<string, VideoProfile["codec"]> = {
  "": "h264",
  "H.264": "h264",
  HEVC: "h265",
  VP8: "vp8",
  VP9: "vp9",
};

/**
 * `-transcodingOptions`: a path to a JSON profile array (lpms JsonProfile, go-livepeer
 * doc/transcodingoptions.md) or a comma list of preset names. Unlike go-livepeer, an unknown
 * preset name is an error instead of being dropped silently.
 */
export function parseTranscodingOptions(
  value: string,
  readFile: (path: string) => string | null,
): VideoProfile[] {
  const text = value.trim() === "" ? null : readFile(value);
  if (text !== null) return parseJsonProfiles(text);
  const names = value
    .split(",")
    .map((n) => n.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !PRESETS[n]);
  if (unknown.length > 0) {
    throw new LpError(
      "BAD_PROFILES",
      `unknown transcoding profile ${unknown.map((n) => `"${n}"`).join(", ")}; presets are ${Object.keys(PRESETS).join(", ")}`,
    );
  }
  if (names.length === 0) throw new LpError("BAD_PROFILES", "No transcoding profiles found");
  return names.map((n) => ({ ...PRESETS[n]! }));
}

/** Parse go-livepeer's JSON profile array. */
export function parseJsonProfiles(text: string): VideoProfile[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new LpError(
      "BAD_PROFILES",
      `invalid character in transcoding options JSON: ${(err as Error).message}`,
    );
  }
  if (!Array.isArray(data))
    throw new LpError("BAD_PROFILES", "transcoding options JSON must be an array of profiles");
  if (data.length === 0) throw new LpError("BAD_PROFILES", "No transcoding profiles found");
  return data.map((raw, i) => {
    if (typeof raw !== "object" || raw === null)
      throw new LpError("BAD_PROFILES", `profile ${i}: expected an object`);
    const o = raw as Record<string, unknown>;
    const int = (key: string, def: number) => {
      const v = o[key] ?? def;
      if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
        throw new LpError("BAD_PROFILES", `profile ${i}: "${key}" must be a non-negative integer`);
      }
      return v;
    };
    const str = (key: string) => {
      const v = o[key] ?? "";
      if (typeof v !== "string") throw new LpError("BAD_PROFILES", `profile ${i}: "${key}" must be a string`);
      return v;
    };
    const width = int("width", 0);
    const height = int("height", 0);
    const bitrate = int("bitrate", 0);
    if (width <= 0 || height <= 0)
      throw new LpError("BAD_PROFILES", `profile ${i}: width and height are required`);
    const profile = JSON_PROFILES[str("profile").toLowerCase()];
    if (!profile)
      throw new LpError("BAD_PROFILES", `profile ${i}: unknown encoder profile "${str("profile")}"`);
    const codec = JSON_ENCODERS[str("encoder")];
    if (!codec) throw new LpError("BAD_PROFILES", `profile ${i}: unknown encoder "${str("encoder")}"`);
    const gopText = str("gop");
    let gopMs = 0;
    if (gopText === "intra") gopMs = -1;
    else if (gopText !== "") {
      const secs = Number(gopText);
      if (!Number.isFinite(secs) || secs < 0)
        throw new LpError("BAD_PROFILES", `profile ${i}: invalid gop "${gopText}"`);
      gopMs = Math.round(secs * 1000);
    }
    const quality = int("quality", 0);
    if (quality > 63) throw new LpError("BAD_PROFILES", `profile ${i}: quality must be at most 63`);
    const format = str("format") === "mp4" ? "mp4" : "mpegts";
    return {
      name: str("name") || `custom_${width}x${height}_${bitrate}`,
      width,
      height,
      bitrate,
      fps: int("fps", 0),
      fpsDen: int("fpsDen", 1) || 1,
      format,
      profile,
      gopMs,
      codec,
      quality,
    } satisfies VideoProfile;
  });
}

/** File extension and MIME type of a rendition (common/util.go ProfileFormatExtension, ext2mime). */
export function formatInfo(format: VideoProfile["format"]): { ext: string; mime: string } {
  return format === "mp4" ? { ext: ".mp4", mime: "video/mp4" } : { ext: ".ts", mime: "video/mp2t" };
}
