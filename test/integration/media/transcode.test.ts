import { execFile } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../../src/logger/logger.js";
import { detectCapabilities } from "../../../src/media/capabilities.js";
import { ChildProcesses } from "../../../src/media/ffmpeg/runFfmpeg.js";
import { outputSize, scaleExpressions } from "../../../src/media/ffmpeg/transcodeArgs.js";
import { probe } from "../../../src/media/probe.js";
import { PRESETS, type VideoProfile } from "../../../src/media/profiles.js";
import { LocalTranscoder } from "../../../src/media/transcoder.js";
import {
  FFMPEG,
  FFPROBE,
  makeClip,
  probeFrames,
  removeClips,
  stripTsPid,
  tempFile,
} from "../../helpers/media.js";
import { tempDir } from "../../helpers/tmp.js";

const run = promisify(execFile);
const P = (name: string, over: Partial<VideoProfile> = {}): VideoProfile => ({ ...PRESETS[name]!, ...over });

let tc: LocalTranscoder;
let clip: Buffer;
/** The transcoder's child registry and work folder, as a node would pass them. */
const children = new ChildProcesses();
let workDir: string;

beforeAll(() => {
  workDir = tempDir();
  tc = new LocalTranscoder(
    { ffmpegPath: FFMPEG, ffprobePath: FFPROBE, workDir, children },
    { logger: silentLogger() },
  );
  clip = readFileSync(makeClip({ width: 320, height: 240, seconds: 2 }));
});
afterAll(() => removeClips());

describe("LocalTranscoder with real ffmpeg", () => {
  it("turns a 2 s segment into two renditions with exact pixel counts", async () => {
    const profiles = [P("P144p30fps16x9"), P("P240p25fps16x9", { format: "mp4" })];
    const out = await tc.transcode({ data: clip, durationMs: 2000, profiles });
    expect(out.renditions.map((r) => r.profile.name)).toEqual(["P144p30fps16x9", "P240p25fps16x9"]);
    const [a, b] = await Promise.all([
      probe(out.renditions[0]!.data, { countFrames: true, workDir }),
      probe(out.renditions[1]!.data, { countFrames: true, workDir }),
    ]);
    // 4:3 source: the larger requested dimension becomes the width, the height is derived.
    expect(a.video).toMatchObject({ codec: "h264", width: 256, height: 192, pixFmt: "yuv420p" });
    expect(a.formatName).toBe("mpegts");
    expect(a.audio?.codec).toBe("aac");
    expect(b.video).toMatchObject({ width: 426, height: 320 });
    expect(b.formatName).toContain("mp4");
    expect(b.audio?.codec).toBe("aac");
    expect(a.video!.frames).toBe(60);
    expect(b.video!.frames).toBe(50);
    expect(out.renditions[0]!.pixels).toBe(a.video!.frames * 256 * 192);
    expect(out.renditions[1]!.pixels).toBe(b.video!.frames * 426 * 320);
    expect(a.durationSec).toBeGreaterThan(1.8);
    expect(a.durationSec).toBeLessThan(2.3);
    expect(out.decodedPixels).toBe(60 * 320 * 240);
    expect(out.ffmpegMs).toBeGreaterThan(0);
    // The first frame of every rendition is a keyframe, and the source's timestamps are kept.
    const src = probeFrames(tempFile(clip, ".ts"));
    const frames = probeFrames(tempFile(out.renditions[0]!.data, ".ts"));
    expect(frames[0]!.keyFrame).toBe(true);
    expect(Math.abs(frames[0]!.pts - src[0]!.pts)).toBeLessThan(0.05);
  });

  it("honours intra-only, GOP by time with fps passthrough, and HEVC", async () => {
    const profiles = [
      P("P144p30fps16x9", { gopMs: -1, name: "intra" }),
      P("P144p30fps16x9", { fps: 0, gopMs: 500, name: "gop" }),
      P("P144p30fps16x9", { codec: "h265", name: "hevc" }),
    ];
    const out = await tc.transcode({ data: clip, durationMs: 2000, profiles });
    const intra = probeFrames(tempFile(out.renditions[0]!.data, ".ts"));
    expect(intra).toHaveLength(60);
    expect(intra.every((f) => f.keyFrame)).toBe(true);
    const gop = probeFrames(tempFile(out.renditions[1]!.data, ".ts"));
    expect(gop).toHaveLength(60);
    const keys = gop.filter((f) => f.keyFrame).length;
    expect(keys).toBeGreaterThanOrEqual(4);
    expect(keys).toBeLessThanOrEqual(5);
    const hevc = await probe(out.renditions[2]!.data, { countFrames: true, workDir });
    expect(hevc.video).toMatchObject({ codec: "hevc", width: 256, height: 192, frames: 60 });
    expect(out.renditions[2]!.pixels).toBe(60 * 256 * 192);
  });

  it("keeps an MP4 input working", async () => {
    const mp4 = readFileSync(makeClip({ format: "mp4", seconds: 1 }));
    const out = await tc.transcode({ data: mp4, durationMs: 1000, profiles: [P("P144p30fps16x9")] });
    expect(out.renditions[0]!.pixels).toBe(30 * 256 * 192);
  });

  it("sizes renditions in ffmpeg exactly as the TypeScript rule says", async () => {
    const sources: [number, number][] = [
      [640, 360],
      [320, 240],
      [1080, 1920],
      [1000, 100],
      [98, 1002],
    ];
    for (const profile of [P("P240p30fps16x9"), P("P720p30fps16x9")]) {
      const { w, h } = scaleExpressions(profile);
      for (const [sw, sh] of sources) {
        const { stderr } = await run(FFMPEG, [
          "-hide_banner",
          "-f",
          "lavfi",
          "-i",
          `color=size=${sw}x${sh}:rate=1`,
          "-frames:v",
          "1",
          "-vf",
          `scale=w='${w}':h='${h}'`,
          "-f",
          "rawvideo",
          "-y",
          "/dev/null",
        ]);
        const m = /Output #0[\s\S]*?Video: rawvideo[^\n]*?, (\d+)x(\d+)/.exec(stderr)!;
        expect({ width: Number(m[1]), height: Number(m[2]) }).toEqual(outputSize(sw, sh, profile));
      }
    }
    expect(outputSize(640, 360, P("P240p30fps16x9"))).toEqual({ width: 426, height: 240 });
  });
});

describe("LocalTranscoder errors", () => {
  const one = [P("P144p30fps16x9")];
  it("rejects corrupt, audio-only, zero-frame, unsupported-codec and empty input with go-livepeer's texts", async () => {
    await expect(
      tc.transcode({ data: Buffer.from("definitely not video".repeat(50)), durationMs: 2000, profiles: one }),
    ).rejects.toMatchObject({ message: "Invalid data found when processing input", retryable: true });
    const audioOnly = readFileSync(makeClip({ video: false, seconds: 1 }));
    await expect(tc.transcode({ data: audioOnly, durationMs: 1000, profiles: one })).rejects.toMatchObject({
      message: "TranscoderInvalidVideo",
      retryable: false,
    });
    await expect(
      tc.transcode({ data: stripTsPid(clip, 0x100), durationMs: 2000, profiles: one }),
    ).rejects.toMatchObject({ code: "ZERO_FRAMES", message: "TranscoderInvalidVideo", retryable: false });
    const mpeg2 = readFileSync(makeClip({ videoCodec: "mpeg2video", seconds: 1 }));
    await expect(tc.transcode({ data: mpeg2, durationMs: 1000, profiles: one })).rejects.toMatchObject({
      message: "Unsupported input codec",
      retryable: false,
    });
    await expect(
      tc.transcode({ data: Buffer.alloc(0), durationMs: 2000, profiles: one }),
    ).rejects.toMatchObject({
      message: "TranscoderInvalidVideo",
    });
    await expect(
      tc.transcode({ data: clip, durationMs: 2000, profiles: Array.from({ length: 11 }, () => one[0]!) }),
    ).rejects.toMatchObject({ message: "Too many outputs" });
    expect(children.size).toBe(0);
    // Every segment's folder under the work folder is gone, failed runs included.
    expect(readdirSync(workDir)).toEqual([]);
  });

  it("counts exactly what a truncated segment still yields", async () => {
    const truncated = clip.subarray(0, Math.floor(clip.length / 3) + 77);
    const out = await tc.transcode({ data: truncated, durationMs: 2000, profiles: one });
    const p = await probe(out.renditions[0]!.data, { countFrames: true, workDir });
    expect(p.video!.frames).toBeGreaterThan(0);
    expect(p.video!.frames).toBeLessThan(60);
    expect(out.renditions[0]!.pixels).toBe(p.video!.frames * 256 * 192);
  });

  it("kills ffmpeg when the request is cancelled or times out and leaves no child", async () => {
    const ac = new AbortController();
    const p = tc.transcode({
      data: clip,
      durationMs: 2000,
      profiles: [P("P720p30fps16x9")],
      signal: ac.signal,
    });
    setTimeout(() => ac.abort(), 50);
    await expect(p).rejects.toMatchObject({ code: "ABORTED", retryable: true });
    const slow = new LocalTranscoder(
      { ffmpegPath: FFMPEG, timeoutMs: 30, workDir, children },
      { logger: silentLogger() },
    );
    await expect(
      slow.transcode({ data: clip, durationMs: 2000, profiles: [P("P720p30fps16x9")] }),
    ).rejects.toMatchObject({ code: "FFMPEG_TIMEOUT", retryable: true });
    expect(children.size).toBe(0);
    expect(readdirSync(workDir)).toEqual([]);
  });
});

describe("ffmpeg and ffprobe helpers", () => {
  it("detects the codecs of the shipped ffmpeg", async () => {
    const caps = await detectCapabilities(FFMPEG);
    expect(caps.h264).toEqual({ decode: true, encode: true, nvencEncode: false });
    expect(caps.hevc.encode).toBe(true);
    expect(caps.vp9.decode).toBe(true);
  });
  it("probes buffers and turns garbage into an LpError", async () => {
    const p = await probe(clip, { countFrames: true, workDir, children });
    expect(p.video).toMatchObject({ width: 320, height: 240, frames: 60 });
    await expect(probe(Buffer.from("garbage".repeat(10)), { workDir })).rejects.toMatchObject({
      code: "PROBE_FAILED",
    });
    await expect(probe("/no/such/file.ts")).rejects.toMatchObject({ code: "PROBE_FAILED" });
  });
});
