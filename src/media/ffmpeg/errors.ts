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

/** ffmpeg's texts when the driver refuses another NVENC session (consumer cards' session cap). */
const NVENC_SESSION_CAP =
  /OpenEncodeSessionEx failed: out of memory|out of memory \(10\)|incompatible client key \(21\)/i;

/** Whether ffmpeg's stderr says the NVENC session cap was hit (go-livepeer issue #2230). */
export function isNvencSessionCapError(stderr: string): boolean {
  return NVENC_SESSION_CAP.test(stderr);
}

/**
 * ffmpeg's texts when NVENC itself is missing while CUDA works: a card without an NVENC engine
 * (A100, H100, H200: "unsupported device"), a driver or container without libnvidia-encode, a
 * driver too old for this ffmpeg's NVENC API, or an ffmpeg built without the NVENC encoders.
 */
const NVENC_MISSING =
  /OpenEncodeSessionEx failed: (unsupported device|no encode device|invalid device)|No (NVENC )?capable devices found|Cannot load libnvidia-encode|Driver does not support the required nvenc API version|minimum required Nvidia driver for nvenc|Unknown encoder '(h264|hevc)_nvenc'/i;

/** ffmpeg's texts when the CUDA device itself fails (no usable GPU): then nothing on it works. */
const CUDA_DEVICE_FAILURE =
  /cuInit\(0\) failed|CUDA_ERROR_|Device creation failed|Failed setup for format cuda|hwaccel initiali[sz]ation returned error|No device available for decoder|Could not dynamically load CUDA|Cannot load libcuda/i;

/**
 * Whether a failed GPU run says the card has no usable NVENC while its CUDA device works: the
 * case where hybrid mode (NVDEC and GPU scaling, CPU encoding) can still serve.
 */
export function isNvencUnavailable(stderr: string): boolean {
  return NVENC_MISSING.test(stderr) && !CUDA_DEVICE_FAILURE.test(stderr);
}

/** Rules from ffmpeg's stderr to go-livepeer's texts, first match wins. */
const RULES: { re: RegExp; code: string; text: string }[] = [
  { re: NVENC_SESSION_CAP, code: "NVENC_SESSIONS", text: "Cannot allocate memory" },
  // No video stream at all (audio-only segment).
  {
    re: /matches no streams|does not contain any stream|Output file #\d+ does not contain/,
    code: "NO_VIDEO",
    text: "TranscoderInvalidVideo",
  },
  // A video stream without a single frame (zero-frame segment: lpms' NEEDS_BYPASS case).
  {
    re: /Cannot determine format of input stream \d+:\d+ after EOF/,
    code: "ZERO_FRAMES",
    text: "TranscoderInvalidVideo",
  },
  {
    re: /Decoder \(codec [^)]*\) not found|Decoding requested, but no decoder found|not on whitelist/,
    code: "UNSUPPORTED_CODEC",
    text: "Unsupported input codec",
  },
  { re: /Unknown encoder|Encoder \(codec [^)]*\) not found/, code: "ENCODER", text: "Encoder not found" },
  {
    re: /Impossible to convert between the formats|Unsupported pixel format|doesn't support hardware|Unsupported input format/,
    code: "PIXEL_FORMAT",
    text: "Unsupported input pixel format",
  },
  {
    re: /Error (reinitializing|initializing) filters?|Error configuring filter|Failed to configure/,
    code: "FILTERGRAPH",
    text: "Error initializing filtergraph",
  },
  {
    re: /Invalid data found when processing input|could not find codec parameters|moov atom not found/,
    code: "INVALID_INPUT",
    text: "Invalid data found when processing input",
  },
  { re: /Unrecognized option|Option not found/, code: "OPTION", text: "Option not found" },
  { re: /Invalid argument/, code: "INVALID_ARGUMENT", text: "Invalid argument" },
];

/**
 * Map a failed ffmpeg run to go-livepeer's error text (lpms ffmpeg_errors.go) and retry class
 * (server/broadcast.go isNonRetryableError: retryable unless the text is in NonRetryableErrs),
 * which the gateway reads in TranscodeResult.error to decide on a retry.
 */
export function classifyFfmpegFailure(stderr: string): LpError {
  for (const rule of RULES) {
    if (rule.re.test(stderr)) {
      return new LpError(rule.code, rule.text, { retryable: !isNonRetryable(rule.text) });
    }
  }
  const last =
    stderr
      .trim()
      .split(/\r?\n/)
      .filter(
        (l) => l.trim() !== "" && !/^\[AVIOContext|^\s*Last message repeated|^Conversion failed/.test(l),
      )
      .pop() ?? "ffmpeg failed";
  return new LpError("FFMPEG_EXITED", last.slice(0, 300), { retryable: !isNonRetryable(last) });
}
