import { describe, expect, it } from "vitest";
import {
  DECODER_WHITELIST,
  encoderArgs,
  encoderFor,
  filterChain,
  outputSize,
  scaleExpressions,
  transcodeArgs,
} from "../../../src/media/ffmpeg/transcodeArgs.js";
import { PRESETS, type VideoProfile } from "../../../src/media/profiles.js";

const P = (name: string, over: Partial<VideoProfile> = {}): VideoProfile => ({ ...PRESETS[name]!, ...over });
const argAfter = (a: string[], flag: string) => a[a.indexOf(flag) + 1];

describe("output sizes (lpms aspect rule)", () => {
  it("honours the larger requested dimension and derives the other like -2", () => {
    expect(outputSize(640, 360, P("P240p30fps16x9"))).toEqual({ width: 426, height: 240 });
    expect(outputSize(1920, 1080, P("P720p30fps16x9"))).toEqual({ width: 1280, height: 720 });
    expect(outputSize(1920, 1080, P("P360p30fps16x9"))).toEqual({ width: 640, height: 360 });
    expect(outputSize(640, 480, P("P720p30fps16x9"))).toEqual({ width: 1280, height: 960 });
    expect(outputSize(320, 240, P("P144p30fps16x9"))).toEqual({ width: 256, height: 192 });
  });
  it("transposes for portrait sources", () => {
    expect(outputSize(1080, 1920, P("P360p30fps16x9"))).toEqual({ width: 360, height: 640 });
    expect(outputSize(240, 320, P("P240p30fps4x3"))).toEqual({ width: 240, height: 320 });
  });
  it("pins a derived side under the encoder minimum", () => {
    // 256 * 100/1000 = 25.6 < 50 (H.264's minimum height), so the height is pinned to 50.
    expect(outputSize(1000, 100, P("P144p30fps16x9"))).toEqual({ width: 500, height: 50 });
    // Portrait: the width may not go under 146.
    expect(outputSize(100, 1000, P("P144p30fps16x9"))).toEqual({ width: 146, height: 1460 });
    // A tiny requested size is raised to the minimum long side.
    expect(outputSize(640, 360, P("P144p30fps16x9", { width: 64, height: 36 }))).toEqual({
      width: 146,
      height: 82,
    });
  });
  it("clamps to the encoder maximum", () => {
    expect(outputSize(1920, 1080, P("P720p30fps16x9", { width: 8000, height: 4500 })).width).toBe(4096);
    expect(
      outputSize(1920, 1080, P("P720p30fps16x9", { width: 8000, height: 4500, codec: "h265" })).width,
    ).toBe(8000);
  });
  it("expresses the same rule for the scale filter", () => {
    const { w, h } = scaleExpressions(P("P240p30fps16x9"));
    expect(w).toBe("if(gte(iw,ih),if(lt(426*ih/iw,50),-2,426),if(lt(426*iw/ih,146),146,-2))");
    expect(h).toBe("if(gte(iw,ih),if(lt(426*ih/iw,50),50,-2),if(lt(426*iw/ih,146),-2,426))");
  });
});

describe("ffmpeg argv, CPU", () => {
  const outs = [
    { path: "/o/0.ts", profile: P("P240p30fps16x9") },
    { path: "/o/1.mp4", profile: P("P720p30fps16x9", { format: "mp4", profile: "baseline", gopMs: 2000 }) },
  ];
  const a = transcodeArgs({ input: "/i.ts", outputs: outs, gpu: null });
  const second = a.slice(a.indexOf("/o/0.ts") + 1);

  it("decodes once and splits to every rendition", () => {
    const fc = argAfter(a, "-filter_complex")!;
    expect(fc.startsWith("[0:v:0]split=2[s0][s1];")).toBe(true);
    expect(fc).toContain("format=yuv420p,fps=30/1[v0]");
    expect(a.filter((x) => x === "-i")).toHaveLength(1);
    expect(a.filter((x) => x === "libx264")).toHaveLength(2);
    expect(a.filter((x) => x === "-map")).toHaveLength(4);
    expect(a.at(-1)).toBe("/o/1.mp4");
  });
  it("only lets the codecs go-livepeer advertises be decoded", () => {
    expect(argAfter(a, "-codec_whitelist")).toBe(DECODER_WHITELIST.join(","));
    expect(a.indexOf("-codec_whitelist")).toBeLessThan(a.indexOf("-i"));
    expect(transcodeArgs({ input: "/i", outputs: outs, gpu: null, decoders: null })).not.toContain(
      "-codec_whitelist",
    );
  });
  it("sets bitrate as min/max/buffer, B-frames by profile, audio copy and kept timestamps", () => {
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
    expect(a.slice(0, a.indexOf("/o/0.ts"))).toEqual(
      expect.arrayContaining(["-bf", "3", "-forced-idr", "1"]),
    );
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
        "-c:a",
        "copy",
        "-copyts",
        "-muxdelay",
        "0",
        "-muxpreload",
        "0",
        "-map",
        "0:a?",
      ]),
    );
    expect(argAfter(a, "-f")).toBe("mpegts");
    expect(argAfter(a, "-v")).toBe("verbose");
  });
  it("maps encoder profiles: constrained-high is high without B-frames, main keeps them", () => {
    const ch = encoderArgs(P("P360p30fps16x9", { profile: "constrained-high" }), false);
    expect(argAfter(ch, "-profile:v")).toBe("high");
    expect(argAfter(ch, "-bf")).toBe("0");
    const main = encoderArgs(P("P360p30fps16x9", { profile: "main" }), false);
    expect(argAfter(main, "-profile:v")).toBe("main");
    expect(argAfter(main, "-bf")).toBe("3");
    expect(encoderArgs(P("P360p30fps16x9"), false)).not.toContain("-profile:v");
  });
  it("uses one null filter for one rendition, fps passthrough and fractional fps", () => {
    const one = transcodeArgs({
      input: "/i",
      outputs: [{ path: "/o.ts", profile: P("P360p30fps16x9", { fps: 0 }) }],
      gpu: null,
    });
    expect(argAfter(one, "-filter_complex")).toMatch(/^\[0:v:0\]null\[s0\];\[s0\]scale=/);
    expect(argAfter(one, "-filter_complex")).not.toContain("fps=");
    expect(filterChain(P("P360p30fps16x9", { fps: 30000, fpsDen: 1001 }), false)).toMatch(
      /,fps=30000\/1001$/,
    );
    expect(filterChain(P("P360p30fps16x9", { fps: 25, fpsDen: 0 }), false)).toMatch(/,fps=25\/1$/);
  });
  it("GOP: frames with fps, by time from the first frame without, intra-only, CRF", () => {
    expect(argAfter(encoderArgs(P("P360p30fps16x9", { gopMs: 1500 }), false), "-g")).toBe("45");
    // FramerateDen is ignored for the GOP, as lpms does.
    expect(
      argAfter(encoderArgs(P("P360p30fps16x9", { gopMs: 2000, fps: 30000, fpsDen: 1001 }), false), "-g"),
    ).toBe("60000");
    const byTime = encoderArgs(P("P360p30fps16x9", { fps: 0, gopMs: 1500, quality: 23 }), false);
    expect(argAfter(byTime, "-force_key_frames")).toBe(
      "expr:if(isnan(prev_forced_t),1,gte(t-prev_forced_t,1.5))",
    );
    expect(argAfter(byTime, "-crf")).toBe("23");
    expect(byTime).not.toContain("-cq");
    expect(argAfter(encoderArgs(P("P360p30fps16x9", { gopMs: -1 }), false), "-g")).toBe("1");
    expect(encoderArgs(P("P360p30fps16x9"), false)).not.toContain("-g");
  });
  it("forces IDR frames at given source times, on the output's frame grid, unless the profile has a GOP", () => {
    const args = transcodeArgs({
      input: "/in.ts",
      outputs: [
        { path: "/o/0.ts", profile: P("P240p30fps16x9") },
        { path: "/o/1.ts", profile: P("P360p30fps16x9", { fps: 0 }) },
        { path: "/o/2.ts", profile: P("P720p30fps16x9", { gopMs: 1000 }) },
      ],
      gpu: null,
      keyframesAtSec: [3.4232, 5.41],
    });
    const forced = args.flatMap((a, i) => (a === "-force_key_frames" ? [args[i + 1]] : []));
    // 30 fps: just under the nearest 1/30 s grid point (103/30, 162/30); passthrough: 1 ms early;
    // the GOP profile keeps its own -g.
    expect(forced).toEqual(["3.433233,5.399900", "3.422200,5.409000"]);
    expect(args.indexOf("-force_key_frames")).toBeLessThan(args.indexOf("/o/0.ts"));
    expect(argAfter(args.slice(args.indexOf("/o/1.ts")), "-g")).toBe("30");
    expect(
      transcodeArgs({
        input: "/in.ts",
        outputs: [{ path: "/o.ts", profile: P("P240p30fps16x9") }],
        gpu: null,
      }),
    ).not.toContain("-force_key_frames");
  });
  it("picks libx265, libvpx and libvpx-vp9", () => {
    expect(encoderArgs(P("P360p30fps16x9", { codec: "h265" }), false)).toContain("libx265");
    const vp9 = encoderArgs(P("P360p30fps16x9", { codec: "vp9" }), false);
    expect(vp9[1]).toBe("libvpx-vp9");
    expect(vp9).not.toContain("-forced-idr");
    expect(encoderFor(P("P360p30fps16x9", { codec: "vp8" }), false)).toBe("libvpx");
  });
});

describe("ffmpeg argv, NVIDIA", () => {
  const outs = [
    { path: "/o/0.ts", profile: P("P240p30fps16x9", { profile: "main" }) },
    { path: "/o/1.ts", profile: P("P720p30fps16x9", { codec: "h265" }) },
  ];
  it("decodes with NVDEC, scales with scale_cuda and encodes with NVENC without B-frames", () => {
    const a = transcodeArgs({ input: "/i.ts", outputs: outs, gpu: "1" });
    expect(a.slice(a.indexOf("-hwaccel"), a.indexOf("-i"))).toEqual([
      "-hwaccel",
      "cuda",
      "-hwaccel_output_format",
      "cuda",
      "-hwaccel_device",
      "1",
    ]);
    const fc = argAfter(a, "-filter_complex")!;
    expect(fc).toContain("scale_cuda=w=");
    expect(fc).not.toContain("format=yuv420p");
    expect(a).toContain("h264_nvenc");
    expect(a).toContain("hevc_nvenc");
    expect(a.filter((x) => x === "-bf")).toHaveLength(2);
    expect(a.filter((x, i) => x === "-bf" && a[i + 1] === "0")).toHaveLength(2);
    expect(argAfter(a, "-preset")).toBe("medium");
    expect(argAfter(a, "-tier")).toBe("high");
    expect(a.indexOf("-tier")).toBeGreaterThan(a.indexOf("/o/0.ts"));
  });
  it("uses scale_npp with Livepeer's build, CQ = quality + 7 and intra-only as g 0", () => {
    const npp = transcodeArgs({ input: "/i.ts", outputs: outs, gpu: "0", npp: true });
    expect(argAfter(npp, "-filter_complex")).toContain("scale_npp=w=");
    expect(argAfter(npp, "-filter_complex")).toContain("interp_algo=super");
    const cq = encoderArgs(P("P360p30fps16x9", { quality: 20 }), true);
    expect(argAfter(cq, "-cq")).toBe("27");
    expect(cq).not.toContain("-crf");
    expect(encoderArgs(P("P360p30fps16x9", { quality: 50 }), true)).not.toContain("-cq");
    expect(argAfter(encoderArgs(P("P360p30fps16x9", { gopMs: -1 }), true), "-g")).toBe("0");
  });
  it("downloads frames for codecs NVENC lacks", () => {
    const vp9 = P("P360p30fps16x9", { codec: "vp9" });
    expect(encoderFor(vp9, true)).toBeNull();
    expect(filterChain(vp9, true)).toContain("hwdownload,format=nv12");
    expect(encoderArgs(vp9, true)[1]).toBe("libvpx-vp9");
  });
});

describe("ffmpeg argv, warm sessions", () => {
  const outs = [{ path: "/o/0.ts", profile: P("P240p30fps16x9") }];
  it("creates the CUDA device before the input is opened and decodes on it by name", () => {
    const a = transcodeArgs({
      input: "pipe:0",
      inputFormat: "mpegts",
      outputs: outs,
      gpu: "2",
      initDevice: true,
    });
    const i = a.indexOf("-i");
    expect(argAfter(a, "-init_hw_device")).toBe("cuda=lpgpu:2");
    expect(a.indexOf("-init_hw_device")).toBeLessThan(i);
    expect(argAfter(a, "-hwaccel_device")).toBe("lpgpu");
    expect(argAfter(a, "-filter_hw_device")).toBe("lpgpu");
    expect(a.filter((x) => x === "-hwaccel_device")).toHaveLength(1);
    // The demuxer is forced: a pipe has no file name to guess it from.
    expect(a.slice(i - 2, i + 2)).toEqual(["-f", "mpegts", "-i", "pipe:0"]);
    expect(a).toContain("h264_nvenc");
  });
  it("leaves the CPU argv and the per-segment GPU argv unchanged", () => {
    const cpu = transcodeArgs({ input: "/i.ts", outputs: outs, gpu: null, initDevice: true });
    expect(cpu).not.toContain("-init_hw_device");
    expect(cpu).not.toContain("-hwaccel");
    const cold = transcodeArgs({ input: "/i.ts", outputs: outs, gpu: "1" });
    expect(cold).not.toContain("-init_hw_device");
    expect(argAfter(cold, "-hwaccel_device")).toBe("1");
    expect(cold[cold.indexOf("-i") - 1]).not.toBe("mpegts");
  });
});
