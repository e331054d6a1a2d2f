// The local transcoder lives in transcoder.ts; this path is kept for existing importers.
export {
  type LocalTranscodeResult,
  LocalTranscoder,
  type LocalTranscoderOptions,
  MAX_OUTPUTS,
  type Rendition,
  type TranscodeJob,
  type TranscodeResult,
  type Transcoder,
} from "./transcoder.js";
