import { spawn } from "node:child_process";
import { connect, type Socket } from "node:net";
import { type AmfObject, decodeAmf0, encodeAmf0 } from "../../src/gateway/rtmp/amf0.js";
import {
  ChunkDecoder,
  encodeMessage,
  MSG_COMMAND_AMF0,
  MSG_SET_CHUNK_SIZE,
  type RtmpMessage,
} from "../../src/gateway/rtmp/chunks.js";
import { FFMPEG } from "./media.js";

/** Push a clip to an RTMP URL with ffmpeg (stream copy at real-time speed); resolves on exit. */
export function pushRtmp(
  url: string,
  clip: string,
  opts: { realtime?: boolean; extra?: string[]; signal?: AbortSignal } = {},
): Promise<{ code: number | null; stderr: string }> {
  const args = ["-hide_banner", "-loglevel", "error"];
  if (opts.realtime !== false) args.push("-re");
  args.push("-i", clip, "-c", "copy", ...(opts.extra ?? []), "-f", "flv", url);
  return new Promise((resolve) => {
    const child = spawn(FFMPEG, args, {
      stdio: ["ignore", "ignore", "pipe"],
      signal: opts.signal,
      killSignal: "SIGKILL",
    });
    child.on("error", () => {}); // the abort; "close" still reports the exit
    let stderr = "";
    child.stderr.on("data", (d) => {
      stderr += String(d);
    });
    child.on("close", (code) => resolve({ code, stderr }));
  });
}

/**
 * A hand-driven RTMP publisher for the cases ffmpeg will not produce: stalling after publish,
 * sending garbage mid-stream, publishing a name twice. It does the simple handshake, then the
 * connect / createStream / publish exchange, and records every onStatus code it receives.
 */
export class RawRtmpClient {
  readonly socket: Socket;
  readonly statuses: string[] = [];
  readonly closed: Promise<void>;
  private readonly decoder = new ChunkDecoder((m) => this.onMessage(m));
  private handshakeLeft = 1 + 1536 * 2;
  private ready!: () => void;
  private readonly handshook = new Promise<void>((r) => {
    this.ready = r;
  });
  private waiters: { code: string; resolve: () => void }[] = [];

  constructor(port: number) {
    this.socket = connect(port, "127.0.0.1");
    this.socket.on("error", () => {});
    this.closed = new Promise((r) => this.socket.on("close", () => r()));
    this.socket.on("connect", () => {
      this.socket.write(Buffer.concat([Buffer.from([3]), Buffer.alloc(1536)]));
    });
    this.socket.on("data", (d: Buffer) => {
      if (this.handshakeLeft > 0) {
        const used = Math.min(this.handshakeLeft, d.length);
        this.handshakeLeft -= used;
        if (this.handshakeLeft === 0) {
          this.socket.write(Buffer.alloc(1536));
          this.ready();
        }
        d = d.subarray(used);
      }
      if (d.length > 0) this.decoder.push(d);
    });
  }

  private onMessage(m: RtmpMessage): void {
    if (m.type !== MSG_COMMAND_AMF0) return;
    const v = decodeAmf0(m.payload);
    if (v[0] === "onStatus") {
      const code = String((v[3] as AmfObject).code);
      this.statuses.push(code);
      for (const w of this.waiters.filter((x) => x.code === code)) w.resolve();
    }
  }

  /** Resolves when an onStatus with `code` arrives. */
  status(code: string): Promise<void> {
    if (this.statuses.includes(code)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ code, resolve }));
  }

  send(type: number, streamId: number, payload: Buffer, timestamp = 0): void {
    this.socket.write(encodeMessage(3, { type, streamId, timestamp, payload }, 128));
  }

  async publish(app: string, name: string): Promise<void> {
    await this.handshook;
    this.send(MSG_COMMAND_AMF0, 0, encodeAmf0("connect", 1, { app, tcUrl: `rtmp://127.0.0.1/${app}` }));
    this.send(MSG_COMMAND_AMF0, 0, encodeAmf0("createStream", 2, null));
    this.send(MSG_COMMAND_AMF0, 1, encodeAmf0("publish", 3, null, name, "live"));
  }

  setChunkSize(size: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(size, 0);
    this.send(MSG_SET_CHUNK_SIZE, 0, b);
  }

  close(): void {
    this.socket.destroy();
  }
}
