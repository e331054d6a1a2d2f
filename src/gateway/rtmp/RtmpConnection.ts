import { randomBytes } from "node:crypto";
import type { Socket } from "node:net";
import { type AmfObject, type AmfValue, amf0ValueLength, decodeAmf0, encodeAmf0 } from "./amf0.js";
import {
  ChunkDecoder,
  encodeMessage,
  MSG_ACK,
  MSG_AUDIO,
  MSG_COMMAND_AMF0,
  MSG_COMMAND_AMF3,
  MSG_DATA_AMF0,
  MSG_DATA_AMF3,
  MSG_SET_CHUNK_SIZE,
  MSG_SET_PEER_BANDWIDTH,
  MSG_USER_CONTROL,
  MSG_VIDEO,
  MSG_WINDOW_ACK_SIZE,
  type RtmpMessage,
} from "./chunks.js";

const HANDSHAKE_SIZE = 1536;
const OUT_CHUNK_SIZE = 4096;
const WINDOW_ACK_SIZE = 5_000_000;
/** Handshake, connect and publish must all be done this soon after the TCP connection opens. */
export const PUBLISH_DEADLINE_MS = 10_000;

/** A publish request: the path the client published to (`/<app>/<stream name>`). */
export interface PublishRequest {
  app: string;
  name: string;
  tcUrl: string;
  remote: string;
}

/** Where the media of an accepted publish goes. */
export interface PublishSink {
  /** onMetaData as an FLV script body (AMF0 "onMetaData" + object). */
  metadata(body: Buffer, values: AmfValue[]): void;
  media(type: typeof MSG_AUDIO | typeof MSG_VIDEO, timestamp: number, payload: Buffer): void;
  /** The publisher stopped (unpublish, disconnect or error); called once. */
  end(reason: string): void;
}

export type PublishDecision =
  | { ok: true; sink: PublishSink }
  | { ok: false; code: string; description: string };

export interface RtmpHandler {
  publish(req: PublishRequest, conn: RtmpConnection): PublishDecision | Promise<PublishDecision>;
}

type State = "c0c1" | "c2" | "chunks" | "closed";

/**
 * One RTMP connection (server side): simple handshake, chunk stream, the connect /
 * createStream / publish command exchange that OBS and ffmpeg use, then audio, video and
 * metadata handed to the publish sink. Anything malformed closes this connection only.
 */
export class RtmpConnection {
  private state: State = "c0c1";
  private handshakeBuf: Buffer = Buffer.alloc(0);
  private readonly decoder: ChunkDecoder;
  private app = "";
  private tcUrl = "";
  private sink: PublishSink | null = null;
  private publishing = false;
  private publishStreamId = 0;
  private received = 0;
  private lastAck = 0;
  private peerWindow = 0;
  private deadline: NodeJS.Timeout;
  private ended = false;

  constructor(
    readonly socket: Socket,
    private readonly handler: RtmpHandler,
    private readonly log: (level: "info" | "warn" | "debug", obj: object, msg: string) => void,
  ) {
    this.decoder = new ChunkDecoder((m) => this.message(m));
    socket.setNoDelay(true);
    this.deadline = setTimeout(() => this.close("no publish within 10 s"), PUBLISH_DEADLINE_MS);
    socket.on("data", (d: Buffer) => this.data(d));
    socket.on("error", () => {});
    socket.on("close", () => this.finish("client disconnected"));
  }

  get remote(): string {
    return `${this.socket.remoteAddress}:${this.socket.remotePort}`;
  }

  /** Stop reading (the consumer is behind); resume() starts again. */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    if (this.state !== "closed") this.socket.resume();
  }

  /** Close the connection; the sink, if any, hears `reason`. */
  close(reason: string): void {
    if (this.state === "closed") return;
    this.log("info", { remote: this.remote, reason }, "closing RTMP connection");
    this.finish(reason);
    this.socket.destroy();
  }

  private finish(reason: string): void {
    this.state = "closed";
    clearTimeout(this.deadline);
    if (!this.ended && this.sink) {
      this.ended = true;
      this.sink.end(reason);
    }
  }

  private data(d: Buffer): void {
    if (this.state === "closed") return;
    try {
      if (this.state === "chunks") {
        this.count(d.length);
        this.decoder.push(d);
        return;
      }
      this.handshakeBuf = Buffer.concat([this.handshakeBuf, d]);
      if (this.state === "c0c1") {
        if (this.handshakeBuf[0] !== undefined && this.handshakeBuf[0] !== 3) {
          throw new Error(`unsupported RTMP version ${this.handshakeBuf[0]}`);
        }
        if (this.handshakeBuf.length < 1 + HANDSHAKE_SIZE) return;
        const c1 = this.handshakeBuf.subarray(1, 1 + HANDSHAKE_SIZE);
        const s1 = Buffer.alloc(HANDSHAKE_SIZE);
        s1.writeUInt32BE(0, 0);
        randomBytes(HANDSHAKE_SIZE - 8).copy(s1, 8);
        this.socket.write(Buffer.concat([Buffer.from([3]), s1, c1]));
        this.handshakeBuf = this.handshakeBuf.subarray(1 + HANDSHAKE_SIZE);
        this.state = "c2";
      }
      if (this.state === "c2") {
        if (this.handshakeBuf.length < HANDSHAKE_SIZE) return;
        const rest = this.handshakeBuf.subarray(HANDSHAKE_SIZE);
        this.handshakeBuf = Buffer.alloc(0);
        this.state = "chunks";
        if (rest.length > 0) {
          this.count(rest.length);
          this.decoder.push(Buffer.from(rest));
        }
      }
    } catch (err) {
      this.log("warn", { remote: this.remote, err: (err as Error).message }, "bad RTMP input");
      this.close(`protocol error: ${(err as Error).message}`);
    }
  }

  /** Acknowledge received bytes when the client asked for it (Window Acknowledgement Size). */
  private count(n: number): void {
    this.received += n;
    if (this.peerWindow > 0 && this.received - this.lastAck >= this.peerWindow) {
      this.lastAck = this.received;
      const b = Buffer.alloc(4);
      b.writeUInt32BE(this.received >>> 0, 0);
      this.send(2, MSG_ACK, 0, b);
    }
  }

  private send(csid: number, type: number, streamId: number, payload: Buffer): void {
    if (this.state === "closed" || this.socket.destroyed) return;
    this.socket.write(encodeMessage(csid, { type, streamId, timestamp: 0, payload }, OUT_CHUNK_SIZE));
  }

  private command(streamId: number, ...values: AmfValue[]): void {
    this.send(3, MSG_COMMAND_AMF0, streamId, encodeAmf0(...values));
  }

  private status(streamId: number, level: string, code: string, description: string): void {
    this.send(5, MSG_COMMAND_AMF0, streamId, encodeAmf0("onStatus", 0, null, { level, code, description }));
  }

  /** An error status, then the close once the status has had time to reach the client. */
  private refuse(streamId: number, code: string, description: string, reason: string): void {
    this.status(streamId, "error", code, description);
    setTimeout(() => this.close(reason), 100).unref();
  }

  private decided(decision: PublishDecision, streamId: number, streamName: string): void {
    if (!decision.ok) {
      this.log("warn", { remote: this.remote, reason: decision.description }, "RTMP publish refused");
      this.refuse(streamId, decision.code, decision.description, decision.description);
      return;
    }
    this.sink = decision.sink;
    if (this.state === "closed") {
      // The publisher left while the decision was being made.
      this.ended = true;
      decision.sink.end("client disconnected");
      return;
    }
    clearTimeout(this.deadline);
    const begin = Buffer.alloc(6);
    begin.writeUInt16BE(0, 0); // StreamBegin
    begin.writeUInt32BE(streamId, 2);
    this.send(2, MSG_USER_CONTROL, 0, begin);
    this.status(streamId, "status", "NetStream.Publish.Start", `${streamName} is now published.`);
  }

  private message(m: RtmpMessage): void {
    switch (m.type) {
      case MSG_WINDOW_ACK_SIZE:
        if (m.payload.length >= 4) this.peerWindow = m.payload.readUInt32BE(0);
        return;
      case MSG_COMMAND_AMF0:
        this.onCommand(m, decodeAmf0(m.payload));
        return;
      case MSG_COMMAND_AMF3:
        // AMF3 command messages carry AMF0 after a leading format byte.
        this.onCommand(m, decodeAmf0(m.payload.subarray(1)));
        return;
      case MSG_DATA_AMF0:
      case MSG_DATA_AMF3:
        this.onData(m.type === MSG_DATA_AMF3 ? m.payload.subarray(1) : m.payload);
        return;
      case MSG_AUDIO:
      case MSG_VIDEO:
        if (this.sink && m.payload.length > 0) this.sink.media(m.type, m.timestamp, m.payload);
        return;
      default:
        return; // acks, user control, bandwidth: nothing to do for a publisher
    }
  }

  private onData(payload: Buffer): void {
    if (!this.sink) return;
    const values = decodeAmf0(payload);
    if (values[0] === "@setDataFrame") {
      const body = payload.subarray(amf0ValueLength(payload));
      this.sink.metadata(body, values.slice(1));
    } else if (values[0] === "onMetaData") {
      this.sink.metadata(payload, values);
    }
  }

  private onCommand(m: RtmpMessage, values: AmfValue[]): void {
    const [name, tx] = values;
    const txId = typeof tx === "number" ? tx : 0;
    switch (name) {
      case "connect": {
        const obj = (values[2] ?? {}) as AmfObject;
        this.app = typeof obj.app === "string" ? obj.app : "";
        this.tcUrl = typeof obj.tcUrl === "string" ? obj.tcUrl : "";
        const win = Buffer.alloc(4);
        win.writeUInt32BE(WINDOW_ACK_SIZE, 0);
        this.send(2, MSG_WINDOW_ACK_SIZE, 0, win);
        const bw = Buffer.alloc(5);
        bw.writeUInt32BE(WINDOW_ACK_SIZE, 0);
        bw[4] = 2; // dynamic
        this.send(2, MSG_SET_PEER_BANDWIDTH, 0, bw);
        const cs = Buffer.alloc(4);
        cs.writeUInt32BE(OUT_CHUNK_SIZE, 0);
        this.send(2, MSG_SET_CHUNK_SIZE, 0, cs);
        this.command(
          0,
          "_result",
          txId,
          { fmsVer: "FMS/3,0,1,123", capabilities: 31 },
          {
            level: "status",
            code: "NetConnection.Connect.Success",
            description: "Connection succeeded.",
            objectEncoding: 0,
          },
        );
        return;
      }
      case "createStream":
        this.command(0, "_result", txId, null, 1);
        return;
      case "releaseStream":
      case "FCPublish":
        this.command(0, "_result", txId, null, undefined);
        return;
      case "publish": {
        if (this.publishing) return;
        this.publishing = true;
        const streamName = typeof values[3] === "string" ? values[3] : "";
        this.publishStreamId = m.streamId;
        // The handler may ask an auth webhook; publishers wait for the status before sending media.
        void Promise.resolve()
          .then(() =>
            this.handler.publish(
              { app: this.app, name: streamName, tcUrl: this.tcUrl, remote: this.remote },
              this,
            ),
          )
          .catch(
            (err): PublishDecision => ({
              ok: false,
              code: "NetStream.Publish.Rejected",
              description: (err as Error).message,
            }),
          )
          .then((decision) => this.decided(decision, m.streamId, streamName));
        return;
      }
      case "play":
        this.refuse(
          m.streamId,
          "NetStream.Play.Failed",
          "RTMP playback is not supported yet; play the HLS output under /stream/",
          "play is not supported",
        );
        return;
      case "FCUnpublish":
      case "deleteStream":
      case "closeStream":
        if (this.sink && !this.ended) {
          this.status(this.publishStreamId, "status", "NetStream.Unpublish.Success", "Stream unpublished.");
          this.ended = true;
          this.sink.end("unpublished");
        }
        return;
      default:
        return;
    }
  }
}
