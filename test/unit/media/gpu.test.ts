import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { LpError } from "../../../src/errors/LpError.js";
import { silentLogger } from "../../../src/logger/logger.js";
import { GpuBalancer, streamLoad } from "../../../src/media/gpu/GpuBalancer.js";
import { parseNvidiaSmi, resolveNvidiaDevices } from "../../../src/media/gpu/nvidiaSmi.js";
import {
  CAPABILITY_TESTS,
  type CapabilityTest,
  testTranscoderCapabilities,
} from "../../../src/media/gpu/startupTest.js";
import { testClipArgs } from "../../../src/media/gpu/testRunner.js";
import { PRESETS, type VideoProfile } from "../../../src/media/profiles.js";
import { Capability } from "../../../src/protocol/capabilities.js";

const P = (name: string, over: Partial<VideoProfile> = {}): VideoProfile => ({ ...PRESETS[name]!, ...over });
const fixture = (f: string) =>
  readFileSync(new URL(`../../fixtures/nvidia-smi/${f}`, import.meta.url), "utf8");

describe("nvidia-smi", () => {
  it("parses the query output of several cards", () => {
    expect(parseNvidiaSmi(fixture("two-cards.csv"))).toMatchObject([
      { index: 0, name: "NVIDIA GeForce RTX 3090", memoryTotalMiB: 24576, encoderSessions: 0 },
      { index: 1, memoryFreeMiB: 20110, encoderSessions: 3 },
    ]);
    expect(parseNvidiaSmi(fixture("h100-na.csv"))[0]).toMatchObject({
      name: "NVIDIA H100 80GB HBM3",
      encoderSessions: null,
    });
    expect(parseNvidiaSmi(fixture("t4-two.csv")).map((g) => [g.index, g.name, g.encoderSessions])).toEqual([
      [0, "Tesla T4", 2],
      [1, "Tesla T4", 0],
    ]);
    expect(parseNvidiaSmi(fixture("mixed-consumer.csv"))[1]).toMatchObject({
      name: "NVIDIA GeForce GTX 1070 Ti",
      encoderSessions: null,
    });
  });
  it("reads 'no devices' as none and a driver failure as an error", () => {
    expect(parseNvidiaSmi(fixture("no-devices.txt"))).toEqual([]);
    expect(() => parseNvidiaSmi(fixture("driver-failed.txt"))).toThrow(
      /couldn't communicate with the NVIDIA driver/,
    );
    expect(() => parseNvidiaSmi("garbage")).toThrow(/cannot parse/);
  });
  it("resolves -nvidia lists and all", async () => {
    expect(await resolveNvidiaDevices("0, 2")).toEqual(["0", "2"]);
    expect(await resolveNvidiaDevices("1,1")).toEqual(["1"]);
    expect(await resolveNvidiaDevices("all", async () => parseNvidiaSmi(fixture("t4-two.csv")))).toEqual([
      "0",
      "1",
    ]);
    await expect(resolveNvidiaDevices("all", async () => [])).rejects.toThrow(
      "no devices found with vendor name 'Nvidia'",
    );
    await expect(resolveNvidiaDevices("x")).rejects.toThrow(/-nvidia must be/);
    await expect(resolveNvidiaDevices("")).rejects.toThrow(/-nvidia must be/);
  });
});

describe("GPU balancer (core/lb.go)", () => {
  const ladder = [P("P240p30fps16x9"), P("P360p30fps16x9")];
  it("costs a stream as the sum of w x h x fps, passthrough counted as 30", () => {
    expect(streamLoad(ladder)).toBe(426 * 240 * 30 + 640 * 360 * 30);
    expect(streamLoad([P("P240p30fps16x9", { fps: 0 })])).toBe(426 * 240 * 30);
    expect(streamLoad([P("P240p30fps16x9", { fps: 30000, fpsDen: 1001 })])).toBe(426 * 240 * 29);
  });
  it("pins sessions to the least-loaded GPU, round-robin on ties", () => {
    const lb = new GpuBalancer(["0", "1", "2"]);
    const got = ["a", "b", "c"].map((s) => lb.acquire(s, ladder));
    expect(new Set(got)).toEqual(new Set(["0", "1", "2"]));
    expect(lb.acquire("a", ladder)).toBe(got[0]);
    // A light session goes to any GPU; the next heavy one avoids that GPU.
    const light = lb.acquire("light", [P("P144p30fps16x9")]);
    const heavy = lb.acquire("heavy", ladder);
    expect(heavy).not.toBe(light);
    lb.release("light");
    lb.release("light");
    expect(lb.snapshot().find((d) => d.device === light)!.load).toBe(streamLoad(ladder));
  });
  it("enforces a per-GPU session limit", () => {
    const lb = new GpuBalancer(["0", "1"], 1);
    lb.acquire("a", ladder);
    lb.acquire("b", ladder);
    expect(() => lb.acquire("c", ladder)).toThrow("TranscoderBusy");
    lb.release("a");
    expect(lb.acquire("c", ladder)).toBeDefined();
    expect(() => new GpuBalancer([])).toThrow(/no GPU/);
  });
});

describe("startup capability test (-testTranscoder)", () => {
  const log = silentLogger();
  it("passes every capability when every device transcodes", async () => {
    const calls: string[] = [];
    const r = await testTranscoderCapabilities(
      ["0", "1"],
      CAPABILITY_TESTS,
      async (d, t, n) => {
        calls.push(`${d}:${t.name}:${n}`);
      },
      log,
    );
    expect(r.supported).toEqual(CAPABILITY_TESTS.map((t) => t.capability));
    expect(r.dropped).toEqual([]);
    expect(r.nvencSessionCap).toBeNull();
    expect(calls).toHaveLength(CAPABILITY_TESTS.length * 2);
    expect(calls[0]).toBe("0:H.264:4");
  });
  it("drops optional capabilities a device fails (NVDEC: 4:2:0 8-bit only)", async () => {
    const run = async (d: string, t: CapabilityTest) => {
      if (t.input.pixFmt !== "yuv420p") throw new LpError("PIXEL_FORMAT", "Unsupported input pixel format");
      if (t.capability === Capability.VP8_Decode && d === "1") throw new LpError("UNSUPPORTED_CODEC", "x");
    };
    const r = await testTranscoderCapabilities(["0", "1"], CAPABILITY_TESTS, run, log);
    expect(r.supported).toEqual([
      Capability.H264,
      Capability.HEVC_Decode,
      Capability.HEVC_Encode,
      Capability.VP9_Decode,
    ]);
    expect(r.dropped).toContain(Capability.VP8_Decode);
    expect(r.dropped).toContain(Capability.H264_Decode_420_10bit);
  });
  it("stops on a failing required capability with go-livepeer's message", async () => {
    await expect(
      testTranscoderCapabilities(
        ["0"],
        CAPABILITY_TESTS,
        async () => {
          throw new LpError("FFMPEG_EXITED", "CUDA_ERROR_NO_DEVICE");
        },
        log,
      ),
    ).rejects.toThrow(
      'required capability "H.264" is not supported on hardware (device 0): CUDA_ERROR_NO_DEVICE',
    );
  });
  it("finds a consumer driver's NVENC session cap and keeps testing within it", async () => {
    const seen: number[] = [];
    const r = await testTranscoderCapabilities(
      ["0", "1"],
      CAPABILITY_TESTS.slice(0, 3),
      async (_d, _t, n) => {
        seen.push(n);
        if (n > 3) throw new LpError("NVENC_SESSIONS", "Cannot allocate memory");
      },
      log,
    );
    expect(r.nvencSessionCap).toBe(3);
    expect(r.supported).toHaveLength(3);
    expect(seen.slice(0, 3)).toEqual([4, 3, 3]);
  });
  it("makes test clips like go-livepeer's embedded ones", () => {
    const hevc = CAPABILITY_TESTS.find((t) => t.capability === Capability.HEVC_Decode)!;
    const a = testClipArgs(hevc.input, "/t/h.ts");
    expect(a).toEqual(
      expect.arrayContaining(["testsrc=size=146x146:rate=30", "libx265", "mpegts", "/t/h.ts"]),
    );
    // x265 logs its own [info] lines unless told otherwise.
    expect(a.join(" ")).toContain("-x265-params log-level=error");
    const vp9 = CAPABILITY_TESTS.find((t) => t.capability === Capability.VP9_Decode)!;
    expect(testClipArgs(vp9.input, "/t/v.webm")).toEqual(expect.arrayContaining(["libvpx-vp9", "webm"]));
  });
});
