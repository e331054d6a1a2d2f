import { Capability } from "../protocol/capabilities.js";
import { type ChildProcesses, runForOutput } from "./ffmpeg/runFfmpeg.js";

/** Codec support an ffmpeg build reports with -encoders and -decoders. */
export interface CodecSupport {
  encoders: Set<string>;
  decoders: Set<string>;
}

/** Names from `ffmpeg -encoders` / `-decoders` output ("V..... libx264  libx264 H.264 ..."). */
export function parseCodecList(text: string): Set<string> {
  const out = new Set<string>();
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*[VAS][A-Z.]{5}\s+(\S+)/.exec(line);
    if (m && m[1] !== "=") out.add(m[1]!);
  }
  return out;
}

/** Ask an ffmpeg binary what it can encode and decode (once per process start; go-livepeer has this fixed at build time). */
export async function detectCodecs(
  ffmpegPath: string,
  children: ChildProcesses | null = null,
): Promise<CodecSupport> {
  // ffmpeg prints these lists on stdout.
  const list = async (flag: string) => {
    const r = await runForOutput(ffmpegPath, ["-hide_banner", flag], {
      timeoutMs: 15_000,
      maxStdout: 8 << 20,
      children,
    });
    if (r.code !== 0) throw new Error(r.stderr.trim().split("\n").pop() || `exit ${r.code ?? r.signal}`);
    return r.stdout;
  };
  return {
    encoders: parseCodecList(await list("-encoders")),
    decoders: parseCodecList(await list("-decoders")),
  };
}

/**
 * The transcoding capabilities a node advertises from what its ffmpeg can really do (go-livepeer
 * core/capabilities.go numbering). `hevcDecoding` forces HEVC decode on or off as -hevcDecoding.
 * `hybrid` says how many of the GPUs lack NVENC and encode H.264 with libx264 ("some" or "all";
 * default "none"): H.264 then needs libx264 (and h264_nvenc for the others), and HEVC encode is
 * not offered, since a session may land on a GPU that would encode it on the CPU.
 */
export function transcodingCapabilities(
  codecs: CodecSupport,
  options: { gpu: boolean; hevcDecoding?: boolean | undefined; hybrid?: "none" | "some" | "all" },
): number[] {
  const caps: number[] = [Capability.MPEGTS, Capability.MP4, Capability.FractionalFramerates, Capability.GOP];
  const hybrid = options.gpu ? (options.hybrid ?? "none") : "none";
  const h264Encoders = !options.gpu
    ? ["libx264"]
    : hybrid === "all"
      ? ["libx264"]
      : hybrid === "some"
        ? ["h264_nvenc", "libx264"]
        : ["h264_nvenc"];
  if (codecs.decoders.has("h264") && h264Encoders.every((e) => codecs.encoders.has(e))) {
    caps.push(
      Capability.H264,
      Capability.ProfileH264Baseline,
      Capability.ProfileH264Main,
      Capability.ProfileH264High,
      Capability.ProfileH264ConstrainedHigh,
    );
    // Software decoding handles 4:2:2, 4:4:4 and 10-bit input (converted to 8-bit 4:2:0); NVDEC does not.
    if (!options.gpu) {
      caps.push(
        Capability.H264_Decode_444_8bit,
        Capability.H264_Decode_422_8bit,
        Capability.H264_Decode_444_10bit,
        Capability.H264_Decode_422_10bit,
        Capability.H264_Decode_420_10bit,
      );
    }
  }
  if (codecs.decoders.has("hevc") && options.hevcDecoding !== false) caps.push(Capability.HEVC_Decode);
  if (options.hevcDecoding === true && !caps.includes(Capability.HEVC_Decode))
    caps.push(Capability.HEVC_Decode);
  if (hybrid === "none" && codecs.encoders.has(options.gpu ? "hevc_nvenc" : "libx265"))
    caps.push(Capability.HEVC_Encode);
  if (codecs.decoders.has("vp8")) caps.push(Capability.VP8_Decode);
  if (codecs.decoders.has("vp9")) caps.push(Capability.VP9_Decode);
  return caps.sort((a, b) => a - b);
}

/** The video codecs go-livepeer transcodes. */
export type MediaCodec = "h264" | "hevc" | "vp8" | "vp9";

/** Per codec: can this ffmpeg decode it, encode it in software, encode it with NVENC. */
export type CodecCapabilities = Record<
  MediaCodec,
  { decode: boolean; encode: boolean; nvencEncode: boolean }
>;

const SOFTWARE_ENCODERS: Record<MediaCodec, string> = {
  h264: "libx264",
  hevc: "libx265",
  vp8: "libvpx",
  vp9: "libvpx-vp9",
};
const NVENC_ENCODERS: Record<MediaCodec, string | null> = {
  h264: "h264_nvenc",
  hevc: "hevc_nvenc",
  vp8: null,
  vp9: null,
};

/** Which of H.264/HEVC/VP8/VP9 a parsed -decoders/-encoders list supports (lpms' build decides this in go-livepeer). */
export function codecCapabilities(codecs: CodecSupport): CodecCapabilities {
  const one = (c: MediaCodec) => {
    const nvenc = NVENC_ENCODERS[c];
    return {
      decode: codecs.decoders.has(c) || (c === "vp9" && codecs.decoders.has("libvpx-vp9")),
      encode: codecs.encoders.has(SOFTWARE_ENCODERS[c]),
      nvencEncode: nvenc !== null && codecs.encoders.has(nvenc),
    };
  };
  return { h264: one("h264"), hevc: one("hevc"), vp8: one("vp8"), vp9: one("vp9") };
}

/** Run `ffmpeg -encoders` and `-decoders` once and say which codecs it can decode and encode. */
export async function detectCapabilities(ffmpegPath: string): Promise<CodecCapabilities> {
  return codecCapabilities(await detectCodecs(ffmpegPath));
}
