import { describe, expect, it } from "vitest";
import {
  buildMultipart,
  parseContentType,
  parseMultipart,
  randomBoundary,
} from "../../../src/http/multipart.js";

describe("multipart", () => {
  it("builds Go-style bodies and parses them back", () => {
    const body = buildMultipart(
      [
        {
          headers: { Pixels: "999", "Content-Type": "video/mp2t", "Content-Length": "3" },
          body: Buffer.from("abc"),
        },
        { headers: { "Content-Type": "video/mp4" }, body: Buffer.from("\r\n--x") },
      ],
      "9259515bf7025a291b00",
    );
    expect(
      body
        .toString()
        .startsWith(
          "--9259515bf7025a291b00\r\nContent-Length: 3\r\nContent-Type: video/mp2t\r\nPixels: 999\r\n\r\nabc\r\n--9259515bf7025a291b00\r\n",
        ),
    ).toBe(true);
    expect(body.toString().endsWith("\r\n--9259515bf7025a291b00--\r\n")).toBe(true);
    const parts = parseMultipart(body, "9259515bf7025a291b00");
    expect(parts.map((p) => p.body.toString())).toEqual(["abc", "\r\n--x"]);
    expect(parts[0]!.headers).toEqual({ "content-length": "3", "content-type": "video/mp2t", pixels: "999" });
  });
  it("parses an empty multipart and rejects truncated ones", () => {
    expect(parseMultipart(buildMultipart([], "b"), "b")).toEqual([]);
    const whole = buildMultipart([{ headers: {}, body: Buffer.from("x") }], "b");
    expect(() => parseMultipart(whole.subarray(0, whole.length - 8), "b")).toThrow(/closing boundary/);
    expect(() => parseMultipart(Buffer.from("nothing"), "b")).toThrow(/boundary not found/);
  });
  it("parses content types like Go's mime package", () => {
    expect(parseContentType(undefined)).toEqual({ error: "mime: no media type" });
    expect(parseContentType("multipart/mixed; boundary=abc")).toEqual({
      type: "multipart/mixed",
      params: { boundary: "abc" },
    });
    expect(parseContentType("Livepeer/Transcoding-Error")).toEqual({
      type: "livepeer/transcoding-error",
      params: {},
    });
    expect(parseContentType("garbage")).toHaveProperty("error");
    expect(randomBoundary()).toMatch(/^[0-9a-f]{20}$/);
  });
});
