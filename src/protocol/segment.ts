import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { keccak_256 } from "@noble/hashes/sha3.js";
import { LpError } from "../errors/LpError.js";
import { bigEndianMinimal, leftPad } from "./bytes.js";
import {
  type Payment,
  PaymentSchema,
  type SegData,
  SegDataSchema,
  type TranscodeResult,
  TranscodeResultSchema,
  type VideoProfile as WireProfile,
} from "./gen/lp_rpc_pb.js";

export const SEGMENT_HEADER = "Livepeer-Segment";
export const PAYMENT_HEADER = "Livepeer-Payment";
// Re-exported for the importers that read them here; they live with the other wire constants.
export { DEFAULT_SEGMENT_DURATION_MS, MAX_SEGMENT_DURATION_MS } from "./constants.js";

/** keccak256 as a Buffer. */
export function keccak(data: Uint8Array): Buffer {
  return Buffer.from(keccak_256(data));
}

/**
 * The bytes a gateway signs for a segment (core/streamdata.go SegTranscodingMetadata.Flatten):
 * manifestID || leftpad32(|seq|) || hash || lowercase hex of keccak256(name)[0:4] per profile.
 */
export function segmentFlatten(md: {
  manifestId: Uint8Array;
  seq: bigint;
  hash: Uint8Array;
  profileNames: string[];
}): Buffer {
  const profileHex = md.profileNames
    .map((n) => keccak(Buffer.from(n, "utf8")).subarray(0, 4).toString("hex"))
    .join("");
  return Buffer.concat([
    Buffer.from(md.manifestId),
    leftPad(bigEndianMinimal(md.seq), 32),
    hash32(md.hash),
    Buffer.from(profileHex, "ascii"),
  ]);
}

/** ethcommon.BytesToHash: the last 32 bytes, left-padded when shorter. */
export function hash32(bytes: Uint8Array): Buffer {
  return bytes.length > 32 ? Buffer.from(bytes.subarray(bytes.length - 32)) : leftPad(bytes, 32);
}

/** Base64 (standard, padded) strictly, as Go's base64.StdEncoding: anything else is an error. */
export function decodeBase64Strict(text: string): Buffer | null {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return null;
  return Buffer.from(text, "base64");
}

/** The wire profiles a reader uses (coreSegMetadata: fullProfiles3, else 2, else 1). */
export function segmentProfiles(seg: SegData): WireProfile[] {
  if (seg.fullProfiles3.length > 0) return seg.fullProfiles3;
  if (seg.fullProfiles2.length > 0) return seg.fullProfiles2;
  return seg.fullProfiles;
}

/**
 * Decode the Livepeer-Payment header (server/segment_rpc.go getPayment): "" is an empty payment;
 * bad base64 or protobuf is a PAYMENT_HEADER error whose message go-livepeer's gateway would see.
 */
export function decodePaymentHeader(header: string | undefined): Payment {
  const text = header ?? "";
  const buf = decodeBase64Strict(text);
  if (!buf) throw new LpError("BAD_PAYMENT", "base64 decode error: illegal base64 data");
  try {
    return fromBinary(PaymentSchema, buf);
  } catch (err) {
    throw new LpError("BAD_PAYMENT", `protobuf unmarshal error: ${(err as Error).message}`);
  }
}

/**
 * Decode the Livepeer-Segment header: ErrorSegEncoding for bad base64, the protobuf error text for
 * bad bytes (server/segment_rpc.go verifySegCreds).
 */
export function decodeSegmentHeader(header: string | undefined): SegData {
  const buf = decodeBase64Strict(header ?? "");
  if (!buf) throw new LpError("BAD_SEGDATA", "ErrorSegEncoding");
  try {
    return fromBinary(SegDataSchema, buf);
  } catch (err) {
    throw new LpError("BAD_SEGDATA", (err as Error).message);
  }
}

/** Encode a SegData as the Livepeer-Segment header value. */
export function encodeSegmentHeader(seg: SegData): string {
  return Buffer.from(toBinary(SegDataSchema, seg)).toString("base64");
}

/** Encode a Payment as the Livepeer-Payment header value. */
export function encodePaymentHeader(payment: Payment): string {
  return Buffer.from(toBinary(PaymentSchema, payment)).toString("base64");
}

/** Encode a /segment response body. */
export function encodeTranscodeResult(result: TranscodeResult): Buffer {
  return Buffer.from(toBinary(TranscodeResultSchema, result));
}

/** Decode a /segment response body. */
export function decodeTranscodeResult(body: Uint8Array): TranscodeResult {
  return fromBinary(TranscodeResultSchema, body);
}
