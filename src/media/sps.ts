/**
 * Picture size from an H.264 or HEVC sequence parameter set (ITU-T H.264 7.3.2.1.1 and H.265
 * 7.3.2.2), with the cropping window applied, so a pushed segment's resolution is known without
 * a child process.
 */

/** Reads bits MSB first from an RBSP (emulation prevention bytes already removed). */
class BitReader {
  private pos = 0;
  constructor(private readonly data: Uint8Array) {}

  bit(): number {
    const byte = this.data[this.pos >> 3];
    if (byte === undefined) throw new RangeError("SPS ends early");
    const v = (byte >> (7 - (this.pos & 7))) & 1;
    this.pos += 1;
    return v;
  }

  bits(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 2 + this.bit();
    return v;
  }

  skip(n: number): void {
    if ((this.pos + n) >> 3 > this.data.length) throw new RangeError("SPS ends early");
    this.pos += n;
  }

  /** Exp-Golomb ue(v); more than 31 leading zeros is not a value an SPS can hold. */
  ue(): number {
    let zeros = 0;
    while (this.bit() === 0) {
      zeros += 1;
      if (zeros > 31) throw new RangeError("bad Exp-Golomb code");
    }
    return 2 ** zeros - 1 + this.bits(zeros);
  }

  se(): number {
    const k = this.ue();
    return k % 2 === 1 ? (k + 1) / 2 : -(k / 2);
  }
}

/** The RBSP of a NAL unit: 00 00 03 becomes 00 00. */
export function unescapeRbsp(nal: Uint8Array): Uint8Array {
  const out = new Uint8Array(nal.length);
  let n = 0;
  let zeros = 0;
  for (const b of nal) {
    if (zeros >= 2 && b === 3) {
      zeros = 0;
      continue;
    }
    out[n++] = b;
    zeros = b === 0 ? zeros + 1 : 0;
  }
  return out.subarray(0, n);
}

export interface PictureSize {
  width: number;
  height: number;
}

/** SubWidthC and SubHeightC by chroma_format_idc (monochrome and separate planes crop per sample). */
function chromaSubsampling(chromaFormat: number, separatePlanes: boolean): [number, number] {
  if (separatePlanes || chromaFormat === 0 || chromaFormat === 3) return [1, 1];
  return chromaFormat === 1 ? [2, 2] : [2, 1];
}

/** Width and height from an H.264 SPS NAL unit (header byte included), cropping applied. */
export function h264SpsSize(nal: Uint8Array): PictureSize {
  const r = new BitReader(unescapeRbsp(nal.subarray(1)));
  const profileIdc = r.bits(8);
  r.skip(16); // constraint flags, level_idc
  r.ue(); // seq_parameter_set_id
  let chromaFormat = 1;
  let separatePlanes = false;
  if ([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135].includes(profileIdc)) {
    chromaFormat = r.ue();
    if (chromaFormat === 3) separatePlanes = r.bit() === 1;
    r.ue(); // bit_depth_luma_minus8
    r.ue(); // bit_depth_chroma_minus8
    r.skip(1); // qpprime_y_zero_transform_bypass_flag
    if (r.bit() === 1) {
      for (let i = 0; i < (chromaFormat === 3 ? 12 : 8); i++) {
        if (r.bit() === 0) continue;
        let last = 8;
        let next = 8;
        for (let j = 0; j < (i < 6 ? 16 : 64) && next !== 0; j++) {
          next = (last + r.se() + 256) % 256;
          if (next !== 0) last = next;
        }
      }
    }
  }
  r.ue(); // log2_max_frame_num_minus4
  const pocType = r.ue();
  if (pocType === 0) r.ue();
  else if (pocType === 1) {
    r.skip(1);
    r.se();
    r.se();
    const cycle = r.ue();
    for (let i = 0; i < cycle; i++) r.se();
  }
  r.ue(); // max_num_ref_frames
  r.skip(1); // gaps_in_frame_num_value_allowed_flag
  const widthMbs = r.ue() + 1;
  const heightMapUnits = r.ue() + 1;
  const frameMbsOnly = r.bit();
  if (!frameMbsOnly) r.skip(1); // mb_adaptive_frame_field_flag
  r.skip(1); // direct_8x8_inference_flag
  let crop = [0, 0, 0, 0];
  if (r.bit() === 1) crop = [r.ue(), r.ue(), r.ue(), r.ue()];
  const [subW, subH] = chromaSubsampling(chromaFormat, separatePlanes);
  const mono = separatePlanes || chromaFormat === 0;
  const cropX = mono ? 1 : subW;
  const cropY = (mono ? 1 : subH) * (2 - frameMbsOnly);
  return {
    width: widthMbs * 16 - cropX * (crop[0]! + crop[1]!),
    height: (2 - frameMbsOnly) * heightMapUnits * 16 - cropY * (crop[2]! + crop[3]!),
  };
}

/** Width and height from an HEVC SPS NAL unit (2-byte header included), conformance window applied. */
export function hevcSpsSize(nal: Uint8Array): PictureSize {
  const r = new BitReader(unescapeRbsp(nal.subarray(2)));
  r.skip(4); // sps_video_parameter_set_id
  const subLayers = r.bits(3); // sps_max_sub_layers_minus1
  r.skip(1); // sps_temporal_id_nesting_flag
  // profile_tier_level: general part (2+1+5+32+48+8 bits), then per sub-layer flags and parts.
  r.skip(96);
  const profilePresent: number[] = [];
  const levelPresent: number[] = [];
  for (let i = 0; i < subLayers; i++) {
    profilePresent.push(r.bit());
    levelPresent.push(r.bit());
  }
  if (subLayers > 0) r.skip(2 * (8 - subLayers));
  for (let i = 0; i < subLayers; i++) {
    if (profilePresent[i]) r.skip(88);
    if (levelPresent[i]) r.skip(8);
  }
  r.ue(); // sps_seq_parameter_set_id
  const chromaFormat = r.ue();
  const separatePlanes = chromaFormat === 3 && r.bit() === 1;
  const width = r.ue();
  const height = r.ue();
  let crop = [0, 0, 0, 0];
  if (r.bit() === 1) crop = [r.ue(), r.ue(), r.ue(), r.ue()];
  const [subW, subH] = chromaSubsampling(chromaFormat, separatePlanes);
  return {
    width: width - subW * (crop[0]! + crop[1]!),
    height: height - subH * (crop[2]! + crop[3]!),
  };
}

/** A plausible picture size, or null (a corrupt SPS can decode to anything). */
function plausible(size: PictureSize): PictureSize | null {
  const ok = (n: number) => Number.isInteger(n) && n > 0 && n <= 16384;
  return ok(size.width) && ok(size.height) ? size : null;
}

/** Size from one SPS NAL unit of the given codec, or null when it cannot be read. */
export function spsSize(codec: "h264" | "hevc", nal: Uint8Array): PictureSize | null {
  try {
    return plausible(codec === "h264" ? h264SpsSize(nal) : hevcSpsSize(nal));
  } catch {
    return null;
  }
}

/** Whether a NAL unit (first header byte) is a sequence parameter set of the codec. */
export function isSpsNal(codec: "h264" | "hevc", header: number): boolean {
  return codec === "h264" ? (header & 0x1f) === 7 : ((header >> 1) & 0x3f) === 33;
}

/** The first SPS in an Annex B byte stream (start-code delimited NAL units), or null. */
export function findAnnexBSps(codec: "h264" | "hevc", es: Uint8Array): Uint8Array | null {
  for (let i = 0; i + 3 < es.length; i++) {
    if (es[i] !== 0 || es[i + 1] !== 0 || es[i + 2] !== 1) continue;
    const start = i + 3;
    if (!isSpsNal(codec, es[start]!)) continue;
    let end = start;
    while (end + 2 < es.length && !(es[end] === 0 && es[end + 1] === 0 && es[end + 2]! <= 1)) end += 1;
    return es.subarray(start, end + 2 < es.length ? end : es.length);
  }
  return null;
}
