/**
 * The remote signer's plain-HTTP JSON API on -httpAddr (go-livepeer server/remote_signer.go and
 * server/remote_discovery.go): POST /sign-orchestrator-info, POST /generate-live-payment,
 * GET /discover-orchestrators (with -remoteDiscovery) and /healthz. Errors use go-livepeer's JSON
 * envelope; bodies are size- and time-limited; request headers are never logged.
 */
import Fastify, { type FastifyInstance, type FastifyReply } from "fastify";
import { formatHostPort, type HostPort } from "../config/addresses.js";
import { errorMessage } from "../errors/LpError.js";
import type { Logger } from "../logger/logger.js";
import type { Service } from "../node/Service.js";
import type { PaymentSigner } from "./PaymentSigner.js";
import { SignerError } from "./state.js";

/** Largest request body (the orchestrator blob is a few KiB; capabilities add some). */
export const MAX_SIGNER_BODY_BYTES = 1024 * 1024;
/** Whole-request limit: a slow client cannot hold a connection longer. */
export const SIGNER_REQUEST_TIMEOUT_MS = 30_000;

/** The discovery snapshot provider (GET /discover-orchestrators). */
export interface SignerDiscovery {
  /** Entries matching any of the capability filters (all when none); throws SignerError 503 when empty. */
  list(caps: string[]): Promise<unknown[]>;
}

/** Request headers' Content-Type as received, taken off before fastify parses it. */
const originalContentType = new WeakMap<object, string>();

/** go-livepeer's respondJsonError: 500 and 503 texts are replaced by fixed ones. */
function sendError(reply: FastifyReply, status: number, message: string): FastifyReply {
  const text =
    status === 500 ? "Internal Server Error" : status === 503 ? "Service Unavailable Error" : message;
  return reply
    .code(status)
    .header("content-type", "application/json")
    .send(`${JSON.stringify({ error: { message: text } })}\n`);
}

/** The signer's HTTP server. */
export class SignerServer implements Service {
  readonly name = "remote-signer-http";
  private app: FastifyInstance | null = null;
  private boundPort = 0;

  constructor(
    private readonly options: { addr: HostPort; requestTimeoutMs?: number },
    private readonly deps: { logger: Logger; signer: PaymentSigner; discovery: SignerDiscovery | null },
  ) {}

  /** The port actually bound (port 0 resolves at start). */
  get port(): number {
    return this.boundPort;
  }

  async start(): Promise<void> {
    const log = this.deps.logger;
    const app = Fastify({
      logger: false,
      forceCloseConnections: true,
      bodyLimit: MAX_SIGNER_BODY_BYTES,
      requestTimeout: this.options.requestTimeoutMs ?? SIGNER_REQUEST_TIMEOUT_MS,
      connectionTimeout: this.options.requestTimeoutMs ?? SIGNER_REQUEST_TIMEOUT_MS,
    });
    // Any content type: the body is read as bytes (capped) and parsed here, as Go's decoder would.
    // go-livepeer never looks at Content-Type, so an empty or unparsable one (which fastify would
    // answer with 415) is taken off before routing and put back for the webhook.
    app.addHook("onRequest", async (req) => {
      const ct = req.raw.headers["content-type"];
      if (ct !== undefined) {
        originalContentType.set(req.raw, ct);
        delete req.raw.headers["content-type"];
      }
    });
    app.removeAllContentTypeParsers();
    app.addContentTypeParser(
      "*",
      { parseAs: "buffer", bodyLimit: MAX_SIGNER_BODY_BYTES },
      (_req, body, done) => done(null, body),
    );
    app.setErrorHandler((err: { statusCode?: number; message: string }, _req, reply) => {
      const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
      if (status >= 500) log.warn({ err: err.message }, "remote signer request failed");
      return sendError(reply, status, err.message);
    });
    app.setNotFoundHandler((_req, reply) => sendError(reply, 404, "not found"));
    app.route({
      method: ["GET", "HEAD"],
      url: "/healthz",
      handler: async (_req, reply) => reply.code(200).send(""),
    });

    app.post("/sign-orchestrator-info", async (_req, reply) => {
      try {
        const out = await this.deps.signer.orchestratorInfo();
        return reply.header("content-type", "application/json").send(`${JSON.stringify(out)}\n`);
      } catch (err) {
        log.error({ err: errorMessage(err) }, "cannot sign the orchestrator info");
        return sendError(reply, 500, errorMessage(err));
      }
    });

    app.post("/generate-live-payment", async (req, reply) => {
      const raw = req.body instanceof Buffer ? req.body : Buffer.alloc(0);
      let body: unknown;
      try {
        body = raw.length === 0 ? {} : JSON.parse(raw.toString("utf8"));
      } catch (err) {
        this.deps.signer.counters.requests += 1;
        this.deps.signer.refused(400);
        return sendError(reply, 400, `invalid request: ${errorMessage(err)}`);
      }
      try {
        const ct = originalContentType.get(req.raw);
        const headers = ct === undefined ? req.headers : { ...req.headers, "content-type": ct };
        const out = await this.deps.signer.generate(body, headers);
        return reply.header("content-type", "application/json").send(`${JSON.stringify(out)}\n`);
      } catch (err) {
        const e = err instanceof SignerError ? err : new SignerError(500, errorMessage(err), { cause: err });
        this.deps.signer.refused(e.status);
        if (e.status >= 500) log.warn({ status: e.status, err: e.message }, "payment not signed");
        else log.debug({ status: e.status, err: e.message }, "payment refused");
        for (const [k, v] of Object.entries(e.headers)) reply.header(k, v);
        return sendError(reply, e.status, e.message);
      }
    });

    const discovery = this.deps.discovery;
    if (discovery) {
      app.get("/discover-orchestrators", async (req, reply) => {
        const q = new URL(req.url, "http://x").searchParams.getAll("caps").filter((c) => c !== "");
        try {
          const list = await discovery.list(q);
          return reply.header("content-type", "application/json").send(`${JSON.stringify(list)}\n`);
        } catch (err) {
          const status = err instanceof SignerError ? err.status : 503;
          return sendError(reply, status, errorMessage(err));
        }
      });
    }

    await app.listen({ host: this.options.addr.host || "::", port: this.options.addr.port, ipv6Only: false });
    const address = app.server.address();
    this.boundPort = typeof address === "object" && address ? address.port : this.options.addr.port;
    this.app = app;
    log.info(
      {
        addr: formatHostPort({ host: this.options.addr.host, port: this.boundPort }),
        discovery: discovery !== null,
      },
      "remote signer listening",
    );
  }

  async stop(): Promise<void> {
    const app = this.app;
    this.app = null;
    if (app) await app.close();
  }
}
