import { readFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { sniffSegment } from "../../../src/media/sniff.js";
import { makeClip, removeClips, stripTsPid } from "../../helpers/media.js";

afterAll(() => removeClips());
const clip = (opts: Parameters<typeof makeClip>[0]) =>
  readFileSync(makeClip({ seconds: 1, width: 160, height: 120, ...opts }));

describe("segment sniffing (codec info without a child process)", () => {
  it("names the video codec of MPEG-TS and MP4 segments as ffmpeg does", () => {
    expect(sniffSegment(clip({}))).toEqual({
      format: "mpegts",
      videoCodec: "h264",
      videoFrames: true,
      width: 160,
      height: 120,
    });
    expect(sniffSegment(clip({ videoCodec: "libx265" }))).toMatchObject({ videoCodec: "hevc" });
    expect(sniffSegment(clip({ videoCodec: "mpeg2video" }))).toMatchObject({ videoCodec: "mpeg2video" });
    expect(sniffSegment(clip({ format: "mp4" }))).toEqual({
      format: "mp4",
      videoCodec: "h264",
      videoFrames: true,
      width: 160,
      height: 120,
    });
    expect(sniffSegment(clip({ format: "mp4", videoCodec: "libvpx-vp9" }))).toMatchObject({
      videoCodec: "vp9",
    });
  });

  it("reports audio-only segments and video streams without frames", () => {
    expect(sniffSegment(clip({ video: false }))).toMatchObject({ videoCodec: null, videoFrames: false });
    const noFrames = stripTsPid(clip({}), 0x100);
    expect(sniffSegment(noFrames)).toMatchObject({
      format: "mpegts",
      videoCodec: "h264",
      videoFrames: false,
    });
  });

  // Sizes that are not a multiple of the macroblock / coding block size need the SPS cropping
  // window (854 is coded as 864, 360 as 368, 1080 as 1088 in H.264; HEVC pads to 8).
  it.each([
    [1280, 720],
    [854, 480],
    [640, 360],
    [1920, 1080],
    [426, 240],
    [162, 98],
  ])("reads %ix%i from the SPS of H.264 and HEVC in MPEG-TS and MP4", (width, height) => {
    for (const format of ["mpegts", "mp4"] as const) {
      for (const videoCodec of ["libx264", "libx265"]) {
        const info = sniffSegment(clip({ width, height, format, videoCodec, audio: false, seconds: 0.2 }));
        expect(info, `${format} ${videoCodec}`).toMatchObject({ width, height });
      }
    }
  });

  it("reports no size for codecs without a parsed SPS and for corrupt parameter sets", () => {
    expect(sniffSegment(clip({ videoCodec: "mpeg2video" }))).toMatchObject({ width: 0, height: 0 });
    // Every SPS byte after the NAL header flipped: the size is unknown, not garbage.
    const ts = Buffer.from(clip({}));
    const sps = ts.indexOf(Buffer.from([0, 0, 1, 0x67]));
    expect(sps).toBeGreaterThan(0);
    for (let i = sps + 4; i < sps + 12; i++) ts[i] = 0;
    expect(sniffSegment(ts)).toMatchObject({ videoCodec: "h264", width: 0, height: 0 });
  });

  it("refuses bytes that are not a segment", () => {
    expect(() => sniffSegment(Buffer.from("segment twelve"))).toThrow(/Error getting codec info/);
    expect(() => sniffSegment(Buffer.alloc(188 * 3, 0x47))).toThrow(/program map/);
    const ftypOnly = Buffer.concat([Buffer.from([0, 0, 0, 12]), Buffer.from("ftypisom", "latin1")]);
    expect(() => sniffSegment(ftypOnly)).toThrow(/moov/);
    // Truncated and corrupted real segments never throw anything but the codec-info error.
    const real = clip({});
    for (const n of [200, 1000, 5000]) {
      try {
        sniffSegment(real.subarray(0, n));
      } catch (err) {
        expect(String(err)).toMatch(/Error getting codec info/);
      }
    }
  });
});
