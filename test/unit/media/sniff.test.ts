import { readFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { sniffSegment } from "../../../src/media/sniff.js";
import { makeClip, removeClips, stripTsPid } from "../../helpers/media.js";

afterAll(() => removeClips());
const clip = (opts: Parameters<typeof makeClip>[0]) =>
  readFileSync(makeClip({ seconds: 1, width: 160, height: 120, ...opts }));

describe("segment sniffing (codec info without a child process)", () => {
  it("names the video codec of MPEG-TS and MP4 segments as ffmpeg does", () => {
    expect(sniffSegment(clip({}))).toEqual({ format: "mpegts", videoCodec: "h264", videoFrames: true });
    expect(sniffSegment(clip({ videoCodec: "libx265" }))).toMatchObject({ videoCodec: "hevc" });
    expect(sniffSegment(clip({ videoCodec: "mpeg2video" }))).toMatchObject({ videoCodec: "mpeg2video" });
    expect(sniffSegment(clip({ format: "mp4" }))).toEqual({
      format: "mp4",
      videoCodec: "h264",
      videoFrames: true,
    });
    expect(sniffSegment(clip({ format: "mp4", videoCodec: "libvpx-vp9" }))).toMatchObject({
      videoCodec: "vp9",
    });
  });

  it("reports audio-only segments and video streams without frames", () => {
    expect(sniffSegment(clip({ video: false }))).toMatchObject({ videoCodec: null, videoFrames: false });
    const noFrames = stripTsPid(clip({}), 0x100);
    expect(sniffSegment(noFrames)).toEqual({ format: "mpegts", videoCodec: "h264", videoFrames: false });
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
