import { resolve } from "node:path";
import { keccak_256 } from "@noble/hashes/sha3.js";
import protobuf from "protobufjs";

/**
 * Message codecs loaded by protobufjs straight from our .proto files: an encoder independent of
 * the protobuf-es code the node uses, for go-livepeer-shaped test clients.
 */
const root = protobuf.loadSync(resolve(import.meta.dirname, "../../proto/lp_rpc.proto"));
export const SegData = root.lookupType("net.SegData");
export const TranscodeResult = root.lookupType("net.TranscodeResult");
export const Payment = root.lookupType("net.Payment");
export const OrchestratorInfo = root.lookupType("net.OrchestratorInfo");

export interface WireProfileInput {
  name: string;
  width: number;
  height: number;
  bitrate: number;
  fps?: number;
  format?: number;
  profile?: number;
  encoder?: number;
  gop?: number;
}

/** The standard preset P240p30fps16x9 and P360p30fps16x9 as a go-livepeer gateway sends them. */
export const P240: WireProfileInput = {
  name: "P240p30fps16x9",
  width: 426,
  height: 240,
  bitrate: 600000,
  fps: 30,
};
export const P360: WireProfileInput = {
  name: "P360p30fps16x9",
  width: 640,
  height: 360,
  bitrate: 1200000,
  fps: 30,
};

/** Capabilities a go-livepeer gateway puts in a standard job: H.264 in, MPEG-TS out, auth token. */
export const STANDARD_JOB_CAPS = { bitstring: [0x1003] };

/** Build the Livepeer-Segment and Livepeer-Payment headers for one segment. */
export function segmentHeaders(
  // biome-ignore lint/suspicious/noExplicitAny: decoded protobufjs/grpc-js object
  authToken: any,
  opts: {
    seq: number;
    data: Buffer;
    profiles: WireProfileInput[];
    durationMs?: number;
    manifestId?: string;
    caps?: object;
  },
): Record<string, string> {
  const seg = SegData.create({
    manifestId: Buffer.from(opts.manifestId ?? "test-manifest"),
    seq: opts.seq,
    hash: Buffer.from(keccak_256(opts.data)),
    profiles: Buffer.from("invalid"),
    duration: opts.durationMs ?? 2000,
    capabilities: opts.caps ?? STANDARD_JOB_CAPS,
    authToken: {
      token: authToken.token,
      sessionId: authToken.session_id ?? authToken.sessionId,
      expiration: authToken.expiration,
    },
    fullProfiles: opts.profiles,
  });
  return {
    "content-type": "video/MP2T",
    "livepeer-segment": Buffer.from(SegData.encode(seg).finish()).toString("base64"),
    "livepeer-payment": "",
  };
}

/** Decode a /segment response body. */
// biome-ignore lint/suspicious/noExplicitAny: decoded protobufjs object
export function decodeResult(body: Buffer): any {
  return TranscodeResult.toObject(TranscodeResult.decode(body), {
    longs: Number,
    bytes: Buffer,
    oneofs: true,
  });
}
