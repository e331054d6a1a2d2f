import { describe, expect, it } from "vitest";
import { PRESETS, type VideoProfile } from "../../../src/media/profiles.js";
import { ladderKey, warmArgs } from "../../../src/media/WarmSession.js";

const P = (name: string, over: Partial<VideoProfile> = {}): VideoProfile => ({ ...PRESETS[name]!, ...over });
const argAfter = (a: string[], flag: string) => a[a.indexOf(flag) + 1];

describe("warm session argv", () => {
  const outs = [
    { path: "/w/out0.ts", profile: P("P240p30fps16x9") },
    { path: "/w/out1.ts", profile: P("P720p30fps16x9", { codec: "h265" }) },
  ];
  it("on a GPU: CUDA device opened up front, NVDEC, scale_cuda or scale_npp, NVENC, segment on stdin", () => {
    const a = warmArgs({ gpu: "3", npp: false }, outs);
    expect(argAfter(a, "-init_hw_device")).toBe("cuda=lpgpu:3");
    expect(a.indexOf("-init_hw_device")).toBeLessThan(a.indexOf("-i"));
    expect(argAfter(a, "-hwaccel")).toBe("cuda");
    expect(argAfter(a, "-hwaccel_output_format")).toBe("cuda");
    expect(argAfter(a, "-hwaccel_device")).toBe("lpgpu");
    expect(argAfter(a, "-i")).toBe("pipe:0");
    expect(argAfter(a, "-filter_complex")).toContain("scale_cuda=");
    expect(a).toContain("h264_nvenc");
    expect(a).toContain("hevc_nvenc");
    expect(a.filter((x, i) => x === "-bf" && a[i + 1] === "0")).toHaveLength(2);
    expect(a.slice(-1)).toEqual(["/w/out1.ts"]);
    expect(argAfter(warmArgs({ gpu: "0", npp: true }, outs), "-filter_complex")).toContain("scale_npp=");
  });
  it("on the CPU: no hardware flags, libx264, segment on stdin as MPEG-TS", () => {
    const a = warmArgs({ gpu: null, npp: false }, outs.slice(0, 1));
    expect(a).not.toContain("-init_hw_device");
    expect(a).not.toContain("-hwaccel");
    expect(argAfter(a, "-c:v")).toBe("libx264");
    expect(a.slice(a.indexOf("-i") - 2, a.indexOf("-i") + 2)).toEqual(["-f", "mpegts", "-i", "pipe:0"]);
  });
  it("keys a session by its exact ladder", () => {
    const ladder = [P("P240p30fps16x9"), P("P360p30fps16x9")];
    expect(ladderKey(ladder)).toBe(ladderKey([P("P240p30fps16x9"), P("P360p30fps16x9")]));
    expect(ladderKey(ladder)).not.toBe(ladderKey([P("P360p30fps16x9"), P("P240p30fps16x9")]));
    expect(ladderKey(ladder)).not.toBe(ladderKey([P("P240p30fps16x9", { bitrate: 1 }), P("P360p30fps16x9")]));
  });
});
