import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LpError } from "../../../src/errors/LpError.js";
import { silentLogger } from "../../../src/logger/logger.js";
import { ChildProcesses } from "../../../src/media/ffmpeg/runFfmpeg.js";
import { outputSize } from "../../../src/media/ffmpeg/transcodeArgs.js";
import { probe } from "../../../src/media/probe.js";
import { PRESETS } from "../../../src/media/profiles.js";
import { type LocalTranscodeResult, LocalTranscoder } from "../../../src/media/transcoder.js";
import { isAlive } from "../../../src/utils/process.js";
import {
  FFMPEG,
  FFPROBE,
  makeClip,
  probeFrames,
  removeClips,
  segmentClip,
  tempFile,
} from "../../helpers/media.js";
import { tempDir } from "../../helpers/tmp.js";

const ladder = [PRESETS["P144p30fps16x9"]!, PRESETS["P240p30fps16x9"]!];
let segments: { data: Buffer; durationSec: number; frames: number }[] = [];

/** Poll until `ok` holds (generous bound: the machine may be loaded; no timing is asserted). */
async function until(ok: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error("condition not reached");
    await new Promise((r) => setTimeout(r, 20));
  }
}

const warmDirs = (dir: string) => readdirSync(dir).filter((n) => n.startsWith("lp-warm-"));

beforeAll(async () => {
  // 20 s of 320x240 with a keyframe every 2 s, cut into ten 2 s MPEG-TS segments as a gateway would.
  const dir = tempDir();
  segments = await Promise.all(
    segmentClip(makeClip({ width: 320, height: 240, seconds: 20 }), 2).map(async (data) => {
      const p = await probe(data, { countFrames: true, workDir: dir });
      return { data, durationSec: p.durationSec, frames: p.video!.frames };
    }),
  );
}, 120_000);
afterAll(() => removeClips());

function engine(children: ChildProcesses, workDir: string, warmIdleMs?: number): LocalTranscoder {
  return new LocalTranscoder(
    { ffmpegPath: FFMPEG, ffprobePath: FFPROBE, workDir, children, warmIdleMs, warm: true },
    { logger: silentLogger() },
  );
}

describe("warm per-stream transcode sessions (real ffmpeg)", () => {
  it("transcodes 10 consecutive segments into complete, keyframe-first renditions with exact pixels", async () => {
    expect(segments).toHaveLength(10);
    const children = new ChildProcesses();
    const workDir = tempDir();
    const tc = engine(children, workDir);
    const warm: boolean[] = [];
    for (const [k, seg] of segments.entries()) {
      if (k > 0) await until(() => children.size === 1); // the spare is up before the segment arrives
      const spare = children.pids();
      const out = await tc.transcode({ data: seg.data, durationMs: 2000, profiles: ladder, sessionId: "s1" });
      warm.push(out.warm === true);
      // The spare took this segment and is gone: one process per segment, never reused.
      for (const pid of spare) expect(children.pids()).not.toContain(pid);
      for (const [i, r] of out.renditions.entries()) {
        const size = outputSize(320, 240, ladder[i]!);
        const p = await probe(r.data, { countFrames: true, workDir });
        expect(p.formatName).toBe("mpegts");
        expect(p.video).toMatchObject({ codec: "h264", width: size.width, height: size.height });
        expect(p.video!.frames).toBe(seg.frames);
        expect(r.pixels).toBe(p.video!.frames * size.width * size.height);
        expect(Math.abs(p.durationSec - seg.durationSec)).toBeLessThan(0.2);
        expect(probeFrames(tempFile(r.data, ".ts"))[0]!.keyFrame).toBe(true);
      }
    }
    // The stream's first segment has no spare yet; every later one finds one ready.
    expect(warm).toEqual([false, true, true, true, true, true, true, true, true, true]);
    expect(tc.warmSessions).toBe(1);
    await tc.stop();
    expect(children.size).toBe(0);
    expect(warmDirs(workDir)).toEqual([]);
  }, 300_000);

  it("fails a corrupt segment alone: the session restarts and the next segment succeeds", async () => {
    const children = new ChildProcesses();
    const workDir = tempDir();
    const tc = engine(children, workDir);
    const job = (data: Buffer) => ({ data, durationMs: 2000, profiles: ladder, sessionId: "s2" });
    for (const seg of segments.slice(0, 3)) await tc.transcode(job(seg.data));
    const err = await tc.transcode(job(randomBytes(segments[3]!.data.length))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LpError);
    // Its session was closed with it: no spare of the failed session is left running.
    expect(tc.warmSessions).toBe(0);
    expect(children.size).toBe(0);
    for (const seg of segments.slice(4, 6)) {
      const out = await tc.transcode(job(seg.data));
      expect(out.renditions).toHaveLength(2);
      const p = await probe(out.renditions[1]!.data, { countFrames: true, workDir });
      expect(p.video!.frames).toBe(seg.frames);
      const size = outputSize(320, 240, ladder[1]!);
      expect(out.renditions[1]!.pixels).toBe(seg.frames * size.width * size.height);
    }
    await tc.stop();
    expect(children.size).toBe(0);
    expect(warmDirs(workDir)).toEqual([]);
  }, 300_000);

  it("transcodes two segments of a stream at once and the rest in turn; a corrupt one beside them fails alone", async () => {
    const children = new ChildProcesses();
    const workDir = tempDir();
    const tc = engine(children, workDir);
    const job = (data: Buffer, signal?: AbortSignal) => ({
      data,
      durationMs: 2000,
      profiles: ladder,
      sessionId: "s6",
      signal,
    });
    const cancel = new AbortController();
    const bad = randomBytes(segments[1]!.data.length);
    const runs = [
      tc.transcode(job(segments[0]!.data)),
      tc.transcode(job(bad)),
      tc.transcode(job(segments[2]!.data, cancel.signal)),
      tc.transcode(job(segments[3]!.data)),
    ];
    // Handed over together: two run, the others wait in line, and one of those is called off.
    expect(tc.streamSegments("s6")).toEqual({ running: 2, waiting: 2 });
    cancel.abort();
    const [first, corrupt, cancelled, last] = (await Promise.allSettled(runs)) as [
      PromiseSettledResult<LocalTranscodeResult>,
      PromiseSettledResult<LocalTranscodeResult>,
      PromiseSettledResult<LocalTranscodeResult>,
      PromiseSettledResult<LocalTranscodeResult>,
    ];
    expect(corrupt.status).toBe("rejected");
    expect((corrupt as PromiseRejectedResult).reason).toBeInstanceOf(LpError);
    expect((cancelled as PromiseRejectedResult).reason).toMatchObject({ code: "ABORTED" });
    // The segment running beside the corrupt one and the one after it are whole.
    for (const [k, r] of [
      [0, first],
      [3, last],
    ] as const) {
      expect(r.status).toBe("fulfilled");
      const out = (r as PromiseFulfilledResult<LocalTranscodeResult>).value;
      const size = outputSize(320, 240, ladder[1]!);
      expect(out.renditions[1]!.pixels).toBe(segments[k]!.frames * size.width * size.height);
      expect(probeFrames(tempFile(out.renditions[1]!.data, ".ts"))[0]!.keyFrame).toBe(true);
    }
    expect(tc.streamSegments("s6")).toEqual({ running: 0, waiting: 0 });
    await tc.stop();
    expect(children.size).toBe(0);
    expect(warmDirs(workDir)).toEqual([]);
  }, 300_000);

  it("reaps the session of a stream that stops sending: no process left after the idle timeout", async () => {
    const children = new ChildProcesses();
    const workDir = tempDir();
    const tc = engine(children, workDir, 300);
    await tc.transcode({ data: segments[0]!.data, durationMs: 2000, profiles: ladder, sessionId: "s3" });
    await until(() => children.size === 1);
    expect(tc.warmSessions).toBe(1);
    await until(() => tc.warmSessions === 0 && children.size === 0 && warmDirs(workDir).length === 0);
  }, 120_000);

  it("lists every spare in the owner's registry, so stopping the node kills it", async () => {
    const children = new ChildProcesses();
    const workDir = tempDir();
    const tc = engine(children, workDir);
    const job = (k: number) => ({
      data: segments[k]!.data,
      durationMs: 2000,
      profiles: ladder,
      sessionId: "s4",
    });
    await tc.transcode(job(0));
    await until(() => children.size === 1);
    const [spare] = children.pids();
    expect(isAlive(spare!)).toBe(true);
    // What LpNode.stop (SIGTERM) does with its registry.
    await children.killAll();
    expect(isAlive(spare!)).toBe(false);
    // A spare that died while waiting is replaced, not fed.
    const out = await tc.transcode(job(1));
    expect(out.warm).toBe(false);
    expect(out.renditions[0]!.pixels).toBe(segments[1]!.frames * 256 * 192);
    await tc.stop();
    expect(children.size).toBe(0);
  }, 120_000);

  it("keeps segments without a session, and MP4 segments, on a fresh process each", async () => {
    const children = new ChildProcesses();
    const workDir = tempDir();
    const tc = engine(children, workDir);
    const out = await tc.transcode({ data: segments[0]!.data, durationMs: 2000, profiles: ladder });
    expect(out.warm).toBeUndefined();
    const mp4 = readFileSync(makeClip({ format: "mp4", seconds: 1 }));
    const m = await tc.transcode({ data: mp4, durationMs: 1000, profiles: ladder, sessionId: "s5" });
    expect(m.warm).toBeUndefined();
    expect(tc.warmSessions).toBe(0);
    expect(children.size).toBe(0);
  }, 120_000);
});

describe("the default", () => {
  it("is warm with NVIDIA GPUs and one process per segment on the CPU, where warm measured no gain", () => {
    const children = new ChildProcesses();
    const make = (extra: object) =>
      new LocalTranscoder(
        { ffmpegPath: FFMPEG, workDir: tempDir("lp-warm-"), children, ...extra },
        { logger: silentLogger() },
      );
    expect(make({}).warmEnabled).toBe(false);
    expect(make({ nvidia: ["0"] }).warmEnabled).toBe(true);
    expect(make({ nvidia: ["0"], warm: false }).warmEnabled).toBe(false);
    expect(make({ warm: true }).warmEnabled).toBe(true);
  });
});
