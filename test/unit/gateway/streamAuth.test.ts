import { describe, expect, it } from "vitest";
import { parseAuthAnswer, StreamAuthDenied } from "../../../src/gateway/StreamAuth.js";

describe("stream auth webhook answers", () => {
  it("accepts an empty body as 'defaults' and reads manifestID, streamKey, presets and profiles", () => {
    expect(parseAuthAnswer("")).toBeNull();
    expect(parseAuthAnswer('{"manifestID":"abc","streamKey":"k"}')).toEqual({
      manifestId: "abc",
      streamKey: "k",
      profiles: null,
    });
    const r = parseAuthAnswer(
      JSON.stringify({
        manifestID: "abc",
        presets: ["P144p30fps16x9", "NoSuchPreset"],
        profiles: [{ name: "custom", width: 320, height: 180, bitrate: 300000, fps: 24 }],
      }),
    )!;
    expect(r.profiles!.map((p) => p.name)).toEqual(["P144p30fps16x9", "custom"]);
    // Presets that are all unknown leave an empty ladder (source only), as go-livepeer does.
    expect(parseAuthAnswer('{"manifestID":"a","presets":["nope"]}')!.profiles).toEqual([]);
  });

  it("refuses answers it cannot honour", () => {
    for (const body of [
      "not json",
      "[]",
      '{"streamKey":"k"}',
      '{"manifestID":""}',
      '{"manifestID":"../x"}',
      '{"manifestID":"a","objectStore":"s3://k:s@region/bucket"}',
      '{"manifestID":"a","profiles":[{"name":"bad","width":"wide"}]}',
      '{"manifestID":".hidden"}',
      '{"manifestID":"a/b"}',
      '{"manifestID":"a%2Fb"}',
      '{"manifestID":"a\\nb"}',
      `{"manifestID":"${"m".repeat(129)}"}`,
      '{"manifestID":"a","profiles":[{"name":"x\\n#EXTM3U","width":320,"height":180}]}',
      '{"manifestID":"a","profiles":[{"name":"../x","width":320,"height":180}]}',
      '{"manifestID":"a","profiles":[{"name":"big","width":16384,"height":16384}]}',
    ]) {
      expect(() => parseAuthAnswer(body), body).toThrow(StreamAuthDenied);
    }
    expect(() => parseAuthAnswer('{"manifestID":"a","objectStore":"s3://k:s@r/b"}')).toThrow(
      /not supported yet/,
    );
  });
});
