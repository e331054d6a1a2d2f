import { isIP } from "node:net";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { formatHostPort, type HostPort } from "../config/addresses.js";
import type { Logger } from "../logger/logger.js";
import { levelForVerbosity } from "../logger/logger.js";
import type { Service } from "../node/Service.js";
import type { NodeStatus } from "../node/status.js";

/**
 * A route a role adds to the CLI server. go-livepeer registers them without a method; here a
 * route that changes state is POST-only, so a page in a browser cannot trigger it with a link.
 */
export interface CliRoute {
  /** GET for reads (HEAD too), POST for anything that changes the node. */
  method: "GET" | "POST";
  /** A POST route that also answers GET, where go-livepeer's own tools call it so. */
  alsoGet?: boolean;
  path: string;
  handler: (params: Record<string, string>, reply: FastifyReply) => unknown;
}

export interface CliServerCollaborators {
  logger: Logger;
  status: () => NodeStatus;
  routes?: CliRoute[];
}

/** Highest log verbosity /setLogLevel takes (6 is trace). */
export const MAX_LOG_LEVEL = 6;

/**
 * The admin HTTP server on -cliAddr (go-livepeer's server/webserver.go): /healthz, /status,
 * /getLogLevel and /setLogLevel, plus routes the roles add. Plain HTTP, loopback by default.
 * A request whose Host header is not this node's address gets 403: a web page that rebinds its
 * own name to 127.0.0.1 (DNS rebinding) still sends its own name, so it cannot reach this API.
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
    const app = Fastify({ logger: false, forceCloseConnections: true, bodyLimit: 64 * 1024 });
    app.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "string" }, (_req, body, done) =>
      done(null, Object.fromEntries(new URLSearchParams(body as string))),
    );
    let allowedHost: (host: string) => boolean = () => false;
    app.addHook("onRequest", async (req, reply) => {
      const host = req.headers.host;
      if (host === undefined || !allowedHost(host.toLowerCase())) {
        return reply
          .code(403)
          .type("text/plain")
          .send(
            `forbidden: Host "${String(host ?? "").slice(0, 100)}" is not this node's CLI address; use ${this.urlHost()}\n`,
          );
      }
    });
    // Every path answers its methods and a clear 405 (with Allow) for the others.
    const route = (
      method: "GET" | "POST",
      path: string,
      handler: (req: FastifyRequest, reply: FastifyReply) => unknown,
      alsoGet = false,
    ) => {
      const methods = method === "GET" ? ["GET", "HEAD"] : alsoGet ? ["POST", "GET"] : ["POST"];
      // A HEAD must not send a transaction: fastify's implicit HEAD is off for such a route.
      app.route({
        method: methods as ("GET" | "HEAD" | "POST")[],
        url: path,
        handler,
        ...(alsoGet ? { exposeHeadRoute: false } : {}),
      });
      app.route({
        method: ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"].filter(
          (m) => !methods.includes(m),
        ) as ("GET" | "POST")[],
        url: path,
        handler: (req, reply) =>
          reply
            .code(405)
            .header("allow", methods.join(", "))
            .type("text/plain")
            .send(`method ${req.method} not allowed on ${path}; use ${methods.join(" or ")}\n`),
      });
    };

    route("GET", "/healthz", (_req, reply) => reply.code(200).send(""));
    route("GET", "/status", (_req, reply) =>
      reply.header("content-type", "application/json").send(this.deps.status()),
    );
    route("GET", "/getLogLevel", (_req, reply) => reply.type("text/plain").send(String(this.verbosity)));
    route("POST", "/setLogLevel", (req, reply) => {
      const level = formParams(req)["loglevel"];
      if (level === undefined || level === "")
        return reply.code(400).type("text/plain").send("missing form param: loglevel");
      if (!/^\d$/.test(level) || Number(level) > MAX_LOG_LEVEL)
        return reply
          .code(400)
          .type("text/plain")
          .send(
            `invalid loglevel: ${JSON.stringify(level.slice(0, 40))}; want an integer 0 to ${MAX_LOG_LEVEL}`,
          );
      this.verbosity = Number(level);
      this.deps.logger.level = levelForVerbosity(this.verbosity);
      this.deps.logger.info({ verbosity: this.verbosity }, "log level changed");
      return reply.type("text/plain").send("");
    });
    for (const r of this.deps.routes ?? []) {
      route(r.method, r.path, (req, reply) => r.handler(formParams(req), reply), r.alsoGet);
    }
    await app.listen({ host: this.options.addr.host || "0.0.0.0", port: this.options.addr.port });
    const address = app.server.address();
    this.boundPort = typeof address === "object" && address ? address.port : this.options.addr.port;
    allowedHost = hostCheck(this.options.addr.host, this.boundPort);
    this.app = app;
    this.deps.logger.info({ addr: `${this.options.addr.host}:${this.boundPort}` }, "CLI server listening");
  }

  /** host:port to put in a URL for this server. */
  private urlHost(): string {
    const host = this.options.addr.host;
    return formatHostPort({
      host: host === "" || host === "0.0.0.0" ? "127.0.0.1" : host,
      port: this.boundPort,
    });
  }

  async stop(): Promise<void> {
    const app = this.app;
    this.app = null;
    if (app) await app.close();
  }
}

/**
 * Which Host headers name this server: its bound host, 127.0.0.1, localhost and [::1], each with
 * the bound port or without one. Bound to every interface, any IP literal is accepted too (a
 * rebinding page always sends a name, never an address).
 */
export function hostCheck(boundHost: string, port: number): (host: string) => boolean {
  const names = new Set(["127.0.0.1", "localhost", "[::1]"]);
  const wildcard = boundHost === "" || boundHost === "0.0.0.0" || boundHost === "::";
  if (!wildcard) names.add(formatHostPort({ host: boundHost.toLowerCase(), port }).replace(/:\d+$/, ""));
  const allowed = new Set<string>();
  for (const n of names) allowed.add(n).add(`${n}:${port}`);
  return (host) => {
    if (allowed.has(host)) return true;
    if (!wildcard) return false;
    const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(host);
    if (!m || (m[2] !== undefined && Number(m[2]) !== port)) return false;
    return isIP(m[1]!.replace(/^\[|\]$/g, "")) !== 0;
  };
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
