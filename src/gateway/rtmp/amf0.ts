/**
 * AMF0 (Adobe's Action Message Format 0), the encoding of RTMP commands and stream metadata.
 * Only what RTMP publishers send is decoded; unknown markers and bad lengths raise an error,
 * never a crash, and nesting is bounded so hostile input cannot exhaust the stack.
 */

export type AmfValue = number | boolean | string | null | undefined | Date | AmfObject | AmfValue[];
export interface AmfObject {
  [key: string]: AmfValue;
}

const NUMBER = 0x00;
const BOOLEAN = 0x01;
const STRING = 0x02;
const OBJECT = 0x03;
const NULL = 0x05;
const UNDEFINED = 0x06;
const REFERENCE = 0x07;
const ECMA_ARRAY = 0x08;
const OBJECT_END = 0x09;
const STRICT_ARRAY = 0x0a;
const DATE = 0x0b;
const LONG_STRING = 0x0c;
const XML_DOCUMENT = 0x0f;
const TYPED_OBJECT = 0x10;
const AVMPLUS = 0x11;

const MAX_DEPTH = 32;

export class AmfError extends Error {}

class Reader {
  pos = 0;
  constructor(private readonly buf: Buffer) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw new AmfError("AMF0 value runs past the end of the message");
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  f64(): number {
    this.need(8);
    const v = this.buf.readDoubleBE(this.pos);
    this.pos += 8;
    return v;
  }

  utf8(len: number): string {
    this.need(len);
    const s = this.buf.toString("utf8", this.pos, this.pos + len);
    this.pos += len;
    return s;
  }

  value(depth: number): AmfValue {
    if (depth > MAX_DEPTH) throw new AmfError("AMF0 nesting too deep");
    const marker = this.u8();
    switch (marker) {
      case NUMBER:
        return this.f64();
      case BOOLEAN:
        return this.u8() !== 0;
      case STRING:
        return this.utf8(this.u16());
      case LONG_STRING:
      case XML_DOCUMENT:
        return this.utf8(this.u32());
      case OBJECT:
        return this.properties(depth);
      case TYPED_OBJECT:
        this.utf8(this.u16()); // class name
        return this.properties(depth);
      case ECMA_ARRAY:
        this.u32(); // count hint; the list ends with the object-end marker like an object
        return this.properties(depth);
      case STRICT_ARRAY: {
        const n = this.u32();
        // Every element takes at least one byte, so a count past the rest of the buffer is a lie.
        if (n > this.buf.length - this.pos) throw new AmfError("AMF0 array longer than its message");
        const out: AmfValue[] = [];
        for (let i = 0; i < n; i++) out.push(this.value(depth + 1));
        return out;
      }
      case DATE: {
        const ms = this.f64();
        this.u16(); // time zone, unused by the format's own definition
        return new Date(ms);
      }
      case NULL:
        return null;
      case UNDEFINED:
        return undefined;
      case REFERENCE:
        this.u16();
        return undefined;
      case AVMPLUS:
        throw new AmfError("AMF3 values are not supported");
      default:
        throw new AmfError(`unknown AMF0 marker 0x${marker.toString(16)}`);
    }
  }

  private properties(depth: number): AmfObject {
    const out: AmfObject = Object.create(null) as AmfObject;
    for (;;) {
      const key = this.utf8(this.u16());
      if (key === "") {
        const end = this.u8();
        if (end !== OBJECT_END) throw new AmfError("AMF0 object without its end marker");
        return out;
      }
      out[key] = this.value(depth + 1);
    }
  }
}

/** Decode every AMF0 value in a message body. */
export function decodeAmf0(buf: Buffer): AmfValue[] {
  const r = new Reader(buf);
  const out: AmfValue[] = [];
  while (!r.done) out.push(r.value(0));
  return out;
}

/** Byte length of the first AMF0 value of `buf` (used to drop @setDataFrame from metadata). */
export function amf0ValueLength(buf: Buffer): number {
  const r = new Reader(buf);
  r.value(0);
  return r.pos;
}

function str(s: string): Buffer[] {
  const b = Buffer.from(s, "utf8");
  if (b.length > 0xffff) {
    const h = Buffer.alloc(5);
    h[0] = LONG_STRING;
    h.writeUInt32BE(b.length, 1);
    return [h, b];
  }
  const h = Buffer.alloc(3);
  h[0] = STRING;
  h.writeUInt16BE(b.length, 1);
  return [h, b];
}

function key(s: string): Buffer[] {
  const b = Buffer.from(s, "utf8");
  const h = Buffer.alloc(2);
  h.writeUInt16BE(b.length, 0);
  return [h, b];
}

function encodeValue(v: AmfValue, out: Buffer[]): void {
  if (v === null) out.push(Buffer.from([NULL]));
  else if (v === undefined) out.push(Buffer.from([UNDEFINED]));
  else if (typeof v === "number") {
    const b = Buffer.alloc(9);
    b[0] = NUMBER;
    b.writeDoubleBE(v, 1);
    out.push(b);
  } else if (typeof v === "boolean") out.push(Buffer.from([BOOLEAN, v ? 1 : 0]));
  else if (typeof v === "string") out.push(...str(v));
  else if (v instanceof Date) {
    const b = Buffer.alloc(11);
    b[0] = DATE;
    b.writeDoubleBE(v.getTime(), 1);
    out.push(b);
  } else if (Array.isArray(v)) {
    const h = Buffer.alloc(5);
    h[0] = STRICT_ARRAY;
    h.writeUInt32BE(v.length, 1);
    out.push(h);
    for (const e of v) encodeValue(e, out);
  } else {
    out.push(Buffer.from([OBJECT]));
    for (const [k, e] of Object.entries(v)) {
      out.push(...key(k));
      encodeValue(e, out);
    }
    out.push(Buffer.from([0, 0, OBJECT_END]));
  }
}

/** Encode values one after another, as an RTMP command body. */
export function encodeAmf0(...values: AmfValue[]): Buffer {
  const out: Buffer[] = [];
  for (const v of values) encodeValue(v, out);
  return Buffer.concat(out);
}
