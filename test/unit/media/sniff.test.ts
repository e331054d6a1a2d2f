import { readFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { firstVideoPtsSec, sniffSegment } from "../../../src/media/sniff.js";
import { makeClip, removeClips, segmentClip, stripTsPid } from "../../helpers/media.js";

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

describe("first video timestamp of an MPEG-TS segment", () => {
  /** One TS packet opening a PES packet of `streamId` with a PTS of `pts` (90 kHz ticks). */
  const pesPacket = (pid: number, streamId: number, pts: number) => {
    const p = Buffer.alloc(188, 0xff);
    p.set([0x47, 0x40 | (pid >> 8), pid & 0xff, 0x10]);
    const hi = Math.floor(pts / 2 ** 30) & 0x07;
    const lo = pts % 2 ** 30;
    p.set(
      [0, 0, 1, streamId, 0, 0, 0x80, 0x80, 5, 0x21 | (hi << 1), (lo >> 22) & 0xff, ((lo >> 14) & 0xfe) | 1],
      4,
    );
    p.set([(lo >> 7) & 0xff, ((lo << 1) & 0xfe) | 1], 16);
    return p;
  };

  it("reads the 33-bit PTS of the first video PES packet, skipping audio", () => {
    const pts = 2 ** 32 + 123_456; // above 32 bits, as a stream running for 13 hours has
    const ts = Buffer.concat([pesPacket(0x101, 0xc0, 90_000), pesPacket(0x100, 0xe0, pts)]);
    expect(firstVideoPtsSec(ts)).toBe(pts / 90_000);
    expect(firstVideoPtsSec(pesPacket(0x101, 0xc0, 90_000))).toBeNull();
    expect(firstVideoPtsSec(Buffer.from("not a segment"))).toBeNull();
  });

  it("gives consecutive segments of a stream their start times", () => {
    const segs = segmentClip(makeClip({ width: 160, height: 120, seconds: 6 }), 2);
    expect(segs).toHaveLength(3);
    const starts = segs.map((s) => firstVideoPtsSec(s)!);
    // Keyframes every 2 s: each segment starts exactly 2 s after the one before.
    expect(starts[1]! - starts[0]!).toBeCloseTo(2, 6);
    expect(starts[2]! - starts[1]!).toBeCloseTo(2, 6);
    expect(firstVideoPtsSec(readFileSync(makeClip({ format: "mp4", seconds: 1 })))).toBeNull();
  });
});
