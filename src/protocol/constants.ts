/**
 * Protocol constants every role shares (go-livepeer common/util.go and core/). One place, so a
 * limit or a default port cannot drift between the gateway, the orchestrator and the transcoder.
 */

/** go-livepeer's common.MaxSegSize: the largest segment or rendition body anyone accepts. */
export const MAX_SEGMENT_BYTES = 300_000_000;

/** go-livepeer's common.MaxDuration: the longest segment an orchestrator accepts. */
export const MAX_SEGMENT_DURATION_MS = 300_000;

/** Duration assumed when a gateway sends none (coreSegMetadata). */
export const DEFAULT_SEGMENT_DURATION_MS = 2000;

/** The orchestrator's default service port (go-livepeer's -serviceAddr default). */
export const DEFAULT_ORCHESTRATOR_PORT = 8935;

/** go-livepeer's gRPC message limit (grpc-go's default receive size). */
export const MAX_GRPC_MESSAGE_BYTES = 4 * 1024 * 1024;

/** MIME types of segments and renditions (go-livepeer common/util.go ext2mime). */
export const MIME_MPEGTS = "video/mp2t";
export const MIME_MP4 = "video/mp4";
export const MIME_OCTET_STREAM = "application/octet-stream";
export const MIME_MULTIPART_MIXED = "multipart/mixed";
export const MIME_TRANSCODING_ERROR = "livepeer/transcoding-error";

/** Authorization value of a remote transcoder's /transcodeResults post (go-livepeer's protoVerLPT). */
export const TRANSCODER_AUTH = "Livepeer-Transcoder-1.0";

/** MIME type of a rendition in the given container format. */
export function mimeForFormat(format: "mpegts" | "mp4"): typeof MIME_MP4 | typeof MIME_MPEGTS {
  return format === "mp4" ? MIME_MP4 : MIME_MPEGTS;
}

/** File extension of a rendition in the given container format (common/util.go ProfileFormatExtension). */
export function extensionForFormat(format: "mpegts" | "mp4"): ".mp4" | ".ts" {
  return format === "mp4" ? ".mp4" : ".ts";
}
