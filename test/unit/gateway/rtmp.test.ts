import { describe, expect, it } from "vitest";
import { parseRtmpPath } from "../../../src/gateway/RtmpIngest.js";
import { AmfError, amf0ValueLength, decodeAmf0, encodeAmf0 } from "../../../src/gateway/rtmp/amf0.js";
import {
  ChunkDecoder,
  encodeMessage,
  MAX_MESSAGE_BYTES,
  MSG_SET_CHUNK_SIZE,
  MSG_VIDEO,
  type RtmpMessage,
  RtmpProtocolError,
} from "../../../src/gateway/rtmp/chunks.js";
import { flvTag, videoInfo } from "../../../src/gateway/rtmp/flv.js";

describe("AMF0", () => {
  it("round-trips the values RTMP commands use", () => {
    const values = [
      "connect",
      1,
      { app: "live", tcUrl: "rtmp://h/live", nested: { ok: true, n: null }, list: [1, "a"] },
      null,
      undefined,
      false,
    ];
    const decoded = decodeAmf0(encodeAmf0(...values));
    expect(decoded.length).toBe(values.length);
    expect(decoded[0]).toBe("connect");
    expect(decoded[1]).toBe(1);
    expect({ ...(decoded[2] as object) }).toMatchObject({
      app: "live",
      tcUrl: "rtmp://h/live",
      list: [1, "a"],
    });
    expect(decoded.slice(3)).toEqual([null, undefined, false]);
  });

  it("measures the first value so @setDataFrame can be dropped", () => {
    const body = encodeAmf0("@setDataFrame", "onMetaData", { width: 640 });
    const rest = body.subarray(amf0ValueLength(body));
    expect(decodeAmf0(rest)[0]).toBe("onMetaData");
  });

  it("reads an ECMA array (onMetaData as ffmpeg sends it)", () => {
    // marker 8, count, key "width", number 640, end marker
    const num = Buffer.alloc(9);
    num[0] = 0;
    num.writeDoubleBE(640, 1);
    const buf = Buffer.concat([
      Buffer.from([8, 0, 0, 0, 1, 0, 5]),
      Buffer.from("width"),
      num,
      Buffer.from([0, 0, 9]),
    ]);
    expect({ ...(decodeAmf0(buf)[0] as object) }).toEqual({ width: 640 });
  });

  it("rejects truncated, unknown, lying and too deeply nested input with an AmfError", () => {
    const good = encodeAmf0("publish", 5, { a: "b" });
    for (let cut = 1; cut < good.length; cut++) {
      // Every prefix either decodes (a value boundary) or fails cleanly.
      try {
        decodeAmf0(good.subarray(0, cut));
      } catch (err) {
        expect(err).toBeInstanceOf(AmfError);
      }
    }
    expect(() => decodeAmf0(Buffer.from([0x42]))).toThrow(AmfError);
    expect(() => decodeAmf0(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x05]))).toThrow(/longer than/);
    expect(() => decodeAmf0(Buffer.from([0x11, 0x01]))).toThrow(/AMF3/);
    const deep = Buffer.concat([
      ...Array.from({ length: 40 }, () => Buffer.from([0x0a, 0, 0, 0, 1])),
      Buffer.from([5]),
    ]);
    expect(() => decodeAmf0(deep)).toThrow(/too deep/);
  });
});

describe("RTMP chunk stream", () => {
  const collect = () => {
    const out: RtmpMessage[] = [];
    return { out, dec: new ChunkDecoder((m) => out.push(m)) };
  };

  it("reassembles messages split into chunks, fed one byte at a time", () => {
    const payload = Buffer.from(Array.from({ length: 1000 }, (_, i) => i & 0xff));
    const wire = Buffer.concat([
      encodeMessage(6, { type: MSG_VIDEO, streamId: 1, timestamp: 40, payload }, 128),
      encodeMessage(6, { type: MSG_VIDEO, streamId: 1, timestamp: 80, payload: Buffer.from("x") }, 128),
      encodeMessage(400, { type: 20, streamId: 0, timestamp: 0, payload: Buffer.alloc(0) }, 128),
    ]);
    const { out, dec } = collect();
    for (const b of wire) dec.push(Buffer.from([b]));
    expect(out.map((m) => [m.type, m.streamId, m.timestamp, m.payload.length])).toEqual([
      [MSG_VIDEO, 1, 40, 1000],
      [MSG_VIDEO, 1, 80, 1],
      [20, 0, 0, 0],
    ]);
    expect(out[0]!.payload.equals(payload)).toBe(true);
  });

  it("follows Set Chunk Size and extended timestamps", () => {
    const big = Buffer.alloc(10_000, 7);
    const size = Buffer.alloc(4);
    size.writeUInt32BE(4096, 0);
    const wire = Buffer.concat([
      encodeMessage(2, { type: MSG_SET_CHUNK_SIZE, streamId: 0, timestamp: 0, payload: size }, 128),
      encodeMessage(4, { type: MSG_VIDEO, streamId: 1, timestamp: 0x1234567, payload: big }, 4096),
    ]);
    const { out, dec } = collect();
    dec.push(wire.subarray(0, 100));
    dec.push(wire.subarray(100));
    expect(out[1]!.timestamp).toBe(0x1234567);
    expect(out[1]!.payload.equals(big)).toBe(true);
  });

  it("reads format 1-3 headers as deltas on the previous message", () => {
    // fmt0 at ts 100, then fmt2 (delta 33), then fmt3 (same delta again).
    const msg0 = encodeMessage(
      5,
      { type: MSG_VIDEO, streamId: 1, timestamp: 100, payload: Buffer.from("a") },
      128,
    );
    const fmt2 = Buffer.from([(2 << 6) | 5, 0, 0, 33, 0x62]);
    const fmt3 = Buffer.from([(3 << 6) | 5, 0x63]);
    const { out, dec } = collect();
    dec.push(Buffer.concat([msg0, fmt2, fmt3]));
    expect(out.map((m) => [m.timestamp, m.payload.toString()])).toEqual([
      [100, "a"],
      [133, "b"],
      [166, "c"],
    ]);
  });

  it("refuses oversized messages, unknown chunk streams and bad chunk sizes", () => {
    const tooBig = Buffer.from([
      6,
      0,
      0,
      0,
      (MAX_MESSAGE_BYTES + 1) >> 16,
      ((MAX_MESSAGE_BYTES + 1) >> 8) & 0xff,
      (MAX_MESSAGE_BYTES + 1) & 0xff,
      9,
      1,
      0,
      0,
      0,
    ]);
    expect(() => collect().dec.push(tooBig)).toThrow(RtmpProtocolError);
    expect(() => collect().dec.push(Buffer.from([(3 << 6) | 9, 1, 2, 3]))).toThrow(
      /without a message header/,
    );
    const zero = encodeMessage(
      2,
      { type: MSG_SET_CHUNK_SIZE, streamId: 0, timestamp: 0, payload: Buffer.alloc(4) },
      128,
    );
    expect(() => collect().dec.push(zero)).toThrow(/bad chunk size/);
    // Many chunk streams each announcing a large message: refused before memory is committed.
    const dec = collect().dec;
    expect(() => {
      for (let cs = 3; cs < 60; cs++) {
        const h = Buffer.alloc(12);
        h[0] = cs;
        h.writeUIntBE(MAX_MESSAGE_BYTES, 4, 3);
        h[7] = 9;
        dec.push(Buffer.concat([h, Buffer.alloc(128)]));
      }
    }).toThrow(/unfinished messages/);
  });
});

describe("RTMP decoding of corrupted input", () => {
  it("only ever fails with its own error types (seeded mutation of a valid stream)", () => {
    let seed = 12345;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const valid = Buffer.concat([
      encodeMessage(
        3,
        {
          type: 20,
          streamId: 0,
          timestamp: 0,
          payload: encodeAmf0("connect", 1, { app: "live", n: [1, { a: null }] }),
        },
        128,
      ),
      encodeMessage(
        2,
        { type: MSG_SET_CHUNK_SIZE, streamId: 0, timestamp: 0, payload: Buffer.from([0, 0, 16, 0]) },
        128,
      ),
      encodeMessage(
        4,
        { type: MSG_VIDEO, streamId: 1, timestamp: 0xffffff + 5, payload: Buffer.alloc(9000, 1) },
        4096,
      ),
      encodeMessage(
        300,
        {
          type: 18,
          streamId: 1,
          timestamp: 10,
          payload: encodeAmf0("@setDataFrame", "onMetaData", { w: 1 }),
        },
        4096,
      ),
    ]);
    const unexpected: unknown[] = [];
    for (let i = 0; i < 3000; i++) {
      const b = Buffer.from(valid);
      for (let k = 1 + rand(5); k > 0; k--) b[rand(b.length)] = rand(256);
      const dec = new ChunkDecoder((m) => {
        if (m.type !== 20 && m.type !== 18) return;
        try {
          decodeAmf0(m.payload);
        } catch (err) {
          if (!(err instanceof AmfError)) unexpected.push(err);
        }
      });
      try {
        for (let off = 0; off < b.length; ) {
          const n = 1 + rand(700);
          dec.push(b.subarray(off, off + n));
          off += n;
        }
      } catch (err) {
        if (!(err instanceof RtmpProtocolError)) unexpected.push(err);
      }
    }
    expect(unexpected).toEqual([]);
  });
});

describe("RTMP paths and FLV", () => {
  it("takes the manifest ID and key as go-livepeer does", () => {
    expect(parseRtmpPath("live", "abc")).toMatchObject({ manifestId: "abc" });
    expect(parseRtmpPath("abc", "key1")).toEqual({ manifestId: "abc", key: "key1" });
    expect(parseRtmpPath("stream", "abc/k")).toEqual({ manifestId: "abc", key: "k" });
    expect(parseRtmpPath("live", "abc?token=1")).toMatchObject({ manifestId: "abc" });
    const random = parseRtmpPath("live", "");
    expect(random.manifestId).toMatch(/^[0-9a-f]{8}$/);
    expect(random.key).toMatch(/^[0-9a-f]{12}$/);
  });

  it("frames FLV tags with 32-bit timestamps and spots keyframes", () => {
    const tag = flvTag(9, 0x01020304, Buffer.from([0x17, 1]));
    expect(tag.readUIntBE(1, 3)).toBe(2);
    expect(tag.readUIntBE(4, 3) | (tag[7]! << 24)).toBe(0x01020304);
    expect(tag.readUInt32BE(tag.length - 4)).toBe(13);
    expect(videoInfo(Buffer.from([0x17, 0]))).toEqual({ keyframe: true, config: true, codec: 7 });
    expect(videoInfo(Buffer.from([0x27, 1]))).toEqual({ keyframe: false, config: false, codec: 7 });
    expect(videoInfo(Buffer.from([0x90, 0]))?.codec).toBe(-1);
  });
});
