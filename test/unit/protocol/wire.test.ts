import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { AuthTokens } from "../../../src/protocol/authToken.js";
import { bigEndianMinimal, bytesToBigInt, leftPad } from "../../../src/protocol/bytes.js";
import {
  Capability,
  capabilitiesCompatible,
  capabilitiesFromBitstring,
  capabilityBitstring,
  DEFAULT_CAPABILITIES,
  LEGACY_CAPABILITIES,
  legacyOnly,
  nodeCapabilities,
  versionCompatible,
} from "../../../src/protocol/capabilities.js";
import {
  CapabilitiesSchema,
  PaymentSchema,
  SegDataSchema,
  TranscodeResultSchema,
  VideoProfile_Format,
  type VideoProfile_Profile,
  type VideoProfile_VideoCodec,
  VideoProfileSchema,
} from "../../../src/protocol/gen/lp_rpc_pb.js";
import { profilesFromWire, profilesToWire } from "../../../src/protocol/profiles.js";
import {
  decodePaymentHeader,
  decodeSegmentHeader,
  encodeSegmentHeader,
  keccak,
  segmentFlatten,
  segmentProfiles,
} from "../../../src/protocol/segment.js";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("segment signing payload (TestSegmentFlatten)", () => {
  it("matches go-livepeer's vector", () => {
    const hash = Buffer.alloc(32);
    hash.write("browns");
    const flat = segmentFlatten({
      manifestId: Buffer.from("abcdef"),
      seq: 1234n,
      hash,
      profileNames: ["P144p30fps16x9", "P240p30fps16x9"],
    });
    expect(flat.subarray(-16).toString("ascii")).toBe("fca40bf9c0a6517a");
    expect(hex(keccak(flat))).toBe("08a398e7e7a5a545b0b07d9e7e1eab52b4131e0df1621bd53ee6e7550a15465b");
  });
  it("keccak of nothing is the empty-segment hash", () => {
    expect(hex(keccak(Buffer.alloc(0)))).toBe(
      "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470",
    );
  });
});

describe("big-endian minimal bytes", () => {
  it("is empty for zero and has no leading zeros", () => {
    expect(hex(bigEndianMinimal(0n))).toBe("");
    expect(hex(bigEndianMinimal(1234n))).toBe("04d2");
    expect(hex(leftPad(bigEndianMinimal(1234n), 4))).toBe("000004d2");
    expect(bytesToBigInt(Buffer.from("0100", "hex"))).toBe(256n);
  });
});

describe("capability bitstrings (TestCapability_NewString)", () => {
  it("sets bit c%64 of word c/64 and skips negatives", () => {
    expect(capabilityBitstring([-10, -1, 0, 1, 2, 3, 4, 5])).toEqual([63n]);
    expect(capabilityBitstring([193, 192])).toEqual([0n, 0n, 0n, 3n]);
    expect(capabilityBitstring([193, 54, 192, 79])).toEqual([1n << 54n, 32768n, 0n, 3n]);
    expect(capabilityBitstring(DEFAULT_CAPABILITIES)).toEqual([0x4005fffn]);
    expect(capabilityBitstring([...DEFAULT_CAPABILITIES, 35])).toEqual([0x804005fffn]);
    expect(capabilityBitstring(LEGACY_CAPABILITIES)).toEqual([0xfffn]);
    expect(capabilityBitstring([0, 1, 12])).toEqual([0x1003n]);
    expect(capabilitiesFromBitstring([0x1003n])).toEqual([0, 1, 12]);
  });
  it("round-trips capacities in the Capabilities message (TestCapability_Capacities)", () => {
    const caps = nodeCapabilities([128, 2, 3], { version: "0.1.0" });
    expect(caps.bitstring).toEqual([12n, 0n, 1n]);
    expect(caps.capacities).toEqual({ 2: 1, 3: 1, 128: 1 });
    const back = fromBinary(CapabilitiesSchema, toBinary(CapabilitiesSchema, caps));
    expect(back.bitstring).toEqual([12n, 0n, 1n]);
    expect(back.version).toBe("0.1.0");
  });
});

describe("compatibility (TestCapability_CompatibleWithNetCap)", () => {
  const c = (bits: number[], extra: { mandatories?: number[]; version?: string; minVersion?: string } = {}) =>
    create(CapabilitiesSchema, {
      bitstring: capabilityBitstring(bits),
      mandatories: capabilityBitstring(extra.mandatories ?? []),
      version: extra.version ?? "",
      constraints: extra.minVersion ? { minVersion: extra.minVersion } : undefined,
    });
  it("follows go-livepeer's table", () => {
    expect(capabilitiesCompatible(c([]), c([]))).toBe(true);
    expect(capabilitiesCompatible(c([1]), c([]))).toBe(false);
    expect(capabilitiesCompatible(c([1]), c([2]))).toBe(false);
    expect(capabilitiesCompatible(c([1]), c([1, 2]))).toBe(true);
    expect(capabilitiesCompatible(c([1]), c([1, 3], { mandatories: [3] }))).toBe(false);
    expect(capabilitiesCompatible(c([3]), c([1, 3], { mandatories: [3] }))).toBe(true);
    expect(capabilitiesCompatible(c([1, 3]), c([1, 3], { mandatories: [3] }))).toBe(true);
    expect(capabilitiesCompatible(c([1], { minVersion: "0.4.1" }), c([1], { version: "0.4.0" }))).toBe(false);
    expect(capabilitiesCompatible(c([1], { minVersion: "0.4.1" }), c([1], { version: "0.4.1" }))).toBe(true);
    expect(capabilitiesCompatible(undefined, c([0]))).toBe(true);
  });
  it("checks versions with pre-release suffixes ignored", () => {
    expect(versionCompatible("", "")).toBe(true);
    expect(versionCompatible("0.4.1", "")).toBe(false);
    expect(versionCompatible("0.4.1", "undefined")).toBe(false);
    expect(versionCompatible("0.4.1", "0.4.1-b3278dce-dirty")).toBe(true);
    expect(versionCompatible("0.4.1-b3278dce-dirty", "0.4.1")).toBe(true);
    expect(versionCompatible("0.4.2", "0.4.1-b3278dce")).toBe(false);
    expect(versionCompatible("not a version", "0.1.0")).toBe(true);
    expect(versionCompatible("0.4.1", "junk")).toBe(false);
  });
  it("knows legacy-only jobs", () => {
    expect(legacyOnly(c([0, 1, 11]))).toBe(true);
    expect(legacyOnly(c([0, Capability.AuthToken]))).toBe(false);
  });
});

describe("auth tokens", () => {
  it("verifies its own tokens, rejects forged and expired ones", () => {
    let now = 1_000_000_000_000;
    const tokens = new AuthTokens(Buffer.alloc(32, 7), () => now);
    const t = tokens.issue();
    expect(t.sessionId).toMatch(/^[0-9a-f]{8}$/);
    expect(t.expiration).toBe(BigInt(Math.floor(now / 1000) + 1800));
    expect(t.token.length).toBe(32);
    expect(tokens.check(t)).toBe("valid");
    expect(tokens.check(undefined)).toBe("missing");
    expect(tokens.check({ ...t, sessionId: "deadbeef" })).toBe("invalid");
    expect(tokens.check({ ...t, token: new Uint8Array(32) })).toBe("invalid");
    expect(new AuthTokens(Buffer.alloc(32, 8), () => now).check(t)).toBe("invalid");
    now += 1801_000;
    expect(tokens.check(t)).toBe("expired");
    expect(tokens.authentic(t)).toBe(true);
  });
  it("is HMAC-SHA256 over session id and big-endian minimal expiration", async () => {
    const { createHmac } = await import("node:crypto");
    const tokens = new AuthTokens(Buffer.from("k"));
    const expect32 = createHmac("sha256", "k")
      .update(Buffer.concat([Buffer.from("abcd1234"), Buffer.from([0x01, 0x00])]))
      .digest();
    expect(hex(tokens.mac("abcd1234", 256n))).toBe(hex(expect32));
  });
});

describe("headers", () => {
  it("decodes an empty payment header to an empty payment", () => {
    const p = decodePaymentHeader("");
    expect(p.sender.length).toBe(0);
    expect(p.ticketParams).toBeUndefined();
  });
  it("reports base64 and protobuf errors in go-livepeer's words", () => {
    expect(() => decodePaymentHeader("%%%")).toThrow(/base64/);
    expect(() => decodePaymentHeader(Buffer.from([0xff, 0xff, 0xff]).toString("base64"))).toThrow(/protobuf/);
    expect(() => decodeSegmentHeader("not base64!")).toThrow("ErrorSegEncoding");
    expect(() => decodeSegmentHeader(undefined)).not.toThrow();
    expect(() => decodeSegmentHeader(Buffer.from([0x0a, 0x05, 0x01]).toString("base64"))).toThrow();
  });
  it("round-trips SegData through the header", () => {
    const seg = create(SegDataSchema, {
      manifestId: Buffer.from("m"),
      seq: 7n,
      duration: 2000,
      fullProfiles2: [create(VideoProfileSchema, { name: "a", format: VideoProfile_Format.MP4 })],
    });
    const back = decodeSegmentHeader(encodeSegmentHeader(seg));
    expect(back.seq).toBe(7n);
    expect(segmentProfiles(back).map((p) => p.name)).toEqual(["a"]);
  });
  it("encodes field numbers go-livepeer expects", () => {
    // TranscodeResult.error is field 2 (tag 0x12); info is field 16 (tag 0x82 0x01).
    const bytes = toBinary(
      TranscodeResultSchema,
      create(TranscodeResultSchema, { seq: 1n, result: { case: "error", value: "x" } }),
    );
    expect(hex(bytes)).toBe("0801120178");
  });
  it("payment sender is field 2", () => {
    expect(hex(toBinary(PaymentSchema, create(PaymentSchema, { sender: new Uint8Array([1]) })))).toBe(
      "120101",
    );
  });
});

describe("wire profiles", () => {
  it("maps enums and names like makeFfmpegVideoProfiles", () => {
    const [p] = profilesFromWire([
      create(VideoProfileSchema, { width: 123, height: 456, bitrate: 789, gop: 123 }),
    ]);
    expect(p).toMatchObject({
      name: "net_123x456_789",
      format: "mpegts",
      profile: "none",
      codec: "h264",
      gopMs: 123,
    });
    expect(() =>
      profilesFromWire([create(VideoProfileSchema, { format: 7 as VideoProfile_Format })]),
    ).toThrow("unrecognized profile output format");
    expect(() =>
      profilesFromWire([create(VideoProfileSchema, { profile: 9 as VideoProfile_Profile })]),
    ).toThrow("unrecognized encoder profile");
    expect(() =>
      profilesFromWire([create(VideoProfileSchema, { encoder: 9 as VideoProfile_VideoCodec })]),
    ).toThrow("unrecognized video codec");
  });
  it("writes empty names as ffmpeg_WxH_bitrate and round-trips", () => {
    const [w] = profilesToWire([
      {
        name: "",
        width: 123,
        height: 456,
        bitrate: 432000,
        fps: 30,
        fpsDen: 1,
        format: "mp4",
        profile: "high",
        gopMs: -1,
        codec: "h265",
        quality: 0,
      },
    ]);
    expect(w!.name).toBe("ffmpeg_123x456_432000");
    expect(profilesFromWire([w!])[0]).toMatchObject({
      format: "mp4",
      profile: "high",
      codec: "h265",
      gopMs: -1,
    });
  });
});
