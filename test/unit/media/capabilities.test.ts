import { describe, expect, it } from "vitest";
import {
  codecCapabilities,
  parseCodecList,
  transcodingCapabilities,
} from "../../../src/media/capabilities.js";
import { Capability } from "../../../src/protocol/capabilities.js";

const codecs = {
  encoders: parseCodecList(
    [
      "Encoders:",
      " V..... = Video",
      " ------",
      " V..... libx264              libx264 H.264 / AVC / MPEG-4 AVC / MPEG-4 part 10 (codec h264)",
      " V..... libx265              libx265 H.265 / HEVC (codec hevc)",
      " V..... h264_nvenc           NVIDIA NVENC H.264 encoder (codec h264)",
      " A..... aac                  AAC (Advanced Audio Coding)",
    ].join("\n"),
  ),
  decoders: parseCodecList(
    [
      " VFS..D h264                 H.264 / AVC / MPEG-4 AVC / MPEG-4 part 10",
      " VFS..D hevc                 HEVC (High Efficiency Video Coding)",
      " V....D libvpx-vp9           libvpx VP9 (codec vp9)",
    ].join("\n"),
  ),
};

describe("capabilities from the ffmpeg build", () => {
  it("parses -encoders/-decoders lists", () => {
    expect(codecs.encoders).toEqual(new Set(["libx264", "libx265", "h264_nvenc", "aac"]));
  });
  it("says which codecs decode and encode", () => {
    expect(codecCapabilities(codecs)).toEqual({
      h264: { decode: true, encode: true, nvencEncode: true },
      hevc: { decode: true, encode: true, nvencEncode: false },
      vp8: { decode: false, encode: false, nvencEncode: false },
      vp9: { decode: true, encode: false, nvencEncode: false },
    });
  });
  it("advertises what the binary can do", () => {
    const caps = transcodingCapabilities(codecs, { gpu: false });
    expect(caps).toEqual(
      expect.arrayContaining([
        Capability.H264,
        Capability.MPEGTS,
        Capability.MP4,
        Capability.HEVC_Decode,
        Capability.HEVC_Encode,
      ]),
    );
    expect(caps).not.toContain(Capability.VP8_Decode);
    expect(transcodingCapabilities(codecs, { gpu: false, hevcDecoding: false })).not.toContain(
      Capability.HEVC_Decode,
    );
    const gpu = transcodingCapabilities(codecs, { gpu: true });
    expect(gpu).toContain(Capability.H264);
    expect(gpu).not.toContain(Capability.HEVC_Encode);
    expect(gpu).not.toContain(Capability.H264_Decode_444_8bit);
  });
});
