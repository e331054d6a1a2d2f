import { keccak_256 } from "@noble/hashes/sha3.js";
import { LpError } from "../errors/LpError.js";
import { extensionForFormat, mimeForFormat } from "../protocol/constants.js";
import { type ProfileSpec, profileProblem } from "../protocol/profiles.js";

/**
 * A rendition (lpms ffmpeg/videoprofile.go VideoProfile): the wire-level facts are all the engine
 * needs. `fps` 0 keeps the source timing; `fpsDen` 0 is read as 1; `gopMs` 0 is the encoder
 * default, -1 intra-only; bitrate in bits/s.
 */
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
/** Highest `quality` (CRF) lpms accepts. */
export const MAX_VIDEO_QUALITY = 63;

/** Go's type name for each JsonProfile field, for its json package's type-mismatch text. */
const JSON_FIELDS: Record<string, "string" | "int" | "uint"> = {
  name: "string",
  width: "int",
  height: "int",
  bitrate: "int",
  fps: "uint",
  fpsDen: "uint",
  profile: "string",
  gop: "string",
  encoder: "string",
  colorDepth: "int",
  chromaFormat: "int",
  quality: "uint",
  format: "string",
};

const badProfiles = (message: string) => new LpError("BAD_PROFILES", message);

/** How Go's encoding/json names a JSON value in "cannot unmarshal X into ..." errors. */
function jsonKind(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return `number ${String(v)}`;
  if (typeof v === "boolean") return "bool";
  return typeof v;
}

/** Go's `%f`: six decimals. */
const goFloat = (n: number) => n.toFixed(6);

/** Go's strconv.ParseFloat syntax for plain decimals (the only form a GOP is written in). */
const FLOAT_RE = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/**
 * `-transcodingOptions`: a path to a JSON profile array (lpms JsonProfile, go-livepeer
 * doc/transcodingoptions.md) or a comma list of preset names (server/mediaserver.go). Unlike
 * go-livepeer, an unknown preset name is an error instead of being dropped silently; a path
 * that cannot be read gives go-livepeer's "No transcoding profiles found".
 */
export function parseTranscodingOptions(
  value: string,
  readFile: (path: string) => string | null,
): VideoProfile[] {
  const trimmed = value.trim();
  const text = trimmed === "" ? null : readFile(trimmed);
  if (text !== null) return parseJsonProfiles(text);
  if (/[/\\]|\.json$/i.test(trimmed)) throw badProfiles("No transcoding profiles found");
  const names = trimmed
    .split(",")
    .map((n) => n.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !PRESETS[n]);
  if (unknown.length > 0) {
    throw badProfiles(
      `unknown transcoding profile ${unknown.map((n) => `"${n}"`).join(", ")}; presets are ${Object.keys(PRESETS).join(", ")}`,
    );
  }
  if (names.length === 0) throw badProfiles("No transcoding profiles found");
  return names.map((n) => ({ ...PRESETS[n]! }));
}

/**
 * Parse go-livepeer's JSON profile array (lpms ffmpeg/videoprofile.go ParseProfiles and
 * ParseProfilesFromJsonProfileArray) with its error texts. Keys match case-insensitively and
 * unknown keys are ignored, as Go's encoding/json does. A profile outside PROFILE_LIMITS
 * (protocol/profiles.ts) is refused, naming the field.
 */
export function parseJsonProfiles(text: string): VideoProfile[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw badProfiles(`invalid character in transcoding options JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(data)) {
    throw badProfiles(`json: cannot unmarshal ${jsonKind(data)} into Go value of type []ffmpeg.JsonProfile`);
  }
  if (data.length === 0) throw badProfiles("No transcoding profiles found");
  return data.map((raw) => {
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
      throw badProfiles(`json: cannot unmarshal ${jsonKind(raw)} into Go value of type ffmpeg.JsonProfile`);
    }
    const fields = new Map<string, unknown>();
    for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
      const key = Object.keys(JSON_FIELDS).find((f) => f.toLowerCase() === k.toLowerCase());
      if (key) fields.set(key, v);
    }
    const mismatch = (key: string, v: unknown) =>
      badProfiles(
        `json: cannot unmarshal ${jsonKind(v)} into Go struct field JsonProfile.${key} of type ${JSON_FIELDS[key]}`,
      );
    const num = (key: string): number => {
      const v = fields.get(key);
      if (v === undefined || v === null) return 0;
      const unsigned = JSON_FIELDS[key] === "uint";
      if (typeof v !== "number" || !Number.isInteger(v) || (unsigned && v < 0)) throw mismatch(key, v);
      return v;
    };
    const str = (key: string): string => {
      const v = fields.get(key);
      if (v === undefined || v === null) return "";
      if (typeof v !== "string") throw mismatch(key, v);
      return v;
    };
    // Decode every field first: Go reports a type mismatch before any semantic check.
    const width = num("width");
    const height = num("height");
    const bitrate = num("bitrate");
    const fps = num("fps");
    const fpsDen = num("fpsDen");
    const quality = num("quality");
    num("colorDepth");
    num("chromaFormat");
    const name = str("name") || `custom_${width}x${height}_${bitrate}`;
    const gopText = str("gop");
    let gopMs = 0;
    if (gopText === "intra") gopMs = -1;
    else if (gopText !== "") {
      if (!FLOAT_RE.test(gopText)) {
        throw badProfiles(
          `cannot parse the GOP value in the transcoding options: strconv.ParseFloat: parsing ${JSON.stringify(gopText)}: invalid syntax`,
        );
      }
      const secs = Number(gopText);
      if (secs <= 0)
        throw badProfiles(`invalid gop value ${goFloat(secs)}. Please set it to a positive value`);
      gopMs = Math.round(secs * 1000);
    }
    const profile = JSON_PROFILES[str("profile").toLowerCase()];
    if (!profile)
      throw badProfiles("unable to parse the H264 encoder profile: unknown VideoProfile profile name");
    const encoderName = str("encoder");
    const codec = JSON_ENCODERS[encoderName];
    if (!codec) {
      throw badProfiles(
        `Unable to parse encoder profile, unknown encoder: ${encoderName} unknown codec name`,
      );
    }
    if (quality > MAX_VIDEO_QUALITY) {
      throw badProfiles(
        `invalid quality value ${quality}. Please set it to a value between 0 and ${MAX_VIDEO_QUALITY}`,
      );
    }
    if (width <= 0 || height <= 0) throw badProfiles(`profile "${name}": width and height are required`);
    const format = str("format").toLowerCase() === "mp4" ? "mp4" : "mpegts";
    const spec = {
      name,
      width,
      height,
      bitrate,
      fps,
      fpsDen: fpsDen || 1,
      format,
      profile,
      gopMs,
      codec,
      quality,
    } satisfies VideoProfile;
    // Beyond Go's checks: names become playlist lines and paths, sizes become encoder work.
    const problem = profileProblem(spec);
    if (problem) throw badProfiles(problem);
    return spec;
  });
}

/** File extension of a rendition (go-livepeer common/util.go ProfileFormatExtension). */
export function extensionFor(format: VideoProfile["format"]): ".ts" | ".mp4" {
  return extensionForFormat(format);
}

/** MIME type of a rendition (go-livepeer common/util.go ext2mime). */
export function contentTypeFor(format: VideoProfile["format"]): "video/mp4" | "video/mp2t" {
  return mimeForFormat(format);
}

/** Extension and MIME type together (kept for the gateway's callers). */
export function formatInfo(format: VideoProfile["format"]): { ext: string; mime: string } {
  return { ext: extensionFor(format), mime: contentTypeFor(format) };
}
