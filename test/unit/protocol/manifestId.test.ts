import { describe, expect, it } from "vitest";
import { parseRtmpPath } from "../../../src/gateway/RtmpIngest.js";
import {
  isValidManifestId,
  MAX_MANIFEST_ID_LENGTH,
  manifestIdProblem,
} from "../../../src/protocol/manifestId.js";

describe("manifest IDs (one rule for HTTP push, the auth webhook and RTMP)", () => {
  it("accepts plain names", () => {
    for (const id of ["abc", "a.b", "a-b_c", "0", "x.", "m".repeat(MAX_MANIFEST_ID_LENGTH)]) {
      expect(isValidManifestId(id), id).toBe(true);
    }
  });

  it("refuses what would not be one visible URL path segment, saying why", () => {
    expect(manifestIdProblem("")).toBe("empty manifest id");
    expect(manifestIdProblem(".hidden")).toMatch(/starts with a dot/);
    expect(manifestIdProblem("..")).toMatch(/starts with a dot/);
    expect(manifestIdProblem("m".repeat(MAX_MANIFEST_ID_LENGTH + 1))).toMatch(/longer than/);
    for (const id of ["a/b", "a%2Fb", "a\\b", "a b", "a\nb", "a\u0000b", "a\u007fb", "é", "a?b", "a#b"]) {
      expect(manifestIdProblem(id), JSON.stringify(id)).toMatch(/characters other than/);
    }
  });

  it("judges the names RTMP publish paths give", () => {
    expect(isValidManifestId(parseRtmpPath("live", "abc/key").manifestId)).toBe(true);
    expect(isValidManifestId(parseRtmpPath("live", ".hidden").manifestId)).toBe(false);
    expect(isValidManifestId(parseRtmpPath("live", "a%2Fb").manifestId)).toBe(false);
  });
});
