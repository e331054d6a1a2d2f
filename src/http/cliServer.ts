import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import type { HostPort } from "../config/addresses.js";
import type { Logger } from "../logger/logger.js";
import { levelForVerbosity } from "../logger/logger.js";
import type { Service } from "../node/Service.js";
import type { NodeStatus } from "../node/status.js";

/** A route a role adds to the CLI server (go-livepeer registers them without a method). */
export interface CliRoute {
  path: string;
  handler: (params: Record<string, string>, reply: FastifyReply) => unknown;
}

export interface CliServerCollaborators {
  logger: Logger;
  status: () => NodeStatus;
  routes?: CliRoute[];
}

/**
 * The admin HTTP server on -cliAddr (go-livepeer's server/webserver.go): /healthz, /status,
 * /getLogLevel and /setLogLevel, plus routes the roles add. Plain HTTP, loopback by default.
 */
export class CliServer implements Service {
  readonly name = "cli-server";
  private app: FastifyInstance | null = null;
  private boundPort = 0;
  private verbosity: number;

  constructor(
    private readonly options: { addr: HostPort; verbosity: number },
    private readonly deps: CliServerCollaborators,
  ) {
    this.verbosity = options.verbosity;
  }

  /** The port actually bound (useful with port 0). */
  get port(): number {
    return this.boundPort;
  }

  async start(): Promise<void> {
    const app = Fastify({ logger: false, forceCloseConnections: true });
    app.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "string" }, (_req, body, done) =>
      done(null, Object.fromEntries(new URLSearchParams(body as string))),
    );
    const any = (path: string, handler: (req: FastifyRequest, reply: FastifyReply) => unknown) =>
      app.route({ method: ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"], url: path, handler });

    any("/healthz", (_req, reply) => reply.code(200).send(""));
    any("/status", (_req, reply) =>
      reply.header("content-type", "application/json").send(this.deps.status()),
    );
    any("/getLogLevel", (_req, reply) => reply.type("text/plain").send(String(this.verbosity)));
    any("/setLogLevel", (req, reply) => {
      const level = formParams(req)["loglevel"];
      if (level === undefined || level === "")
        return reply.code(400).type("text/plain").send("missing form param: loglevel");
      if (!/^\d+$/.test(level)) return reply.code(400).type("text/plain").send(`invalid loglevel: ${level}`);
      this.verbosity = Number(level);
      this.deps.logger.level = levelForVerbosity(this.verbosity);
      this.deps.logger.info({ verbosity: this.verbosity }, "log level changed");
      return reply.type("text/plain").send("");
    });
    for (const route of this.deps.routes ?? []) {
      any(route.path, (req, reply) => route.handler(formParams(req), reply));
    }
    await app.listen({ host: this.options.addr.host || "0.0.0.0", port: this.options.addr.port });
    const address = app.server.address();
    this.boundPort = typeof address === "object" && address ? address.port : this.options.addr.port;
    this.app = app;
    this.deps.logger.info({ addr: `${this.options.addr.host}:${this.boundPort}` }, "CLI server listening");
  }

  async stop(): Promise<void> {
    const app = this.app;
    this.app = null;
    if (app) await app.close();
  }
}

/** go's r.FormValue: query string and urlencoded body merged (body wins). */
function formParams(req: FastifyRequest): Record<string, string> {
  const out: Record<string, string> = {};
  for (const src of [req.query, req.body]) {
    if (src && typeof src === "object") {
      for (const [k, v] of Object.entries(src as Record<string, unknown>)) {
        if (typeof v === "string") out[k] = v;
      }
    }
  }
  return out;
}
