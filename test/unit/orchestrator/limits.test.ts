import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { LpError } from "../../../src/errors/LpError.js";
import { readBody } from "../../../src/http/body.js";
import { FFMPEG_TIMEOUT_CAP_MS, ffmpegTimeoutMs } from "../../../src/media/transcoder.js";
import { segmentErrorStatus, uploadDeadlineMs } from "../../../src/orchestrator/http.js";

describe("time limits", () => {
  it("ffmpeg gets max(20 s, 3x duration), never more than 5 min", () => {
    expect(ffmpegTimeoutMs(2000)).toBe(20_000);
    expect(ffmpegTimeoutMs(10_000)).toBe(30_000);
    // A declared 300 s segment no longer buys 40 min of CPU.
    expect(ffmpegTimeoutMs(300_000)).toBe(FFMPEG_TIMEOUT_CAP_MS);
    expect(FFMPEG_TIMEOUT_CAP_MS).toBe(300_000);
  });

  it("an upload gets max(floor, 2x duration) plus 1 ms per KB declared: more than go-livepeer's gateway allows itself", () => {
    expect(uploadDeadlineMs(2000, 0, 10_000)).toBe(10_000);
    expect(uploadDeadlineMs(10_000, 0, 10_000)).toBe(20_000);
    expect(uploadDeadlineMs(2000, 300_000_000, 10_000)).toBe(310_000);
    // go-livepeer's gateway: max(2 s, 0.5 x duration) for the upload.
    for (const d of [500, 2000, 10_000, 300_000]) {
      expect(uploadDeadlineMs(d, 0, 10_000)).toBeGreaterThan(Math.max(2000, 0.5 * d));
    }
  });
});

describe("segment errors at the edge", () => {
  it("maps codes to go-livepeer's statuses", () => {
    expect(segmentErrorStatus(new LpError("BAD_PAYMENT", "base64 decode error: x"))).toEqual({
      status: 402,
      text: "base64 decode error: x",
    });
    expect(segmentErrorStatus(new LpError("AUTH_TOKEN", "invalid auth token"))).toEqual({
      status: 403,
      text: "invalid auth token",
    });
    expect(segmentErrorStatus(new LpError("SEGMENT_HASH_MISMATCH", "Forbidden")).status).toBe(403);
    expect(segmentErrorStatus(new LpError("BODY_TOO_LARGE", "big"))).toEqual({
      status: 500,
      text: "Internal Server Error",
    });
    expect(segmentErrorStatus(new LpError("UPLOAD_TIMEOUT", "slow")).status).toBe(408);
    expect(segmentErrorStatus(new LpError("TOO_MANY_UPLOADS", "too many")).status).toBe(429);
    expect(segmentErrorStatus(new Error("boom"))).toEqual({ status: 500, text: "Internal Server Error" });
  });
});

describe("readBody", () => {
  it("fills a buffer of the declared size", async () => {
    const s = new PassThrough();
    const body = readBody(s, { limit: 100, contentLength: "6" });
    s.write("abc");
    s.end("def");
    expect((await body).toString()).toBe("abcdef");
  });

  it("reads a body of unknown length up to the limit", async () => {
    const s = new PassThrough();
    const body = readBody(s, { limit: 100 });
    s.write("abc");
    s.end("def");
    expect((await body).toString()).toBe("abcdef");
  });

  it("refuses a declared size over the limit before reading anything", async () => {
    const s = new PassThrough();
    await expect(readBody(s, { limit: 10, contentLength: "11" })).rejects.toMatchObject({
      code: "BODY_TOO_LARGE",
    });
  });

  it("refuses a body that grows past the limit or past its declared length", async () => {
    const a = new PassThrough();
    const tooBig = readBody(a, { limit: 4 });
    a.write("12345");
    await expect(tooBig).rejects.toMatchObject({ code: "BODY_TOO_LARGE" });
    const b = new PassThrough();
    const longer = readBody(b, { limit: 100, contentLength: "2" });
    b.write("123");
    await expect(longer).rejects.toMatchObject({ code: "BODY_INCOMPLETE" });
  });

  it("refuses a body shorter than declared, and a stream that closes early", async () => {
    const a = new PassThrough();
    const short = readBody(a, { limit: 100, contentLength: "5" });
    a.end("12");
    await expect(short).rejects.toMatchObject({ code: "BODY_INCOMPLETE" });
    const b = new PassThrough();
    const gone = readBody(b, { limit: 100 });
    b.write("1");
    b.destroy();
    await expect(gone).rejects.toMatchObject({ code: "BODY_INCOMPLETE" });
  });

  it("accounts an undeclared body as it arrives and stops when the budget says no", async () => {
    const s = new PassThrough();
    let budget = 4;
    const body = readBody(s, {
      limit: 100,
      reserve: (n) => {
        if (n > budget) return false;
        budget -= n;
        return true;
      },
    });
    s.write("abc");
    s.write("de");
    await expect(body).rejects.toMatchObject({ code: "UPLOADS_BUSY" });
    expect(budget).toBe(1);
  });

  it("gives up on a body that does not arrive in time", async () => {
    const s = new PassThrough();
    const slow = readBody(s, { limit: 100, contentLength: "10", deadlineMs: 50 });
    s.write("1");
    await expect(slow).rejects.toMatchObject({ code: "UPLOAD_TIMEOUT" });
  });
});
