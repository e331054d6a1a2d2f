/**
 * The RTMP chunk stream: messages are cut into chunks of at most `chunkSize` bytes, each with a
 * basic header (format, chunk stream id) and a header that repeats less of the previous message
 * the higher its format. The decoder holds only the bytes of one incomplete chunk plus the
 * messages being assembled, with limits on message size and chunk streams.
 */

export const MSG_SET_CHUNK_SIZE = 1;
export const MSG_ABORT = 2;
export const MSG_ACK = 3;
export const MSG_USER_CONTROL = 4;
export const MSG_WINDOW_ACK_SIZE = 5;
export const MSG_SET_PEER_BANDWIDTH = 6;
export const MSG_AUDIO = 8;
export const MSG_VIDEO = 9;
export const MSG_DATA_AMF3 = 15;
export const MSG_COMMAND_AMF3 = 17;
export const MSG_DATA_AMF0 = 18;
export const MSG_COMMAND_AMF0 = 20;

/** Largest message accepted (a few seconds of a high-bitrate keyframe fit easily). */
export const MAX_MESSAGE_BYTES = 8 * 1024 * 1024;
const MAX_CHUNK_STREAMS = 64;
/** Bytes all unfinished messages of a connection may announce together. */
const MAX_ASSEMBLING_BYTES = 2 * MAX_MESSAGE_BYTES;
const MAX_CHUNK_SIZE = 0xffffff;

export interface RtmpMessage {
  type: number;
  streamId: number;
  timestamp: number;
  payload: Buffer;
}

export class RtmpProtocolError extends Error {}

interface ChunkStream {
  timestamp: number;
  delta: number;
  length: number;
  type: number;
  streamId: number;
  extended: boolean;
  parts: Buffer[];
  received: number;
}

/** Reassembles RTMP messages from the bytes of a connection. */
export class ChunkDecoder {
  private chunkSize = 128;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Bytes the incomplete chunk at the head of `pending` needs before parsing is worth retrying. */
  private need = 1;
  private assembling = 0;
  private readonly streams = new Map<number, ChunkStream>();

  constructor(private readonly onMessage: (msg: RtmpMessage) => void) {}

  /** Feed bytes; complete messages are delivered in order. Throws RtmpProtocolError on bad input. */
  push(data: Buffer): void {
    this.pending.push(data);
    this.pendingBytes += data.length;
    if (this.pendingBytes < this.need) return;
    const buf = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
    let off = 0;
    for (;;) {
      const used = this.chunk(buf, off);
      if (used === 0) break;
      off += used;
    }
    const rest = buf.subarray(off);
    this.pending = rest.length > 0 ? [rest] : [];
    this.pendingBytes = rest.length;
  }

  /** Not enough bytes for the chunk at `off`: remember how many it needs in all. */
  private short(off: number, end: number): number {
    this.need = end - off;
    return 0;
  }

  /** Parse one chunk at `off`; 0 when it is not complete yet. */
  private chunk(buf: Buffer, off: number): number {
    let p = off;
    if (p >= buf.length) return this.short(off, p + 1);
    const b0 = buf[p++]!;
    const fmt = b0 >> 6;
    let csid = b0 & 0x3f;
    if (csid === 0) {
      if (p + 1 > buf.length) return this.short(off, p + 1);
      csid = 64 + buf[p++]!;
    } else if (csid === 1) {
      if (p + 2 > buf.length) return this.short(off, p + 2);
      csid = 64 + buf[p]! + buf[p + 1]! * 256;
      p += 2;
    }
    const headerLen = [11, 7, 3, 0][fmt]!;
    if (p + headerLen > buf.length) return this.short(off, p + headerLen);
    let cs = this.streams.get(csid);
    if (!cs) {
      if (fmt > 1) throw new RtmpProtocolError(`chunk stream ${csid} starts without a message header`);
      if (this.streams.size >= MAX_CHUNK_STREAMS) throw new RtmpProtocolError("too many chunk streams");
      cs = {
        timestamp: 0,
        delta: 0,
        length: 0,
        type: 0,
        streamId: 0,
        extended: false,
        parts: [],
        received: 0,
      };
    }
    const starting = cs.received === 0;
    // Header fields are read into locals and committed only once the whole chunk is here.
    let tsField = 0;
    let length = cs.length;
    let type = cs.type;
    let streamId = cs.streamId;
    if (fmt <= 2) tsField = buf.readUIntBE(p, 3);
    if (fmt <= 1) {
      length = buf.readUIntBE(p + 3, 3);
      type = buf[p + 6]!;
    }
    if (fmt === 0) streamId = buf.readUInt32LE(p + 7);
    p += headerLen;
    const extended = fmt <= 2 ? tsField === 0xffffff : cs.extended;
    let extTs = 0;
    if (extended) {
      if (p + 4 > buf.length) return this.short(off, p + 4);
      extTs = buf.readUInt32BE(p);
      p += 4;
    }
    if (!starting && fmt !== 3)
      throw new RtmpProtocolError("new message header inside an unfinished message");
    if (length > MAX_MESSAGE_BYTES) throw new RtmpProtocolError(`message of ${length} bytes is too large`);
    if (starting && this.assembling + length > MAX_ASSEMBLING_BYTES)
      throw new RtmpProtocolError("too many bytes in unfinished messages");
    const take = Math.min(this.chunkSize, length - cs.received);
    if (p + take > buf.length) return this.short(off, p + take);

    // Commit the header.
    if (starting) {
      this.assembling += length;
      const ts = extended ? extTs : tsField;
      if (fmt === 0) {
        cs.timestamp = ts;
        cs.delta = 0;
      } else if (fmt === 1 || fmt === 2) {
        cs.delta = ts;
        cs.timestamp = (cs.timestamp + ts) >>> 0;
      } else {
        cs.timestamp = (cs.timestamp + cs.delta) >>> 0;
      }
      cs.length = length;
      cs.type = type;
      cs.streamId = streamId;
      cs.extended = extended;
    }
    this.streams.set(csid, cs);
    if (take > 0) {
      cs.parts.push(Buffer.from(buf.subarray(p, p + take)));
      cs.received += take;
    }
    p += take;
    if (cs.received >= cs.length) {
      const payload = cs.parts.length === 1 ? cs.parts[0]! : Buffer.concat(cs.parts);
      cs.parts = [];
      cs.received = 0;
      this.assembling -= cs.length;
      this.control(cs.type, payload);
      this.onMessage({ type: cs.type, streamId: cs.streamId, timestamp: cs.timestamp, payload });
    }
    this.need = 1;
    return p - off;
  }

  /** Protocol control messages that change how chunks are read. */
  private control(type: number, payload: Buffer): void {
    if (type === MSG_SET_CHUNK_SIZE) {
      if (payload.length < 4) throw new RtmpProtocolError("short Set Chunk Size");
      const size = payload.readUInt32BE(0) & 0x7fffffff;
      if (size < 1 || size > MAX_CHUNK_SIZE) throw new RtmpProtocolError(`bad chunk size ${size}`);
      this.chunkSize = size;
    } else if (type === MSG_ABORT && payload.length >= 4) {
      const cs = this.streams.get(payload.readUInt32BE(0));
      if (cs && cs.received > 0) {
        this.assembling -= cs.length;
        cs.parts = [];
        cs.received = 0;
      }
    }
  }
}

/** Cut one message into chunks (format 0 for the first, format 3 after) for sending. */
export function encodeMessage(csid: number, msg: RtmpMessage, chunkSize: number): Buffer {
  const out: Buffer[] = [];
  const extended = msg.timestamp >= 0xffffff;
  const basic = (fmt: number) => {
    if (csid < 64) return Buffer.from([(fmt << 6) | csid]);
    if (csid < 320) return Buffer.from([fmt << 6, csid - 64]);
    return Buffer.from([(fmt << 6) | 1, (csid - 64) & 0xff, (csid - 64) >> 8]);
  };
  const header = Buffer.alloc(11 + (extended ? 4 : 0));
  header.writeUIntBE(extended ? 0xffffff : msg.timestamp, 0, 3);
  header.writeUIntBE(msg.payload.length, 3, 3);
  header[6] = msg.type;
  header.writeUInt32LE(msg.streamId, 7);
  if (extended) header.writeUInt32BE(msg.timestamp >>> 0, 11);
  out.push(basic(0), header);
  for (let off = 0; off < msg.payload.length || off === 0; off += chunkSize) {
    if (off > 0) {
      out.push(basic(3));
      if (extended) out.push(header.subarray(11));
    }
    out.push(msg.payload.subarray(off, off + chunkSize));
    if (msg.payload.length === 0) break;
  }
  return Buffer.concat(out);
}
