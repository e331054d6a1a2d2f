import { LpError } from "../errors/LpError.js";
import { findAnnexBSps, type PictureSize, spsSize } from "./sps.js";

/** What a pushed segment holds, read from its container headers without a child process. */
export interface SegmentInfo {
  format: "mpegts" | "mp4";
  /** ffmpeg's name of the first video stream's codec; null when there is no video stream. */
  videoCodec: string | null;
  /** Whether the video stream has at least one frame (lpms: zero-frame segments bypass transcoding). */
  videoFrames: boolean;
  /** Picture size from the H.264/HEVC SPS (cropping applied); 0 when unknown. */
  width: number;
  height: number;
}

/** Video payload read from the start of a TS segment when looking for the SPS. */
const MAX_SPS_SEARCH_BYTES = 1024 * 1024;

const TS_PACKET = 188;
/** MPEG-TS stream_type -> ffmpeg codec name, for video streams. */
const TS_VIDEO: Record<number, string> = {
  1: "mpeg1video",
  2: "mpeg2video",
  16: "mpeg4",
  27: "h264",
  36: "hevc",
  66: "cavs",
  209: "dirac",
  234: "vc1",
};
/** MP4 sample entry -> ffmpeg codec name, for video tracks. */
const MP4_VIDEO: Record<string, string> = {
  avc1: "h264",
  avc3: "h264",
  hvc1: "hevc",
  hev1: "hevc",
  vp08: "vp8",
  vp09: "vp9",
  av01: "av1",
  mp4v: "mpeg4",
};

/** Whether bytes start like an MP4 file (an ftyp box first). */
export function isMp4(data: Buffer): boolean {
  return data.length >= 8 && data.toString("latin1", 4, 8) === "ftyp";
}

const unreadable = (why: string) => new LpError("CODEC_PROBE", `Error getting codec info: ${why}`);

/**
 * The video codec of an MPEG-TS or MP4 segment (what go-livepeer's GetCodecInfoBytes gives the
 * push handler), read from the PAT/PMT or the moov box. Throws LpError CODEC_PROBE for bytes
 * that are neither.
 */
export function sniffSegment(data: Buffer): SegmentInfo {
  if (isMp4(data)) return sniffMp4(data);
  if (data.length >= TS_PACKET && data[0] === 0x47) return sniffTs(data);
  throw unreadable("not MPEG-TS or MP4");
}

function sniffTs(data: Buffer): SegmentInfo {
  let pmtPid = -1;
  let videoPid = -1;
  let videoCodec: string | null = null;
  let pmtSeen = false;
  let videoStarts = 0;
  const videoEs: Buffer[] = [];
  let videoEsBytes = 0;
  // Packet 1 out of sync as well as packet 0 means this is not MPEG-TS; later, trailing junk.
  if (data.length >= 2 * TS_PACKET && data[TS_PACKET] !== 0x47) throw unreadable("lost MPEG-TS sync");
  forEachTsPayload(data, (pid, pusi, start, end) => {
    let off = start;
    if (pid === videoPid) {
      if (pusi) {
        videoStarts += 1;
        // Skip the PES header: 6 fixed bytes, 3 flag bytes, then PES_header_data_length more.
        if (off + 9 <= end && isPesStart(data, off)) off += 9 + data[off + 8]!;
      }
      if (videoStarts > 0 && videoEsBytes < MAX_SPS_SEARCH_BYTES && off < end) {
        videoEs.push(data.subarray(off, end));
        videoEsBytes += end - off;
      }
      return;
    }
    if (!pusi || (pid !== 0 && pid !== pmtPid)) return;
    off += 1 + data[off]!; // pointer field
    if (off + 8 > end) return;
    const tableId = data[off]!;
    const sectionLength = ((data[off + 1]! & 0x0f) << 8) | data[off + 2]!;
    const sectionEnd = Math.min(end, off + 3 + sectionLength - 4); // without the CRC
    if (pid === 0 && tableId === 0x00 && pmtPid < 0) {
      for (let e = off + 8; e + 4 <= sectionEnd; e += 4) {
        const program = data.readUInt16BE(e);
        if (program !== 0) {
          pmtPid = data.readUInt16BE(e + 2) & 0x1fff;
          break;
        }
      }
    } else if (pid === pmtPid && tableId === 0x02 && !pmtSeen) {
      pmtSeen = true;
      if (off + 12 > end) return;
      const infoLength = data.readUInt16BE(off + 10) & 0x0fff;
      for (let e = off + 12 + infoLength; e + 5 <= sectionEnd; ) {
        const type = data[e]!;
        const esPid = data.readUInt16BE(e + 1) & 0x1fff;
        const esInfo = data.readUInt16BE(e + 3) & 0x0fff;
        if (videoPid < 0 && TS_VIDEO[type]) {
          videoPid = esPid;
          videoCodec = TS_VIDEO[type]!;
        }
        e += 5 + esInfo;
      }
    }
  });
  if (!pmtSeen) throw unreadable("no MPEG-TS program map");
  let size: PictureSize | null = null;
  if (videoCodec === "h264" || videoCodec === "hevc") {
    const sps = findAnnexBSps(videoCodec, Buffer.concat(videoEs));
    size = sps && spsSize(videoCodec, sps);
  }
  return {
    format: "mpegts",
    videoCodec,
    videoFrames: videoStarts > 0,
    width: size?.width ?? 0,
    height: size?.height ?? 0,
  };
}

interface Box {
  type: string;
  start: number;
  end: number;
}

function* boxes(data: Buffer, start: number, end: number): Generator<Box> {
  let off = start;
  while (off + 8 <= end) {
    let size = data.readUInt32BE(off);
    const type = data.toString("latin1", off + 4, off + 8);
    let header = 8;
    if (size === 1) {
      if (off + 16 > end) return;
      size = Number(data.readBigUInt64BE(off + 8));
      header = 16;
    } else if (size === 0) size = end - off;
    if (size < header || off + size > end) return;
    yield { type, start: off + header, end: off + size };
    off += size;
  }
}

const child = (data: Buffer, parent: Box, type: string) =>
  [...boxes(data, parent.start, parent.end)].find((b) => b.type === type);

function sniffMp4(data: Buffer): SegmentInfo {
  const top = [...boxes(data, 0, data.length)];
  const moov = top.find((b) => b.type === "moov");
  if (!moov) throw unreadable("MP4 without a moov box");
  const fragmented = top.some((b) => b.type === "moof");
  for (const trak of boxes(data, moov.start, moov.end)) {
    if (trak.type !== "trak") continue;
    const mdia = child(data, trak, "mdia");
    const hdlr = mdia && child(data, mdia, "hdlr");
    if (!mdia || !hdlr || hdlr.start + 12 > hdlr.end) continue;
    if (data.toString("latin1", hdlr.start + 8, hdlr.start + 12) !== "vide") continue;
    const minf = child(data, mdia, "minf");
    const stbl = minf && child(data, minf, "stbl");
    const stsd = stbl && child(data, stbl, "stsd");
    const entry =
      stsd && stsd.start + 16 <= stsd.end ? data.toString("latin1", stsd.start + 12, stsd.start + 16) : "";
    const stsz = stbl && child(data, stbl, "stsz");
    const samples = stsz && stsz.start + 12 <= stsz.end ? data.readUInt32BE(stsz.start + 8) : 0;
    const videoCodec = MP4_VIDEO[entry] ?? (entry || "unknown");
    const size = stsd ? mp4PictureSize(data, stsd, videoCodec) : null;
    return {
      format: "mp4",
      videoCodec,
      videoFrames: samples > 0 || fragmented,
      width: size?.width ?? 0,
      height: size?.height ?? 0,
    };
  }
  return { format: "mp4", videoCodec: null, videoFrames: false, width: 0, height: 0 };
}

/** VisualSampleEntry: 8 bytes of SampleEntry, 16 reserved, width and height, then 50 more bytes. */
const VISUAL_SAMPLE_ENTRY_BYTES = 78;

/**
 * The picture size of an MP4 video track: from the SPS in avcC/hvcC (cropping applied) when the
 * codec is H.264/HEVC, else the sample entry's width and height.
 */
function mp4PictureSize(data: Buffer, stsd: Box, codec: string): PictureSize | null {
  const entry = [...boxes(data, stsd.start + 8, stsd.end)][0];
  if (!entry || entry.start + VISUAL_SAMPLE_ENTRY_BYTES > entry.end) return null;
  if (codec === "h264" || codec === "hevc") {
    const config = [...boxes(data, entry.start + VISUAL_SAMPLE_ENTRY_BYTES, entry.end)].find(
      (b) => b.type === (codec === "h264" ? "avcC" : "hvcC"),
    );
    const sps = config && (codec === "h264" ? avcCSps(data, config) : hvcCSps(data, config));
    const size = sps && spsSize(codec, sps);
    if (size) return size;
  }
  const width = data.readUInt16BE(entry.start + 24);
  const height = data.readUInt16BE(entry.start + 26);
  return width > 0 && height > 0 ? { width, height } : null;
}

/** The first SPS of an AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.3.3.1). */
function avcCSps(data: Buffer, box: Box): Buffer | null {
  const count = box.start + 6 <= box.end ? data[box.start + 5]! & 0x1f : 0;
  if (count === 0 || box.start + 8 > box.end) return null;
  const length = data.readUInt16BE(box.start + 6);
  const start = box.start + 8;
  return start + length <= box.end ? data.subarray(start, start + length) : null;
}

/** The first SPS of an HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 8.3.3.1). */
function hvcCSps(data: Buffer, box: Box): Buffer | null {
  if (box.start + 23 > box.end) return null;
  const arrays = data[box.start + 22]!;
  let off = box.start + 23;
  for (let a = 0; a < arrays && off + 3 <= box.end; a++) {
    const type = data[off]! & 0x3f;
    const count = data.readUInt16BE(off + 1);
    off += 3;
    for (let n = 0; n < count && off + 2 <= box.end; n++) {
      const length = data.readUInt16BE(off);
      off += 2;
      if (off + length > box.end) return null;
      if (type === 33) return data.subarray(off, off + length);
      off += length;
    }
  }
  return null;
}

/**
 * The presentation time of the first video PES packet of an MPEG-TS segment, in seconds (the
 * 90 kHz PTS as carried, no wrap-around handling); null for MP4, or when no video PES with a PTS
 * is found. Video PES packets are told by their stream id (0xE0-0xEF), so no PMT is needed.
 */
export function firstVideoPtsSec(data: Buffer): number | null {
  if (data.length < TS_PACKET || data[0] !== 0x47) return null;
  let pts: number | null = null;
  forEachTsPayload(data, (_pid, pusi, off, end) => {
    if (!pusi || off + 14 > end || !isPesStart(data, off)) return false;
    const streamId = data[off + 3]!;
    if (streamId < 0xe0 || streamId > 0xef || (data[off + 7]! & 0x80) === 0) return false; // not video, no PTS
    const b = (k: number) => data[off + 9 + k]!;
    // 33 bits over five bytes, marker bits between; multiplications keep it above 32 bits exact.
    pts =
      ((b(0) >> 1) & 0x07) * 2 ** 30 + b(1) * 2 ** 22 + (b(2) >> 1) * 2 ** 15 + b(3) * 2 ** 7 + (b(4) >> 1);
    return true;
  });
  return pts === null ? null : pts / 90_000;
}

/** Whether a payload at `off` opens a PES packet (start code 00 00 01). */
function isPesStart(data: Buffer, off: number): boolean {
  return data[off] === 0 && data[off + 1] === 0 && data[off + 2] === 1;
}

/**
 * Calls `visit` with the PID, payload-unit-start flag and payload span of every 188-byte MPEG-TS
 * packet that carries a payload, in order, until a packet is out of sync or `visit` returns true
 * (anything else goes on).
 */
function forEachTsPayload(
  data: Buffer,
  visit: (pid: number, pusi: boolean, off: number, end: number) => unknown,
): void {
  const packets = Math.floor(data.length / TS_PACKET);
  for (let i = 0; i < packets; i++) {
    const p = i * TS_PACKET;
    if (data[p] !== 0x47) return;
    const afc = (data[p + 3]! >> 4) & 0x3;
    if (afc === 0 || afc === 2) continue; // no payload
    const off = afc === 3 ? p + 5 + data[p + 4]! : p + 4;
    const end = p + TS_PACKET;
    if (off >= end) continue;
    if (visit(((data[p + 1]! & 0x1f) << 8) | data[p + 2]!, (data[p + 1]! & 0x40) !== 0, off, end) === true)
      return;
  }
}
