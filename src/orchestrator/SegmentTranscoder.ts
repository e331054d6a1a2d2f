import type { SegData } from "../protocol/gen/lp_rpc_pb.js";
import type { ProfileSpec } from "../protocol/profiles.js";

/** One segment for the orchestrator's transcoder (local ffmpeg, or the remote pool). */
export interface SegmentJob {
  /** The auth token's session id: the orchestrator's session key and storage prefix. */
  sessionId: string;
  manifestId: string;
  seq: bigint;
  data: Buffer;
  durationMs: number;
  profiles: ProfileSpec[];
  /** The gateway's segment metadata, forwarded as is to remote transcoders. */
  segData: SegData;
  signal: AbortSignal;
}

/** The renditions of one segment, in the order of the requested profiles. */
export interface SegmentOutput {
  renditions: { data: Buffer; pixels: number }[];
  /** Pixels decoded from the source, when known (the Pixels header of /transcodeResults). */
  decodedPixels?: number;
  /** Lifetime of the ffmpeg child, when one ran here (the benchmark's overhead figure). */
  ffmpegMs?: number;
}

/**
 * What the orchestrator needs from whoever transcodes (core/orchestrator.go's Transcoder
 * interface): a segment in, renditions with exact pixel counts out. Errors are LpErrors whose
 * message goes into TranscodeResult.error as go-livepeer's text.
 */
export interface SegmentTranscoder {
  transcode(job: SegmentJob): Promise<SegmentOutput>;
  /** Capability numbers this transcoder can serve now (codecs, formats, profiles). */
  capabilities(): number[];
  /** Sessions it can hold at once, for -maxSessions auto (remote pool); null when fixed. */
  capacity(): number | null;
  /** The session ended: free what was kept for it. */
  endSession?(sessionId: string): void;
}
