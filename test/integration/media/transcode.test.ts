import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../../src/logger/logger.js";
import { detectCodecs, transcodingCapabilities } from "../../../src/media/capabilities.js";
import { liveChildren } from "../../../src/media/ffmpeg/runFfmpeg.js";
import { LocalTranscoder } from "../../../src/media/LocalTranscoder.js";
import { probe } from "../../../src/media/probe.js";
import { PRESETS, type VideoProfile } from "../../../src/media/profiles.js";
import type { SegmentJob } from "../../../src/orchestrator/SegmentTranscoder.js";
import { Capability } from "../../../src/protocol/capabilities.js";
import { SegDataSchema } from "../../../src/protocol/gen/lp_rpc_pb.js";
import { FFMPEG, makeClip } from "../../helpers/media.js";

let tc: LocalTranscoder;
let clip: Buffer;
let caps: number[];

const job = (data: Buffer, profiles: VideoProfile[], signal = new AbortController().signal): SegmentJob => ({
  sessionId: "abcd0001",
  manifestId: "m",
  seq: 0n,
  data,
  durationMs: 2000,
  profiles,
  segData: create(SegDataSchema),
  signal,
});

async function probeBuffer(data: Buffer, ext: string) {
  const f = join(mkdtempSync(join(tmpdir(), "lp-probe-")), `r${ext}`);
  writeFileSync(f, data);
  return probe(f, { countFrames: true });
}

beforeAll(async () => {
  caps = transcodingCapabilities(await detectCodecs(FFMPEG), { gpu: false });
  tc = new LocalTranscoder(
    { ffmpegPath: FFMPEG, capabilities: caps, gpus: null },
    { logger: silentLogger() },
  );
  clip = readFileSync(makeClip({ width: 320, height: 240, seconds: 2 }));
});

describe("LocalTranscoder with real ffmpeg", () => {
  it("detects H.264 support in the shipped ffmpeg", () => {
    expect(caps).toContain(Capability.H264);
  });

  it("turns a 2 s segment into two renditions with exact pixel counts", async () => {
    const profiles = [PRESETS["P144p30fps16x9"]!, { ...PRESETS["P240p25fps16x9"]!, format: "mp4" as const }];
    const out = await tc.transcode(job(clip, profiles));
    expect(out.renditions).toHaveLength(2);
    const [a, b] = await Promise.all([
      probeBuffer(out.renditions[0]!.data, ".ts"),
      probeBuffer(out.renditions[1]!.data, ".mp4"),
    ]);
    // 4:3 source: the larger requested dimension becomes the width, the height is derived.
    expect(a.video).toMatchObject({ codec: "h264", width: 256, height: 192, pixFmt: "yuv420p" });
    expect(a.formatName).toBe("mpegts");
    expect(a.audio?.codec).toBe("aac");
    expect(b.video).toMatchObject({ width: 426, height: 320 });
    expect(b.formatName).toContain("mp4");
    expect(a.video!.frames).toBeGreaterThanOrEqual(59);
    expect(b.video!.frames).toBeGreaterThanOrEqual(49);
    expect(out.renditions[0]!.pixels).toBe(a.video!.frames * 256 * 192);
    expect(out.renditions[1]!.pixels).toBe(b.video!.frames * 426 * 320);
    expect(a.durationSec).toBeGreaterThan(1.8);
    expect(a.durationSec).toBeLessThan(2.3);
    expect(out.decodedPixels).toBe(60 * 320 * 240);
    expect(out.ffmpegMs).toBeGreaterThan(0);
  });

  it("keeps an MP4 input working", async () => {
    const mp4 = readFileSync(makeClip({ format: "mp4", seconds: 1 }));
    const out = await tc.transcode(job(mp4, [PRESETS["P144p30fps16x9"]!]));
    expect(out.renditions[0]!.pixels).toBeGreaterThan(0);
  });

  it("rejects corrupt, truncated, audio-only and empty input with go-livepeer's texts", async () => {
    await expect(
      tc.transcode(job(Buffer.from("definitely not video".repeat(50)), [PRESETS["P144p30fps16x9"]!])),
    ).rejects.toMatchObject({
      message: "Invalid data found when processing input",
      retryable: false,
    });
    const audioOnly = readFileSync(makeClip({ video: false, seconds: 1 }));
    await expect(tc.transcode(job(audioOnly, [PRESETS["P144p30fps16x9"]!]))).rejects.toMatchObject({
      message: "TranscoderInvalidVideo",
      retryable: false,
    });
    await expect(tc.transcode(job(Buffer.alloc(0), [PRESETS["P144p30fps16x9"]!]))).rejects.toMatchObject({
      message: "TranscoderInvalidVideo",
    });
    // A truncated segment still has frames ffmpeg can decode; what it yields is counted exactly.
    const truncated = clip.subarray(0, Math.floor(clip.length / 3));
    const out = await tc.transcode(job(truncated, [PRESETS["P144p30fps16x9"]!])).catch((e: Error) => e);
    if (out instanceof Error) expect(out.message.length).toBeGreaterThan(0);
    else expect(out.renditions[0]!.pixels % (256 * 192)).toBe(0);
    expect(liveChildren.size).toBe(0);
  });

  it("kills ffmpeg when the request is cancelled and leaves no child", async () => {
    const ac = new AbortController();
    const p = tc.transcode(job(clip, [PRESETS["P720p30fps16x9"]!], ac.signal));
    setTimeout(() => ac.abort(), 50);
    await expect(p).rejects.toMatchObject({ code: "ABORTED" });
    expect(liveChildren.size).toBe(0);
  });
});
