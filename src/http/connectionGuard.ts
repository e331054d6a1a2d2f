import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2SecureServer, ServerHttp2Stream } from "node:http2";
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import type { Logger } from "../logger/logger.js";

/** Connection-level limits of a public TLS port (HTTP/2 with HTTP/1.1 fallback). */
export interface ConnectionLimits {
  /** TCP connections one client address may hold at once; further ones are closed at accept. */
  maxConnectionsPerIp: number;
  /** Time from accept to a complete TLS handshake. */
  handshakeTimeoutMs: number;
  /**
   * Time to complete a request's headers: from accept to the first complete request (HTTP/1.1
   * and HTTP/2), and on HTTP/1.1 also from the end of one response to the next request.
   */
  headersTimeoutMs: number;
}

/**
 * Defaults: a gateway or transcoder sends its first request right after the handshake, so 10 s
 * for each step is far more than any honest peer needs; 64 connections per address leave room
 * for a busy gateway (which reuses one HTTP/2 session anyway) and many NATed peers.
 */
export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  maxConnectionsPerIp: 64,
  handshakeTimeoutMs: 10_000,
  headersTimeoutMs: 10_000,
};

/**
 * Guards a Node http2 secure server with `allowHTTP1` against connection hogging (slowloris):
 * Node applies `headersTimeout`/`requestTimeout` only to plain http.Server, not to the HTTP/1.1
 * path of an http2 server, and HTTP/2 has no header timeout at all. This counts connections per
 * client address, closes any connection that does not complete a request's headers in time, and
 * resets an answered HTTP/2 stream whose request body is still coming. The TLS handshake bound is
 * the server's own `handshakeTimeout` option (see `tlsOptions`).
 */
export class ConnectionGuard {
  private readonly perIp = new Map<string, number>();
  private refused = 0;
  private lastRefusalLog = 0;

  constructor(
    private readonly limits: ConnectionLimits,
    private readonly deps: { logger: Logger; now?: () => number },
  ) {}

  /** The TLS server options this guard relies on. */
  tlsOptions(): { handshakeTimeout: number } {
    return { handshakeTimeout: this.limits.handshakeTimeoutMs };
  }

  /** Connections open now from one address (for tests and status). */
  connectionsFrom(ip: string): number {
    return this.perIp.get(normalizeIp(ip)) ?? 0;
  }

  /** Attach to the server before it listens. */
  attach(server: Http2SecureServer): void {
    server.on("connection", (socket: Socket) => this.onConnection(socket));
    server.on("secureConnection", (socket: TLSSocket) => {
      const state: GuardedSocket = { socket, timer: null };
      (socket as unknown as Record<symbol, GuardedSocket>)[STATE] = state;
      this.arm(state);
      socket.once("close", () => this.disarm(state));
    });
    // HTTP/2: a complete stream proves the peer speaks; the session's idle timeout does the rest.
    // (session.socket is a proxy that forwards property reads to the TLS socket.)
    server.on("stream", (stream: ServerHttp2Stream) => {
      const state = stateOf(stream.session?.socket);
      if (state) this.disarm(state);
      // Once the answer is complete, a request body still coming is unwanted (an early refusal,
      // an oversized gRPC message): reset the stream, as Go's server does, instead of leaving it
      // half open with its flow-control window full, where it would hold the session forever.
      // 'finish' can come before gRPC's trailers are on the wire, hence the short grace.
      stream.once("finish", () => {
        setTimeout(() => {
          // close() would wait for a readable side nobody reads; destroy sends the reset now.
          if (!stream.destroyed) stream.destroy();
        }, UNREAD_BODY_GRACE_MS).unref();
      });
    });
    // HTTP/1.1 (allowHTTP1): each request's headers end the wait; the response's end starts the next.
    server.on("request", (req: IncomingMessage, res: ServerResponse) => {
      if (req.httpVersionMajor !== 1) return;
      const state = stateOf(req.socket);
      if (!state) return;
      this.disarm(state);
      res.once("finish", () => {
        if (!state.socket.destroyed) this.arm(state);
      });
    });
  }

  private onConnection(socket: Socket): void {
    const ip = normalizeIp(socket.remoteAddress ?? "");
    const count = this.perIp.get(ip) ?? 0;
    if (count >= this.limits.maxConnectionsPerIp) {
      this.refused += 1;
      const now = this.deps.now?.() ?? Date.now();
      // One line per 10 s at most: a flood must not flood the log too.
      if (now - this.lastRefusalLog > 10_000) {
        this.lastRefusalLog = now;
        this.deps.logger.warn(
          { ip, limit: this.limits.maxConnectionsPerIp, refused: this.refused },
          "too many connections from one address; refusing",
        );
      }
      socket.destroy();
      return;
    }
    this.perIp.set(ip, count + 1);
    socket.once("close", () => {
      const left = (this.perIp.get(ip) ?? 1) - 1;
      if (left <= 0) this.perIp.delete(ip);
      else this.perIp.set(ip, left);
    });
  }

  private arm(state: GuardedSocket): void {
    this.disarm(state);
    state.timer = setTimeout(() => {
      state.timer = null;
      state.socket.destroy();
    }, this.limits.headersTimeoutMs);
    state.timer.unref();
  }

  private disarm(state: GuardedSocket): void {
    if (state.timer) clearTimeout(state.timer);
    state.timer = null;
  }
}

const STATE = Symbol("lp.connectionGuard");

/** How long an answered HTTP/2 stream may keep receiving a body nobody reads. */
const UNREAD_BODY_GRACE_MS = 1000;

interface GuardedSocket {
  socket: Socket;
  timer: NodeJS.Timeout | null;
}

function stateOf(socket: unknown): GuardedSocket | undefined {
  return socket ? (socket as Record<symbol, GuardedSocket | undefined>)[STATE] : undefined;
}

/** One key per client: IPv4-mapped IPv6 addresses count as their IPv4 address. */
function normalizeIp(ip: string): string {
  return ip.startsWith("::ffff:") ? ip.slice(7) : ip;
}
