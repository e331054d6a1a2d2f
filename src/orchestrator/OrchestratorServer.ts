import { type ConnectRouter, createContextKey, createContextValues } from "@connectrpc/connect";
import { fastifyConnectPlugin } from "@connectrpc/connect-fastify";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { HostPort } from "../config/addresses.js";
import { type ConnectionLimits, DEFAULT_CONNECTION_LIMITS } from "../http/connectionGuard.js";
import { listenTls, tlsFastify } from "../http/tlsPort.js";
import type { Logger } from "../logger/logger.js";
import type { Service } from "../node/Service.js";
import { MAX_GRPC_MESSAGE_BYTES, MIME_OCTET_STREAM } from "../protocol/constants.js";
import type { MemoryStore } from "../storage/MemoryStore.js";

/** The remote address of a gRPC caller, readable from a handler's context values. */
export const PEER_ADDRESS = createContextKey<string>("", { description: "peer address" });

const ORIGINAL_CONTENT_TYPE = new WeakMap<object, string | undefined>();

/** The Content-Type a client sent on a raw route, before the server normalised it. */
export function requestContentType(req: FastifyRequest): string | undefined {
  return ORIGINAL_CONTENT_TYPE.has(req) ? ORIGINAL_CONTENT_TYPE.get(req) : req.headers["content-type"];
}

/** Concurrent HTTP/2 streams one session may open (Go's http2 server default; Node's is unlimited). */
const MAX_CONCURRENT_STREAMS = 250;

/** go-livepeer's HTTPIdleTimeout on the orchestrator's server. */
const IDLE_TIMEOUT_MS = 10 * 60_000;

/** An HTTP route on the orchestrator's TLS port that reads its own body (raw stream). */
export interface RawRoute {
  method: "POST" | "GET" | "ANY";
  path: string;
  handler: (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;
}

export interface OrchestratorServerOptions {
  addr: HostPort;
  /** Host for the certificate's SAN (the service URI's host). */
  certHost: string;
  /** Connection limits (per-address cap, handshake and header timeouts); tests lower them. */
  connectionLimits?: Partial<ConnectionLimits>;
  /** Largest gRPC request message; go-livepeer's (grpc-go's default) 4 MiB unless a test lowers it. */
  maxGrpcMessageBytes?: number;
}

export interface OrchestratorServerCollaborators {
  logger: Logger;
  store: MemoryStore;
  /** gRPC services (net.Orchestrator, net.Transcoder...) mounted through Connect. */
  grpc: (router: ConnectRouter) => void;
  routes: RawRoute[];
}

/**
 * The orchestrator's one public TLS port (go-livepeer's server/rpc.go StartTranscodeServer):
 * HTTP/2 with ALPN and HTTP/1.1 on the same socket, gRPC routed by content type through Connect,
 * and the plain HTTP routes (/segment, /stream/..., /healthz). A new self-signed P-256
 * certificate is made at every start. The port is public, so every input is bounded: connections
 * per client address, TLS handshake and header time (ConnectionGuard), gRPC message size (4 MiB,
 * refused from the declared length) and, in the routes, body size and upload time.
 */
export class OrchestratorServer implements Service {
  readonly name = "orchestrator-server";
  private app: { close(): Promise<unknown> } | null = null;
  private boundPort = 0;

  constructor(
    private readonly options: OrchestratorServerOptions,
    private readonly deps: OrchestratorServerCollaborators,
  ) {}

  get port(): number {
    return this.boundPort;
  }

  async start(): Promise<void> {
    const app = tlsFastify(
      {
        certHost: this.options.certHost,
        connection: { ...DEFAULT_CONNECTION_LIMITS, ...this.options.connectionLimits },
        maxConcurrentStreams: MAX_CONCURRENT_STREAMS,
        idleTimeoutMs: IDLE_TIMEOUT_MS,
        allowHTTP1: true,
        maxParamLength: 500,
      },
      { logger: this.deps.logger },
    );
    await app.register(fastifyConnectPlugin, {
      routes: this.deps.grpc,
      // Checked against each message's declared length before its bytes are buffered.
      readMaxBytes: this.options.maxGrpcMessageBytes ?? MAX_GRPC_MESSAGE_BYTES,
      contextValues: (req) =>
        createContextValues().set(PEER_ADDRESS, `${req.socket.remoteAddress}:${req.socket.remotePort}`),
    });
    await app.register(async (scope) => {
      // Handlers read their own bodies so header checks come first, as in go-livepeer. Fastify
      // would refuse empty or odd Content-Types itself; keep the original for the handler.
      scope.addHook("onRequest", async (req) => {
        ORIGINAL_CONTENT_TYPE.set(req, req.headers["content-type"]);
        req.headers["content-type"] = MIME_OCTET_STREAM;
      });
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser("*", (_req, _payload, done) => done(null, undefined));
      for (const route of this.deps.routes) {
        const method = route.method === "ANY" ? (["GET", "POST", "PUT", "HEAD"] as const) : route.method;
        scope.route({
          method: [...(Array.isArray(method) ? method : [method])],
          url: route.path,
          handler: route.handler,
        });
      }
      scope.route({
        method: ["GET", "POST", "HEAD"],
        url: "/healthz",
        handler: async (_req, reply) => reply.code(200).send(""),
      });
      scope.get("/stream/*", async (req, reply) => this.serveStream(req, reply));
    });
    this.boundPort = await listenTls(app, this.options.addr);
    this.app = app;
    this.deps.logger.info(
      { addr: `${this.options.addr.host}:${this.boundPort}` },
      "orchestrator TLS port listening",
    );
  }

  async stop(): Promise<void> {
    const app = this.app;
    this.app = null;
    if (app) await app.close();
  }

  /** GET /stream/<session>/<profile>/<name>: the memory store, with lpms' player headers. */
  private serveStream(req: FastifyRequest, reply: FastifyReply) {
    let path: string;
    try {
      path = decodeURIComponent(req.url.split("?")[0]!.replace(/^\/stream\//, ""));
    } catch {
      return reply.code(400).type("text/plain; charset=utf-8").send("Bad Request\n");
    }
    const obj = this.deps.store.get(path);
    if (!obj) return reply.code(404).type("text/plain; charset=utf-8").send("ErrNotFound\n");
    return reply
      .code(200)
      .header("Content-Type", obj.contentType)
      .header("Access-Control-Allow-Origin", "*")
      .header("Access-Control-Expose-Headers", "Content-Length")
      .header("Cache-Control", "max-age=5")
      .send(obj.data);
  }
}
