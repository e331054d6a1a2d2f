import { create } from "@bufbuild/protobuf";
import { type Capabilities, CapabilitiesSchema } from "./gen/lp_rpc_pb.js";

/** Capability numbers (go-livepeer core/capabilities.go); the number is the bit index on the wire. */
export const Capability = {
  H264: 0,
  MPEGTS: 1,
  MP4: 2,
  FractionalFramerates: 3,
  StorageDirect: 4,
  StorageS3: 5,
  StorageGCS: 6,
  ProfileH264Baseline: 7,
  ProfileH264Main: 8,
  ProfileH264High: 9,
  ProfileH264ConstrainedHigh: 10,
  GOP: 11,
  AuthToken: 12,
  SceneClassification: 13,
  MPEG7VideoSignature: 14,
  HEVC_Decode: 15,
  HEVC_Encode: 16,
  VP8_Decode: 17,
  VP9_Decode: 18,
  VP8_Encode: 19,
  VP9_Encode: 20,
  H264_Decode_444_8bit: 21,
  H264_Decode_422_8bit: 22,
  H264_Decode_444_10bit: 23,
  H264_Decode_422_10bit: 24,
  H264_Decode_420_10bit: 25,
  SegmentSlicing: 26,
  TextToImage: 27,
  ImageToImage: 28,
  ImageToVideo: 29,
  Upscale: 30,
  AudioToText: 31,
  SegmentAnything2: 32,
  LLM: 33,
  ImageToText: 34,
  LiveVideoToVideo: 35,
  TextToSpeech: 36,
  BYOC: 37,
} as const;

/** go-livepeer's DefaultCapabilities(): 0-12, 14 and 26. */
export const DEFAULT_CAPABILITIES: readonly number[] = [
  ...Array.from({ length: 13 }, (_, i) => i),
  Capability.MPEG7VideoSignature,
  Capability.SegmentSlicing,
];

/** What every lp-node transcoding node can do beyond its codecs: auth tokens, direct storage. */
export const NODE_CAPABILITIES: readonly number[] = [Capability.AuthToken, Capability.StorageDirect];

/** The legacy set 0-11 ("fixed forever"). */
export const LEGACY_CAPABILITIES: readonly number[] = Array.from({ length: 12 }, (_, i) => i);

/** Bitstring words for a capability list: capability c sets bit c%64 of word c/64; negatives skipped. */
export function capabilityBitstring(caps: readonly number[]): bigint[] {
  const words: bigint[] = [];
  for (const c of caps) {
    if (c < 0) continue;
    const w = Math.floor(c / 64);
    while (words.length <= w) words.push(0n);
    words[w] = words[w]! | (1n << BigInt(c % 64));
  }
  return words;
}

/** Capabilities set in a bitstring, ascending. */
export function capabilitiesFromBitstring(words: readonly bigint[]): number[] {
  const out: number[] = [];
  words.forEach((word, w) => {
    for (let b = 0; b < 64; b++) if ((word >> BigInt(b)) & 1n) out.push(w * 64 + b);
  });
  return out;
}

/** go-livepeer's CapabilityString.CompatibleWith: every bit of `a` is set in `b` (a longer `a` fails). */
export function bitstringSubset(a: readonly bigint[], b: readonly bigint[]): boolean {
  if (a.length > b.length) return false;
  return a.every((word, i) => (word & b[i]!) === word);
}

/** A node's Capabilities message: bits, capacity per capability, version (core.NewCapabilities). */
export function nodeCapabilities(
  caps: readonly number[],
  options: { version: string; capacity?: number; mandatories?: readonly number[] },
): Capabilities {
  const capacities: Record<number, number> = {};
  for (const c of caps) if (c >= 0) capacities[c] = options.capacity ?? 1;
  return create(CapabilitiesSchema, {
    bitstring: capabilityBitstring(caps),
    mandatories: capabilityBitstring(options.mandatories ?? []),
    capacities,
    version: options.version,
  });
}

function parseSemver(v: string): [number, number, number] | null {
  const m = /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:[-+].*)?$/.exec(v.trim());
  if (!m) return null;
  return [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)];
}

/**
 * go-livepeer's isVersionCompatible (core/capabilities.go): an empty minimum accepts anything;
 * otherwise the version must parse and be >= the minimum, pre-release suffixes ignored.
 */
export function versionCompatible(minVersion: string, version: string): boolean {
  if (minVersion === "") return true;
  if (version === "" || version === "undefined") return false;
  const min = parseSemver(minVersion);
  if (!min) return true;
  const v = parseSemver(version);
  if (!v) return false;
  for (let i = 0; i < 3; i++) {
    if (v[i]! !== min[i]!) return v[i]! > min[i]!;
  }
  return true;
}

/**
 * Whether a job's capabilities can be served by a node's (Capabilities.CompatibleWith in
 * core/capabilities.go): version, the node's mandatories, per-capability model constraints, bits.
 */
export function capabilitiesCompatible(
  job: Capabilities | undefined,
  node: Capabilities | undefined,
): boolean {
  const j = job ?? create(CapabilitiesSchema);
  const n = node ?? create(CapabilitiesSchema);
  if (!versionCompatible(j.constraints?.minVersion ?? "", n.version)) return false;
  if (!bitstringSubset(n.mandatories, j.bitstring)) return false;
  const jobPer = j.constraints?.PerCapability ?? {};
  const nodePer = n.constraints?.PerCapability ?? {};
  for (const [cap, jc] of Object.entries(jobPer)) {
    const nc = nodePer[Number(cap)];
    if (!nc) continue;
    for (const [model, jm] of Object.entries(jc.models)) {
      const nm = nc.models[model];
      if (!nm) return false;
      if (jm.warm && !nm.warm) return false;
      if (!versionCompatible(jm.runnerVersion, nm.runnerVersion)) return false;
    }
  }
  return bitstringSubset(j.bitstring, n.bitstring);
}

/** Whether a job needs only legacy capabilities (then an orchestrator without capabilities is fine). */
export function legacyOnly(job: Capabilities | undefined): boolean {
  return bitstringSubset(job?.bitstring ?? [], capabilityBitstring(LEGACY_CAPABILITIES));
}
