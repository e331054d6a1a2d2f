import { describe, expect, it } from "vitest";
import {
  contentTypeFor,
  extensionFor,
  PRESETS,
  parseJsonProfiles,
  parseTranscodingOptions,
  presetId,
} from "../../../src/media/profiles.js";

const IDS: Record<string, string> = {
  P720p60fps16x9: "a7ac137a",
  P720p30fps16x9: "49d54ea9",
  P720p25fps16x9: "e4a64019",
  P720p30fps4x3: "79332fe7",
  P576p30fps16x9: "5ecf4b52",
  P576p25fps16x9: "8b1843d6",
  P360p30fps16x9: "93c717e7",
  P360p25fps16x9: "7cd40fc7",
  P360p30fps4x3: "b60382a0",
  P240p30fps16x9: "c0a6517a",
  P240p25fps16x9: "1301a7d0",
  P240p30fps4x3: "d435c53a",
  P144p30fps16x9: "fca40bf9",
  P144p25fps16x9: "03f01d1f",
};

describe("presets", () => {
  it("has the 14 presets with go-livepeer's IDs and settings", () => {
    expect(Object.keys(PRESETS).sort()).toEqual(Object.keys(IDS).sort());
    for (const [name, id] of Object.entries(IDS)) expect(presetId(name)).toBe(id);
    expect(PRESETS["P360p30fps4x3"]).toMatchObject({ width: 480, height: 360, bitrate: 1_000_000, fps: 30 });
    expect(PRESETS["P720p60fps16x9"]).toMatchObject({
      bitrate: 6_000_000,
      fpsDen: 1,
      format: "mpegts",
      profile: "none",
      gopMs: 0,
      codec: "h264",
    });
  });
  it("names extensions and MIME types", () => {
    expect(extensionFor("mpegts")).toBe(".ts");
    expect(extensionFor("mp4")).toBe(".mp4");
    expect(contentTypeFor("mpegts")).toBe("video/mp2t");
    expect(contentTypeFor("mp4")).toBe("video/mp4");
  });
});

describe("-transcodingOptions", () => {
  it("parses preset lists and refuses unknown names", () => {
    expect(parseTranscodingOptions("P240p30fps16x9, P720p30fps16x9", () => null).map((p) => p.name)).toEqual([
      "P240p30fps16x9",
      "P720p30fps16x9",
    ]);
    expect(() => parseTranscodingOptions("P240p30fps16x9,P999", () => null)).toThrow(
      /unknown transcoding profile "P999"/,
    );
    expect(() => parseTranscodingOptions("", () => null)).toThrow("No transcoding profiles found");
    expect(() => parseTranscodingOptions("/no/such/file.json", () => null)).toThrow(
      "No transcoding profiles found",
    );
  });
  it("hands back copies, so a caller cannot change a preset", () => {
    const [p] = parseTranscodingOptions("P240p30fps16x9", () => null);
    p!.width = 1;
    expect(PRESETS["P240p30fps16x9"]!.width).toBe(426);
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
        colorDepth: 0,
      },
      { Width: 640, HEIGHT: 360, bitrate: 800000, gop: "intra", encoder: "HEVC", format: "mp4", other: 1 },
      { width: 256, height: 144, bitrate: 1, gop: "0.5", profile: "h264constrainedhigh", quality: 23 },
    ]);
    const [a, b, c] = parseTranscodingOptions("/p.json", (f) => (f === "/p.json" ? json : null));
    expect(a).toMatchObject({
      name: "a",
      fps: 30000,
      fpsDen: 1001,
      profile: "high",
      gopMs: 2000,
      codec: "h264",
      format: "mpegts",
    });
    expect(b).toMatchObject({
      name: "custom_640x360_800000",
      gopMs: -1,
      codec: "h265",
      format: "mp4",
      fps: 0,
    });
    expect(c).toMatchObject({ gopMs: 500, profile: "constrained-high", quality: 23, fpsDen: 1 });
  });
  it("fails with go-livepeer's texts", () => {
    const one = (o: object) => () => parseJsonProfiles(JSON.stringify([{ width: 1, height: 1, ...o }]));
    expect(() => parseJsonProfiles("{")).toThrow(/invalid character/);
    expect(() => parseJsonProfiles("[]")).toThrow("No transcoding profiles found");
    expect(() => parseJsonProfiles('{"a":1}')).toThrow(
      "json: cannot unmarshal object into Go value of type []ffmpeg.JsonProfile",
    );
    expect(one({ width: "x" })).toThrow(
      "json: cannot unmarshal string into Go struct field JsonProfile.width of type int",
    );
    expect(one({ fps: -1 })).toThrow(
      "json: cannot unmarshal number -1 into Go struct field JsonProfile.fps of type uint",
    );
    expect(one({ gop: "-0.001" })).toThrow("invalid gop value -0.001000. Please set it to a positive value");
    expect(one({ gop: "0" })).toThrow("invalid gop value 0.000000. Please set it to a positive value");
    expect(one({ gop: " 1 " })).toThrow(
      'cannot parse the GOP value in the transcoding options: strconv.ParseFloat: parsing " 1 ": invalid syntax',
    );
    expect(one({ profile: "invalid" })).toThrow(
      "unable to parse the H264 encoder profile: unknown VideoProfile profile name",
    );
    expect(one({ encoder: "h264" })).toThrow("Unable to parse encoder profile, unknown encoder: h264");
    expect(one({ quality: 64 })).toThrow(/invalid quality value 64/);
    expect(() => parseJsonProfiles('[{"bitrate":1}]')).toThrow(/width and height are required/);
  });
  it("refuses names and sizes outside the node's limits, naming the field", () => {
    const one = (o: object) => () =>
      parseJsonProfiles(JSON.stringify([{ name: "ok", width: 640, height: 360, bitrate: 1e6, ...o }]));
    expect(one({})).not.toThrow();
    expect(one({ name: "a\nb" })).toThrow(/profile name "a\\nb": only letters, digits/);
    expect(one({ name: "../x" })).toThrow(/profile name "..\/x"/);
    expect(one({ width: 16384, height: 16384 })).toThrow(
      'profile "ok": width x height 16384x16384 is larger than 7680x4320',
    );
    expect(one({ fps: 1000 })).toThrow(/fps 1000\/1 is outside 0 to 240/);
    expect(one({ bitrate: 1e12 })).toThrow(/bitrate/);
    expect(one({ gop: "120" })).toThrow(/gop 120000 ms/);
    // A default name is always safe.
    expect(parseJsonProfiles('[{"width":640,"height":360}]')[0]!.name).toBe("custom_640x360_0");
  });
});
