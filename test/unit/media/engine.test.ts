import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { LpError } from "../../../src/errors/LpError.js";
import { silentLogger } from "../../../src/logger/logger.js";
import { parseCodecList, transcodingCapabilities } from "../../../src/media/capabilities.js";
import { classifyFfmpegFailure, isNonRetryable } from "../../../src/media/ffmpeg/errors.js";
import { parseFfmpegStats } from "../../../src/media/ffmpeg/stats.js";
import {
  encoderFor,
  outputSize,
  scaleExpressions,
  transcodeArgs,
} from "../../../src/media/ffmpeg/transcodeArgs.js";
import { GpuBalancer, streamLoad } from "../../../src/media/gpu/GpuBalancer.js";
import { parseNvidiaSmi, resolveNvidiaDevices } from "../../../src/media/gpu/nvidiaSmi.js";
import { testGpus } from "../../../src/media/gpu/startupTest.js";
import {
  PRESETS,
  parseJsonProfiles,
  parseTranscodingOptions,
  presetId,
  type VideoProfile,
} from "../../../src/media/profiles.js";
import { Capability } from "../../../src/protocol/capabilities.js";

const P = (name: string, over: Partial<VideoProfile> = {}): VideoProfile => ({ ...PRESETS[name]!, ...over });
const fixture = (f: string) =>
  readFileSync(new URL(`../../fixtures/nvidia-smi/${f}`, import.meta.url), "utf8");

describe("profiles", () => {
  it("has the 14 presets with go-livepeer's IDs", () => {
    expect(Object.keys(PRESETS)).toHaveLength(14);
    expect(presetId("P720p60fps16x9")).toBe("a7ac137a");
    expect(presetId("P240p30fps16x9")).toBe("c0a6517a");
    expect(presetId("P144p25fps16x9")).toBe("03f01d1f");
    expect(PRESETS["P360p30fps4x3"]).toMatchObject({ width: 480, height: 360, bitrate: 1_000_000, fps: 30 });
  });
  it("parses preset lists and refuses unknown names", () => {
    expect(parseTranscodingOptions("P240p30fps16x9, P720p30fps16x9", () => null).map((p) => p.name)).toEqual([
      "P240p30fps16x9",
      "P720p30fps16x9",
    ]);
    expect(() => parseTranscodingOptions("P240p30fps16x9,P999", () => null)).toThrow(
      /unknown transcoding profile "P999"/,
    );
    expect(() => parseTranscodingOptions("", () => null)).toThrow("No transcoding profiles found");
  });
  it("parses go-livepeer's JSON profile files", () => {
    const json = JSON.stringify([
      {
        name: "a",
        width: 1280,
        height: 720,
        bitrate: 3000000,
        fps: 30000,
        fpsDen: 1001,
        profile: "H264High",
        gop: "2",
      },
      { width: 640, height: 360, bitrate: 800000, gop: "intra", encoder: "HEVC", format: "mp4" },
    ]);
    const [a, b] = parseTranscodingOptions("/p.json", (f) => (f === "/p.json" ? json : null));
    expect(a).toMatchObject({
      name: "a",
      fps: 30000,
      fpsDen: 1001,
      profile: "high",
      gopMs: 2000,
      codec: "h264",
    });
    expect(b).toMatchObject({
      name: "custom_640x360_800000",
      gopMs: -1,
      codec: "h265",
      format: "mp4",
      fps: 0,
    });
    expect(() => parseJsonProfiles("{")).toThrow(/invalid character/);
    expect(() => parseJsonProfiles('[{"width":"x"}]')).toThrow(/must be a non-negative integer/);
    expect(() => parseJsonProfiles("[]")).toThrow("No transcoding profiles found");
    expect(() => parseJsonProfiles('[{"width":1,"height":1,"gop":"-1"}]')).toThrow(/invalid gop/);
  });
});

describe("output sizes (lpms aspect rule)", () => {
  it("honours the larger requested dimension and derives the other like -2", () => {
    expect(outputSize(640, 360, P("P240p30fps16x9"))).toEqual({ width: 426, height: 240 });
    expect(outputSize(1920, 1080, P("P720p30fps16x9"))).toEqual({ width: 1280, height: 720 });
    expect(outputSize(640, 480, P("P720p30fps16x9"))).toEqual({ width: 1280, height: 960 });
    expect(outputSize(1080, 1920, P("P360p30fps16x9"))).toEqual({ width: 360, height: 640 });
  });
  it("pins a derived side under the encoder minimum", () => {
    // A very wide source: 256 * 100/1000 = 25.6 < 50, so height is pinned to 50.
    expect(outputSize(1000, 100, P("P144p30fps16x9"))).toEqual({ width: 500, height: 50 });
  });
  it("expresses the same rule for the scale filter", () => {
    const { w, h } = scaleExpressions(P("P240p30fps16x9"));
    expect(w).toContain("426");
    expect(h).toContain("-2");
  });
});

describe("ffmpeg argv", () => {
  const outs = [
    { path: "/o/0.ts", profile: P("P240p30fps16x9") },
    { path: "/o/1.mp4", profile: P("P720p30fps16x9", { format: "mp4", profile: "baseline", gopMs: 2000 }) },
  ];
  it("decodes once and splits to every rendition on the CPU", () => {
    const a = transcodeArgs({ input: "/i.ts", outputs: outs, gpu: null });
    const fc = a[a.indexOf("-filter_complex") + 1]!;
    expect(fc.startsWith("[0:v:0]split=2[s0][s1];")).toBe(true);
    expect(fc).toContain("format=yuv420p,fps=30/1[v0]");
    expect(a.filter((x) => x === "-i")).toHaveLength(1);
    expect(a.filter((x) => x === "libx264")).toHaveLength(2);
    const second = a.slice(a.indexOf("/o/0.ts") + 1);
    expect(second).toEqual(
      expect.arrayContaining([
        "-profile:v",
        "baseline",
        "-bf",
        "0",
        "-g",
        "60",
        "-movflags",
        "+faststart",
        "mp4",
      ]),
    );
    expect(a).toEqual(
      expect.arrayContaining([
        "-b:v",
        "600000",
        "-minrate",
        "600000",
        "-maxrate",
        "600000",
        "-bufsize",
        "600000",
      ]),
    );
    expect(a).toEqual(expect.arrayContaining(["-c:a", "copy", "-copyts", "-muxdelay", "0", "-map", "0:a?"]));
  });
  it("uses one null filter for one rendition, GOP by time without fps, intra-only and CRF", () => {
    const a = transcodeArgs({
      input: "/i.ts",
      outputs: [{ path: "/o.ts", profile: P("P360p30fps16x9", { fps: 0, gopMs: 1500, quality: 23 }) }],
      gpu: null,
    });
    expect(a[a.indexOf("-filter_complex") + 1]).toMatch(/^\[0:v:0\]null\[s0\];\[s0\]scale=/);
    expect(a).toEqual(
      expect.arrayContaining(["-force_key_frames", "expr:gte(t,n_forced*1.5)", "-crf", "23"]),
    );
    const intra = transcodeArgs({
      input: "/i",
      outputs: [{ path: "/o.ts", profile: P("P360p30fps16x9", { gopMs: -1 }) }],
      gpu: null,
    });
    expect(intra).toEqual(expect.arrayContaining(["-g", "1"]));
    const hevc = transcodeArgs({
      input: "/i",
      outputs: [{ path: "/o.ts", profile: P("P360p30fps16x9", { codec: "h265" }) }],
      gpu: null,
    });
    expect(hevc).toContain("libx265");
  });
  it("builds NVDEC + GPU scaling + NVENC argv without B-frames", () => {
    const a = transcodeArgs({ input: "/i.ts", outputs: outs, gpu: "1" });
    expect(a.slice(a.indexOf("-hwaccel"), a.indexOf("-i"))).toEqual([
      "-hwaccel",
      "cuda",
      "-hwaccel_output_format",
      "cuda",
      "-hwaccel_device",
      "1",
    ]);
    const fc = a[a.indexOf("-filter_complex") + 1]!;
    expect(fc).toContain("scale_cuda=w=");
    expect(fc).not.toContain("format=yuv420p");
    expect(a.filter((x) => x === "h264_nvenc")).toHaveLength(2);
    expect(a.filter((x) => x === "-bf").length).toBe(2);
    expect(a[a.indexOf("-bf") + 1]).toBe("0");
    const npp = transcodeArgs({ input: "/i.ts", outputs: outs, gpu: "0", npp: true });
    expect(npp[npp.indexOf("-filter_complex") + 1]).toContain("scale_npp=w=");
    const cq = transcodeArgs({
      input: "/i",
      outputs: [{ path: "/o.ts", profile: P("P360p30fps16x9", { quality: 20 }) }],
      gpu: "0",
    });
    expect(cq).toEqual(expect.arrayContaining(["-cq", "27"]));
    expect(encoderFor(P("P360p30fps16x9", { codec: "h265" }), true)).toBe("hevc_nvenc");
    expect(encoderFor(P("P360p30fps16x9", { codec: "vp9" }), true)).toBeNull();
  });
});

describe("ffmpeg stderr", () => {
  const stderr = [
    "Input #0, mpegts, from 'in.ts':",
    "    Stream #0:0[0x100]: Video: h264 (High) ([27][0][0][0] / 0x001B), yuv420p(progressive), 640x360 [SAR 1:1 DAR 16:9], 30 fps, 30 tbr, 90k tbn, 60 tbc",
    "    Stream #0:1[0x101]: Audio: aac (LC) ([15][0][0][0] / 0x000F), 44100 Hz, mono, fltp, 4 kb/s",
    "Output #0, mpegts, to 'o0.ts':",
    "    Stream #0:0: Video: h264 (libx264), 1 reference frame, yuv420p(left), 426x240 [SAR 640:639 DAR 16:9], q=-1--1, 600 kb/s, 30 fps, 90k tbn, 30 tbc",
    "Output #1, mp4, to 'o1.mp4':",
    "    Stream #1:0: Video: h264 (libx264), 1 reference frame (avc1 / 0x31637661), yuv420p(left), 640x360 [SAR 1:1 DAR 16:9], q=-1--1, 25 fps, 12800 tbn, 25 tbc",
    "  Input stream #0:0 (video): 60 packets read (14453 bytes); 60 frames decoded; ",
    "  Output stream #0:0 (video): 60 frames encoded; 60 packets muxed (52359 bytes); ",
    "  Output stream #1:0 (video): 50 frames encoded; 50 packets muxed (15755 bytes); ",
  ].join("\n");
  it("reads sizes and frame counts per output", () => {
    const s = parseFfmpegStats(stderr);
    expect(s.input).toMatchObject({
      width: 640,
      height: 360,
      codec: "h264",
      pixFmt: "yuv420p",
      hasAudio: true,
    });
    expect(s.decodedFrames).toBe(60);
    expect(s.outputs).toEqual([
      { frames: 60, width: 426, height: 240 },
      { frames: 50, width: 640, height: 360 },
    ]);
  });
  it("classifies failures with go-livepeer's texts and retry class", () => {
    const bad = classifyFfmpegFailure("in.ts: Invalid data found when processing input");
    expect(bad.message).toBe("Invalid data found when processing input");
    expect(bad.retryable).toBe(false);
    const novideo = classifyFfmpegFailure(
      "Stream specifier ':v:0' in filtergraph description [0:v:0]null[s0] matches no streams.",
    );
    expect(novideo.message).toBe("TranscoderInvalidVideo");
    expect(isNonRetryable(novideo.message)).toBe(true);
    const nvenc = classifyFfmpegFailure("[h264_nvenc @ 0x1] OpenEncodeSessionEx failed: out of memory (10)");
    expect(nvenc.message).toBe("Cannot allocate memory");
    expect(nvenc.retryable).toBe(true);
    expect(classifyFfmpegFailure("something odd\nlast line").message).toBe("last line");
  });
});

describe("capabilities from the ffmpeg build", () => {
  const codecs = {
    encoders: parseCodecList(
      " V..... libx264              libx264 H.264\n V..... libx265   libx265 H.265\n A..... aac  AAC",
    ),
    decoders: parseCodecList(" VFS..D h264                 H.264\n VFS..D hevc   HEVC\n VFS..D vp9 VP9"),
  };
  it("advertises what the binary can do", () => {
    const caps = transcodingCapabilities(codecs, { gpu: false });
    expect(caps).toEqual(
      expect.arrayContaining([
        Capability.H264,
        Capability.MPEGTS,
        Capability.MP4,
        Capability.HEVC_Decode,
        Capability.HEVC_Encode,
        Capability.VP9_Decode,
      ]),
    );
    expect(caps).not.toContain(Capability.VP8_Decode);
    expect(transcodingCapabilities(codecs, { gpu: false, hevcDecoding: false })).not.toContain(
      Capability.HEVC_Decode,
    );
    expect(transcodingCapabilities(codecs, { gpu: true })).not.toContain(Capability.H264);
  });
});

describe("GPUs", () => {
  it("parses nvidia-smi output from real cards", () => {
    expect(parseNvidiaSmi(fixture("two-cards.csv"))).toMatchObject([
      { index: 0, name: "NVIDIA GeForce RTX 3090", memoryTotalMiB: 24576, encoderSessions: 0 },
      { index: 1, memoryFreeMiB: 20110, encoderSessions: 3 },
    ]);
    expect(parseNvidiaSmi(fixture("h100-na.csv"))[0]).toMatchObject({
      name: "NVIDIA H100 80GB HBM3",
      encoderSessions: null,
    });
    expect(() => parseNvidiaSmi("garbage")).toThrow(/cannot parse/);
  });
  it("resolves -nvidia lists and all", async () => {
    expect(await resolveNvidiaDevices("0, 2")).toEqual(["0", "2"]);
    expect(await resolveNvidiaDevices("all", async () => parseNvidiaSmi(fixture("two-cards.csv")))).toEqual([
      "0",
      "1",
    ]);
    await expect(resolveNvidiaDevices("all", async () => [])).rejects.toThrow(/no devices found/);
    await expect(resolveNvidiaDevices("x")).rejects.toThrow(/-nvidia must be/);
  });
  it("pins sessions to the least-loaded GPU, round-robin on ties, with a session limit", () => {
    const lb = new GpuBalancer(["0", "1"], 2);
    const ladder = [P("P240p30fps16x9"), P("P360p30fps16x9")];
    expect(streamLoad(ladder)).toBe(426 * 240 * 30 + 640 * 360 * 30);
    const a = lb.acquire("a", ladder);
    const b = lb.acquire("b", ladder);
    expect(new Set([a, b])).toEqual(new Set(["0", "1"]));
    expect(lb.acquire("a", ladder)).toBe(a);
    const c = lb.acquire("c", [P("P144p30fps16x9")]);
    lb.acquire("d", ladder);
    expect(() => lb.acquire("e", ladder)).toThrow("TranscoderBusy");
    lb.release(c);
    lb.release("c");
    expect(lb.snapshot().reduce((n, d) => n + d.sessions, 0)).toBe(3);
  });
});

describe("GPU startup test", () => {
  it("passes GPUs that transcode, sizes a driver NVENC cap, and fails on a broken GPU", async () => {
    expect(await testGpus(["0", "1"], async () => {}, silentLogger())).toEqual({
      devices: ["0", "1"],
      nvencSessionCap: null,
    });
    const capped = async (_d: string, n: number) => {
      if (n > 2) throw new LpError("NVENC_SESSIONS", "Cannot allocate memory");
    };
    expect((await testGpus(["0"], capped, silentLogger())).nvencSessionCap).toBe(2);
    const broken = async () => {
      throw new LpError("INVALID_INPUT", "CUDA_ERROR_NO_DEVICE");
    };
    await expect(testGpus(["0"], broken, silentLogger())).rejects.toThrow(
      'required capability "H.264" is not supported on GPU 0',
    );
  });
});
