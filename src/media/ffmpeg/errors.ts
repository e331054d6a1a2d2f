import { LpError } from "../../errors/LpError.js";

/**
 * Texts go-livepeer's gateway treats as non-retryable (server/broadcast.go NonRetryableErrs):
 * retrying the same segment elsewhere cannot help.
 */
export const NON_RETRYABLE = [
  "Unsupported input pixel format",
  "Unsupported input codec",
  "No keyframes in input",
  "Error initializing filtergraph",
  "Too many outputs",
  "Unrecoverable state",
  "Encoded frames runaway",
  "Decoder not found",
  "Demuxer not found",
  "Encoder not found",
  "Muxer not found",
  "Option not found",
  "Invalid argument",
  "TranscoderInvalidResolution",
  "TranscoderInvalidVideo",
  "TranscoderUnrecognizedFormat",
  "TranscoderUnrecognizedProfile",
  "TranscoderInvalidGOP",
  "TranscoderIncompatibleDevices",
];

/** Whether an error text is one go-livepeer would not retry. */
export function isNonRetryable(text: string): boolean {
  return NON_RETRYABLE.some((t) => text.includes(t));
}

/**
 * Map a failed ffmpeg run to go-livepeer's error text and class (lpms ffmpeg_errors.go): what
 * the gateway reads in TranscodeResult.error and uses to decide on a retry.
 */
export function classifyFfmpegFailure(stderr: string): LpError {
  const has = (re: RegExp) => re.test(stderr);
  const fail = (code: string, text: string, retryable: boolean) => new LpError(code, text, { retryable });
  if (has(/OpenEncodeSessionEx failed|out of memory \(10\)|incompatible client key/i)) {
    return fail("NVENC_SESSIONS", "Cannot allocate memory", true);
  }
  if (has(/matches no streams|does not contain any stream|Output file #\d+ does not contain/)) {
    return fail("NO_VIDEO", "TranscoderInvalidVideo", false);
  }
  if (has(/Decoder \(codec [^)]*\) not found|Decoding requested, but no decoder found/)) {
    return fail("UNSUPPORTED_CODEC", "Unsupported input codec", false);
  }
  if (has(/Unknown encoder|Encoder \(codec [^)]*\) not found/))
    return fail("ENCODER", "Encoder not found", false);
  if (has(/Impossible to convert between the formats|Unsupported pixel format|doesn't support hardware/)) {
    return fail("PIXEL_FORMAT", "Unsupported input pixel format", false);
  }
  if (has(/Error (reinitializing|initializing) filters?|Error configuring filter|Failed to configure/)) {
    return fail("FILTERGRAPH", "Error initializing filtergraph", false);
  }
  if (has(/Invalid data found when processing input|could not find codec parameters|moov atom not found/)) {
    return fail("INVALID_INPUT", "Invalid data found when processing input", false);
  }
  if (has(/Invalid argument/)) return fail("INVALID_ARGUMENT", "Invalid argument", false);
  const last = stderr.trim().split(/\r?\n/).filter(Boolean).pop() ?? "ffmpeg failed";
  return fail("FFMPEG_EXITED", last.slice(0, 300), true);
}
