import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { PRESETS } from "../../../src/media/profiles.js";
import { VideoProfileSchema } from "../../../src/protocol/gen/lp_rpc_pb.js";
import {
  PROFILE_LIMITS,
  type ProfileSpec,
  profileProblem,
  profilesFromWire,
} from "../../../src/protocol/profiles.js";

const base: ProfileSpec = { ...PRESETS["P360p30fps16x9"]! };

describe("profile limits", () => {
  it("accepts every lpms preset and the extremes of the limits", () => {
    for (const p of Object.values(PRESETS)) expect(profileProblem(p), p.name).toBeNull();
    for (const p of [
      { ...base, width: 7680, height: 4320 },
      { ...base, width: 4320, height: 7680 },
      { ...base, width: 2, height: 2 },
      { ...base, fps: 240 },
      { ...base, fps: 30000, fpsDen: 1001 },
      { ...base, fps: 0 },
      { ...base, bitrate: 0 },
      { ...base, bitrate: PROFILE_LIMITS.maxBitrate },
      { ...base, gopMs: -1 },
      { ...base, gopMs: 60_000 },
      { ...base, name: "a.b-c_D9" },
      { ...base, name: "n".repeat(64) },
    ]) {
      expect(profileProblem(p), JSON.stringify(p)).toBeNull();
    }
  });

  it("names the field that is out of bounds", () => {
    const cases: [Partial<ProfileSpec>, RegExp][] = [
      [{ name: "" }, /profile name "": must be 1 to 64/],
      [{ name: "n".repeat(65) }, /must be 1 to 64/],
      [{ name: "a\nb" }, /profile name "a\\nb": only letters/],
      [{ name: "../x" }, /profile name/],
      [{ name: ".x" }, /profile name/],
      [{ name: "a b" }, /profile name/],
      [{ name: "a/b" }, /profile name/],
      [{ width: 16384, height: 16384 }, /width x height 16384x16384 is larger than 7680x4320/],
      [{ width: 7682, height: 100 }, /larger than 7680x4320/],
      [{ width: 4400, height: 4400 }, /larger than 7680x4320/],
      [{ width: 1 }, /width 1 is below the minimum of 2/],
      [{ height: 0 }, /height 0 is below/],
      [{ fps: 241 }, /fps 241\/1 is outside 0 to 240/],
      [{ fps: 241_000, fpsDen: 1000 }, /fps 241000\/1000/],
      [{ fpsDen: 1_000_000 }, /fpsDen/],
      [{ bitrate: 200_000_001 }, /bitrate 200000001 is outside 0 to 200000000 bits\/s/],
      [{ bitrate: -5 }, /bitrate/],
      [{ gopMs: 60_001 }, /gop 60001 ms/],
      [{ gopMs: -2 }, /gop -2 ms/],
    ];
    for (const [change, why] of cases) {
      expect(profileProblem({ ...base, ...change }), JSON.stringify(change)).toMatch(why);
    }
  });

  it("applies them to profiles read from the wire", () => {
    const wire = (o: object) => [
      create(VideoProfileSchema, { name: "x", width: 640, height: 360, bitrate: 1e6, ...o }),
    ];
    expect(profilesFromWire(wire({}))[0]!.name).toBe("x");
    expect(profilesFromWire(wire({ name: "" }))[0]!.name).toBe("net_640x360_1000000");
    expect(() => profilesFromWire(wire({ width: 16384, height: 16384 }))).toThrow(/16384x16384/);
    expect(() => profilesFromWire(wire({ name: "a\nb" }))).toThrow(/profile name/);
  });
});
