import http2 from "node:http2";
import net from "node:net";
import tls from "node:tls";

/** Resolves once `socket` has closed, or with false after `ms` (a generous bound, not a timing). */
export function closedWithin(socket: net.Socket, ms: number): Promise<boolean> {
  if (socket.destroyed) return Promise.resolve(true);
  // Read (and drop) whatever the server sends: a paused socket never sees the server's FIN.
  socket.resume();
  return new Promise((done) => {
    const timer = setTimeout(() => done(false), ms);
    socket.once("close", () => {
      clearTimeout(timer);
      done(true);
    });
  });
}

/** A TLS connection to 127.0.0.1 offering one ALPN protocol, once the handshake is done. */
export function tlsSocket(port: number, alpn: "h2" | "http/1.1"): Promise<tls.TLSSocket> {
  return new Promise((done, fail) => {
    const socket = tls.connect(
      { port, host: "127.0.0.1", rejectUnauthorized: false, ALPNProtocols: [alpn], servername: "localhost" },
      () => done(socket),
    );
    socket.once("error", fail);
    // Errors after the handshake (the server cutting us off) are expected; keep them quiet.
    socket.on("error", () => {});
  });
}

/** What a trickled request ended with: a status, or the error that cut it off. */
export interface TrickleOutcome {
  status: number | null;
  body: string;
  error: string | null;
}

/**
 * An HTTP/2 request whose body trickles one byte every `everyMs` until the server answers or
 * cuts the stream: the slow-upload attacker. `stop()` ends it from the client side.
 */
export function trickleH2(
  origin: string,
  path: string,
  headers: Record<string, string>,
  totalBytes: number,
  everyMs = 100,
): { outcome: Promise<TrickleOutcome>; stop: () => void } {
  const session = http2.connect(origin, { rejectUnauthorized: false });
  session.on("error", () => {});
  const req = session.request({
    ":method": "POST",
    ":path": path,
    "content-length": String(totalBytes),
    ...headers,
  });
  let sent = 0;
  const timer = setInterval(() => {
    if (sent < totalBytes - 1 && !req.destroyed) {
      req.write(Buffer.from("x"));
      sent += 1;
    }
  }, everyMs);
  const stop = () => {
    clearInterval(timer);
    session.destroy();
  };
  const outcome = new Promise<TrickleOutcome>((done) => {
    let status: number | null = null;
    const chunks: Buffer[] = [];
    const finish = (error: string | null) => {
      clearInterval(timer);
      session.destroy();
      done({ status, body: Buffer.concat(chunks).toString(), error });
    };
    req.on("response", (h) => {
      status = Number(h[":status"]);
    });
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => finish(null));
    req.on("error", (err) => finish(err.message));
    req.on("close", () => finish(status === null ? "stream closed" : null));
  });
  return { outcome, stop };
}

/**
 * An HTTP/1.1 request over TLS whose body trickles one byte every `everyMs`; resolves with the
 * status line's code, or null when the connection was closed without one.
 */
export async function trickleH1(
  port: number,
  path: string,
  headers: Record<string, string>,
  totalBytes: number,
  everyMs = 100,
): Promise<{ outcome: Promise<TrickleOutcome>; stop: () => void }> {
  const socket = await tlsSocket(port, "http/1.1");
  const head = [
    `POST ${path} HTTP/1.1`,
    "Host: 127.0.0.1",
    `Content-Length: ${totalBytes}`,
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    "",
    "",
  ].join("\r\n");
  socket.write(head);
  let sent = 0;
  const timer = setInterval(() => {
    if (sent < totalBytes - 1 && !socket.destroyed) {
      socket.write("x");
      sent += 1;
    }
  }, everyMs);
  const stop = () => {
    clearInterval(timer);
    socket.destroy();
  };
  const outcome = new Promise<TrickleOutcome>((done) => {
    let text = "";
    socket.on("data", (c: Buffer) => {
      text += c.toString("latin1");
    });
    socket.once("close", () => {
      clearInterval(timer);
      const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
      done({ status: m ? Number(m[1]) : null, body: text.split("\r\n\r\n")[1] ?? "", error: null });
    });
  });
  return { outcome, stop };
}

/** A raw HTTP/2 frame (RFC 9113 §4.1). */
export function h2frame(
  type: number,
  flags: number,
  streamId: number,
  payload: Buffer,
  length = payload.length,
) {
  const head = Buffer.alloc(9);
  head.writeUIntBE(length, 0, 3);
  head.writeUInt8(type, 3);
  head.writeUInt8(flags, 4);
  head.writeUInt32BE(streamId, 5);
  return Buffer.concat([head, payload]);
}

/** The HTTP/2 client connection preface. */
export const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/** Pids of this process's live children whose command name contains `name` (from /proc). */
export async function childPids(name: string): Promise<number[]> {
  const { readdir, readFile } = await import("node:fs/promises");
  const out: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
    // pid (comm) state ppid ...
    const m = /^\d+ \((.*)\) (\S) (\d+)/.exec(stat);
    if (m && Number(m[3]) === process.pid && m[1]!.includes(name) && m[2] !== "Z") out.push(Number(entry));
  }
  return out;
}

/** A plain TCP connection to 127.0.0.1 that never speaks TLS (errors kept quiet). */
export function rawTcp(port: number): net.Socket {
  const s = net.connect({ port, host: "127.0.0.1" });
  s.on("error", () => {});
  return s;
}
