import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { LpError } from "../../../src/errors/LpError.js";
import { createLogger, silentLogger } from "../../../src/logger/logger.js";
import { parseCodecList, transcodingCapabilities } from "../../../src/media/capabilities.js";
import { isNvencUnavailable } from "../../../src/media/ffmpeg/errors.js";
import { scaleExpressions, transcodeArgs } from "../../../src/media/ffmpeg/transcodeArgs.js";
import { GpuBalancer } from "../../../src/media/gpu/GpuBalancer.js";
import {
  CAPABILITY_TESTS,
  type CapabilityTestRunner,
  type GpuMode,
  hybridMessage,
  testTranscoderCapabilities,
} from "../../../src/media/gpu/startupTest.js";
import { PRESETS, type VideoProfile } from "../../../src/media/profiles.js";
import { LocalTranscoder } from "../../../src/media/transcoder.js";
import { warmArgs } from "../../../src/media/WarmSession.js";
import { Capability } from "../../../src/protocol/capabilities.js";
import { FFMPEG, makeClip } from "../../helpers/media.js";
import { tempDir } from "../../helpers/tmp.js";

// Hybrid mode: GPUs without NVENC (A100, H100, H200) decode on NVDEC and scale on the GPU, and
// libx264 encodes H.264 on the CPU at the CPU path's settings.

const P = (name: string, over: Partial<VideoProfile> = {}): VideoProfile => ({ ...PRESETS[name]!, ...over });

/** What h264_nvenc prints on a card without an NVENC engine (H100), CUDA itself working. */
const H100_NVENC_STDERR = [
  "[h264_nvenc @ 0x55d4c0a1b2c0] OpenEncodeSessionEx failed: unsupported device (2): (no details)",
  "Error initializing output stream 0:0 -- Error while opening encoder for output stream #0:0 - maybe incorrect parameters such as bit_rate, rate, width or height",
  "Conversion failed!",
].join("\n");

describe("hybrid argv (NVDEC + CUDA scaling + libx264)", () => {
  const p240 = P("P240p30fps16x9");
  const p720 = P("P720p30fps16x9", { profile: "main", gopMs: 2000 });
  const outs = [
    { path: "/o/0.ts", profile: p240 },
    { path: "/o/1.ts", profile: p720 },
  ];
  const scale = (p: VideoProfile) => {
    const { w, h } = scaleExpressions(p);
    return `scale_cuda=w='${w}':h='${h}'`;
  };
  const x264 = (br: string) => [
    ...["-c:v", "libx264", "-b:v", br, "-minrate", br, "-maxrate", br, "-bufsize", br],
    ...["-preset", "medium", "-forced-idr", "1", "-bf", "3"],
  ];
  const tail = ["-c:a", "copy", "-copyts", "-muxdelay", "0", "-muxpreload", "0"];
  const mux = ["-max_muxing_queue_size", "4096", "-f", "mpegts"];

  it("decodes on the GPU, scales with scale_cuda, downloads, and encodes with libx264 as the CPU path", () => {
    const a = transcodeArgs({ input: "/i.ts", outputs: outs, gpu: "1", hybrid: true, decoders: null });
    expect(a).toEqual([
      ...["-hide_banner", "-nostdin", "-v", "verbose", "-y"],
      ...["-hwaccel", "cuda", "-hwaccel_output_format", "cuda", "-hwaccel_device", "1"],
      ...["-i", "/i.ts", "-filter_complex"],
      "[0:v:0]split=2[s0][s1];" +
        `[s0]${scale(p240)},hwdownload,format=nv12,format=yuv420p,fps=30/1[v0];` +
        `[s1]${scale(p720)},hwdownload,format=nv12,format=yuv420p,fps=30/1[v1]`,
      ...["-map", "[v0]", "-map", "0:a?", ...x264("600000"), ...tail, ...mux, "/o/0.ts"],
      ...["-map", "[v1]", "-map", "0:a?", ...x264("4000000"), "-profile:v", "main", "-g", "60"],
      ...[...tail, ...mux, "/o/1.ts"],
    ]);
    // The encoder settings are exactly the CPU path's.
    const cpu = transcodeArgs({ input: "/i.ts", outputs: outs, gpu: null, decoders: null });
    const encoders = (argv: string[]) => argv.slice(argv.indexOf("-filter_complex") + 2);
    expect(encoders(a)).toEqual(encoders(cpu));
    expect(a.join(" ")).not.toContain("nvenc");
  });

  it("uses scale_npp when told, and warm sessions keep their device set-up", () => {
    const npp = transcodeArgs({ input: "/i.ts", outputs: outs, gpu: "0", npp: true, hybrid: true });
    expect(npp[npp.indexOf("-filter_complex") + 1]).toContain(
      ":interp_algo=super,hwdownload,format=nv12,format=yuv420p",
    );
    const warm = warmArgs({ gpu: "3", npp: false, hybrid: true }, [{ path: "/o/0.ts", profile: p240 }]);
    expect(warm.slice(warm.indexOf("-init_hw_device"), warm.indexOf("-i"))).toEqual([
      ...["-init_hw_device", "cuda=lpgpu:3", "-filter_hw_device", "lpgpu"],
      ...["-hwaccel", "cuda", "-hwaccel_output_format", "cuda", "-hwaccel_device", "lpgpu"],
      ...["-f", "mpegts"],
    ]);
    expect(warm[warm.indexOf("-c:v") + 1]).toBe("libx264");
    expect(warm[warm.indexOf("-filter_complex") + 1]).toContain("scale_cuda=");
    expect(warm[warm.indexOf("-filter_complex") + 1]).toContain("hwdownload,format=nv12");
  });

  it("changes nothing without a GPU or without the flag", () => {
    expect(transcodeArgs({ input: "/i.ts", outputs: outs, gpu: null, hybrid: true })).toEqual(
      transcodeArgs({ input: "/i.ts", outputs: outs, gpu: null }),
    );
    const nvenc = transcodeArgs({ input: "/i.ts", outputs: outs, gpu: "0", hybrid: false });
    expect(nvenc).toEqual(transcodeArgs({ input: "/i.ts", outputs: outs, gpu: "0" }));
    expect(nvenc).toContain("h264_nvenc");
    expect(nvenc.join(" ")).not.toContain("hwdownload");
  });

  it("is accepted by the real ffmpeg: with the CPU scaler swapped in it makes playable renditions", () => {
    const clip = makeClip({ width: 320, height: 180, seconds: 1 });
    const dir = tempDir();
    const out = [
      { path: join(dir, "a.ts"), profile: P("P144p30fps16x9") },
      { path: join(dir, "b.ts"), profile: P("P240p30fps16x9") },
    ];
    const a = transcodeArgs({ input: clip, outputs: out, gpu: "0", hybrid: true });
    // No CUDA here: leave out the hardware options and swap the CUDA filters for their CPU twins;
    // everything else (graph shape, format conversions, libx264 options, muxers) runs as is.
    const cpu: string[] = [];
    for (let i = 0; i < a.length; i++) {
      if (a[i]!.startsWith("-hwaccel")) i++;
      else cpu.push(a[i]!.replaceAll("scale_cuda=", "scale=").replaceAll("hwdownload,format=nv12,", ""));
    }
    expect(cpu.join(" ")).not.toMatch(/cuda|hwdownload/);
    const r = spawnSync(FFMPEG, cpu, { encoding: "utf8" });
    expect(r.status, r.stderr.slice(-2000)).toBe(0);
    for (const [o, size] of [
      [out[0]!, "256x144"],
      [out[1]!, "426x240"],
    ] as const) {
      const info = spawnSync(FFMPEG, ["-hide_banner", "-i", o.path], { encoding: "utf8" }).stderr;
      expect(info).toContain("h264");
      expect(info).toContain(size);
    }
  });
});

describe("start-up detection of GPUs without NVENC", () => {
  /** A fake runner: `nvenc(device)` says whether NVENC works there; `hybridOk` whether CPU encoding does. */
  const fake = (nvenc: (d: string) => "ok" | "missing" | "device", hybridOk = true) => {
    const calls: string[] = [];
    const run: CapabilityTestRunner = async (d, t, n, mode: GpuMode = "nvenc") => {
      calls.push(`${d}:${t.name}:${n}:${mode}`);
      const state = nvenc(d);
      if (state === "device") throw new LpError("FFMPEG_EXITED", "CUDA_ERROR_NO_DEVICE");
      if (mode === "nvenc" && state === "missing")
        throw new LpError("NVENC_UNAVAILABLE", "no NVENC on this GPU: unsupported device (2)");
      if (mode === "hybrid" && !hybridOk) throw new LpError("ENCODER", "Encoder not found");
      if (t.input.pixFmt !== "yuv420p") throw new LpError("PIXEL_FORMAT", "Unsupported input pixel format");
    };
    return { run, calls };
  };
  /** A logger whose lines are kept as parsed JSON. */
  const recordingLogger = () => {
    const lines: { level: number; msg: string; gpu?: string }[] = [];
    const destination = new Writable({
      write(chunk, _enc, done) {
        lines.push(JSON.parse(String(chunk)));
        done();
      },
    });
    return { logger: createLogger({ level: "info", pretty: false, destination }), lines };
  };

  it("NVENC missing and hybrid passing: the device runs hybrid, logged once, HEVC encode dropped", async () => {
    const { run, calls } = fake(() => "missing");
    const { logger, lines } = recordingLogger();
    const r = await testTranscoderCapabilities(["0"], CAPABILITY_TESTS, run, logger);
    expect(r.hybrid).toEqual(["0"]);
    expect(r.supported).toEqual([
      Capability.H264,
      Capability.HEVC_Decode,
      Capability.VP8_Decode,
      Capability.VP9_Decode,
    ]);
    expect(r.dropped).toContain(Capability.HEVC_Encode);
    expect(r.nvencSessionCap).toBeNull();
    // NVENC is tried once, then every test runs in hybrid mode; HEVC encode is not even tried.
    expect(calls.slice(0, 3)).toEqual(["0:H.264:4:nvenc", "0:H.264:4:hybrid", "0:HEVC decode:4:hybrid"]);
    expect(calls.filter((c) => c.endsWith(":nvenc"))).toHaveLength(1);
    expect(calls.some((c) => c.includes("HEVC encode"))).toBe(false);
    const hybridLines = lines.filter((l) => l.msg === hybridMessage("0"));
    expect(hybridLines).toHaveLength(1);
    expect(hybridLines[0]!.msg).toBe(
      "no NVENC on GPU 0: decoding and scaling on the GPU, encoding H.264 on the CPU",
    );
  });

  it("a device error refuses to start as before, without trying hybrid", async () => {
    const { run, calls } = fake(() => "device");
    await expect(testTranscoderCapabilities(["0"], CAPABILITY_TESTS, run, silentLogger())).rejects.toThrow(
      'required capability "H.264" is not supported on hardware (device 0): CUDA_ERROR_NO_DEVICE',
    );
    expect(calls).toEqual(["0:H.264:4:nvenc"]);
  });

  it("NVENC missing and hybrid failing too: refuses, saying both", async () => {
    const { run } = fake(() => "missing", false);
    await expect(testTranscoderCapabilities(["0"], CAPABILITY_TESTS, run, silentLogger())).rejects.toThrow(
      /^required capability "H.264" is not supported on hardware \(device 0\): no NVENC on this GPU: unsupported device \(2\); in hybrid mode \(CPU encoding\): Encoder not found$/,
    );
  });

  it("NVENC working: full NVIDIA mode, hybrid never tried", async () => {
    const { run, calls } = fake(() => "ok");
    const r = await testTranscoderCapabilities(["0", "1"], CAPABILITY_TESTS, run, silentLogger());
    expect(r.hybrid).toEqual([]);
    expect(r.supported).toContain(Capability.HEVC_Encode);
    expect(calls.every((c) => c.endsWith(":nvenc"))).toBe(true);
  });

  it("mixes cards: each device gets its own mode", async () => {
    const { run, calls } = fake((d) => (d === "1" ? "missing" : "ok"));
    const r = await testTranscoderCapabilities(["0", "1"], CAPABILITY_TESTS, run, silentLogger());
    expect(r.hybrid).toEqual(["1"]);
    expect(r.supported).toContain(Capability.H264);
    // A session may land on the hybrid card, which cannot encode HEVC on NVENC.
    expect(r.dropped).toContain(Capability.HEVC_Encode);
    expect(calls.filter((c) => c.startsWith("0:")).every((c) => c.endsWith(":nvenc"))).toBe(true);
  });
});

describe("telling NVENC missing from a broken device", () => {
  it("reads a card without NVENC, a driver without libnvidia-encode and a build without NVENC", () => {
    expect(isNvencUnavailable(H100_NVENC_STDERR)).toBe(true);
    expect(isNvencUnavailable("[h264_nvenc @ 0x1] Cannot load libnvidia-encode.so.1")).toBe(true);
    expect(isNvencUnavailable("[h264_nvenc @ 0x1] No capable devices found")).toBe(true);
    expect(
      isNvencUnavailable("[h264_nvenc @ 0x1] Driver does not support the required nvenc API version."),
    ).toBe(true);
    expect(isNvencUnavailable("Unknown encoder 'h264_nvenc'")).toBe(true);
  });
  it("does not take a device failure, the session cap or another error for it", () => {
    expect(
      isNvencUnavailable(
        "[AVHWDeviceContext @ 0x1] cu->cuInit(0) failed -> CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected\n" +
          "Device creation failed: -542398533.\n[h264_nvenc @ 0x2] No capable devices found",
      ),
    ).toBe(false);
    expect(isNvencUnavailable("[h264_nvenc @ 0x1] OpenEncodeSessionEx failed: out of memory (10)")).toBe(
      false,
    );
    expect(isNvencUnavailable("Invalid data found when processing input")).toBe(false);
  });
});

describe("capabilities and status in hybrid mode", () => {
  const codecs = (encoders: string[]) => ({
    encoders: parseCodecList(encoders.map((e) => ` V..... ${e}  x`).join("\n")),
    decoders: parseCodecList(" V..... h264  x\n V..... hevc  x"),
  });
  it("H.264 needs libx264 when a GPU is hybrid, and HEVC encode is not offered", () => {
    const noNvenc = codecs(["libx264", "libx265"]);
    expect(transcodingCapabilities(noNvenc, { gpu: true })).not.toContain(Capability.H264);
    const all = transcodingCapabilities(noNvenc, { gpu: true, hybrid: "all" });
    expect(all).toContain(Capability.H264);
    expect(all).toContain(Capability.HEVC_Decode);
    expect(all).not.toContain(Capability.HEVC_Encode);
    // NVDEC still decodes: the 4:2:2/4:4:4/10-bit decode capabilities stay off as on NVENC cards.
    expect(all).not.toContain(Capability.H264_Decode_444_8bit);
    const both = codecs(["libx264", "h264_nvenc", "hevc_nvenc"]);
    expect(transcodingCapabilities(both, { gpu: true })).toContain(Capability.HEVC_Encode);
    const some = transcodingCapabilities(both, { gpu: true, hybrid: "some" });
    expect(some).toContain(Capability.H264);
    expect(some).not.toContain(Capability.HEVC_Encode);
    expect(transcodingCapabilities(codecs(["h264_nvenc"]), { gpu: true, hybrid: "some" })).not.toContain(
      Capability.H264,
    );
    // CPU transcoding ignores the option.
    expect(transcodingCapabilities(noNvenc, { gpu: false, hybrid: "all" })).toContain(Capability.HEVC_Encode);
  });

  it("/status shows each GPU's mode, encoder and load", () => {
    const gpus = new GpuBalancer(["0", "1"]);
    gpus.acquire("s1", [P("P240p30fps16x9")]);
    const t = new LocalTranscoder(
      { gpus, hybridGpus: ["1"], workDir: tempDir() },
      { logger: silentLogger() },
    );
    expect(t.status()).toEqual({
      GPUs: [
        { Device: "0", Mode: "nvenc", H264Encoder: "h264_nvenc", Sessions: 1, Load: 426 * 240 * 30 },
        { Device: "1", Mode: "hybrid", H264Encoder: "libx264", Sessions: 0, Load: 0 },
      ],
    });
    expect(new LocalTranscoder({ workDir: tempDir() }, { logger: silentLogger() }).status()).toEqual({});
  });
});
