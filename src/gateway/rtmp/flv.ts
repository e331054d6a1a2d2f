/** FLV framing of RTMP media, the form ffmpeg reads from a pipe. */

export const FLV_AUDIO = 8;
export const FLV_VIDEO = 9;
export const FLV_SCRIPT = 18;

/** FLV file header declaring audio and video, plus the first (zero) previous-tag size. */
export function flvHeader(): Buffer {
  return Buffer.from([0x46, 0x4c, 0x56, 0x01, 0x05, 0, 0, 0, 9, 0, 0, 0, 0]);
}

/** One FLV tag and its trailing previous-tag size. */
export function flvTag(type: number, timestampMs: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(11);
  h[0] = type;
  h.writeUIntBE(payload.length, 1, 3);
  h.writeUIntBE(timestampMs & 0xffffff, 4, 3);
  h[7] = (timestampMs >>> 24) & 0xff;
  const tail = Buffer.alloc(4);
  tail.writeUInt32BE(11 + payload.length, 0);
  return Buffer.concat([h, payload, tail]);
}

/** What the first bytes of an RTMP media message say. */
export interface MediaInfo {
  /** Video: keyframe (or the AVC sequence header). */
  keyframe: boolean;
  /** AVC/AAC sequence header (decoder configuration), kept even before the first keyframe. */
  config: boolean;
  /** FLV codec id (video: 7 = H.264; audio: 10 = AAC, 2 = MP3); -1 for enhanced-RTMP FourCC video. */
  codec: number;
}

export function videoInfo(payload: Buffer): MediaInfo | null {
  if (payload.length < 1) return null;
  const b0 = payload[0]!;
  if (b0 & 0x80) return { keyframe: ((b0 >> 4) & 0x07) === 1, config: false, codec: -1 };
  const codec = b0 & 0x0f;
  const keyframe = b0 >> 4 === 1;
  return { keyframe, config: codec === 7 && payload.length > 1 && payload[1] === 0, codec };
}

export function audioInfo(payload: Buffer): MediaInfo | null {
  if (payload.length < 1) return null;
  const codec = payload[0]! >> 4;
  return { keyframe: true, config: codec === 10 && payload.length > 1 && payload[1] === 0, codec };
}

/** FLV video codec names for error texts. */
export const VIDEO_CODECS: Record<number, string> = {
  2: "Sorenson H.263",
  3: "Screen video",
  4: "VP6",
  5: "VP6 alpha",
  6: "Screen video 2",
  7: "H.264",
  12: "HEVC",
  [-1]: "enhanced RTMP (FourCC)",
};
export const AUDIO_CODECS: Record<number, string> = {
  0: "PCM",
  1: "ADPCM",
  2: "MP3",
  3: "PCM LE",
  4: "Nellymoser 16k",
  5: "Nellymoser 8k",
  6: "Nellymoser",
  7: "G.711 A-law",
  8: "G.711 mu-law",
  10: "AAC",
  11: "Speex",
  14: "MP3 8k",
};
