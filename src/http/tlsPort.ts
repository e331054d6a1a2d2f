import Fastify from "fastify";
import type { HostPort } from "../config/addresses.js";
import type { Logger } from "../logger/logger.js";
import { ConnectionGuard, type ConnectionLimits } from "./connectionGuard.js";
import { selfSignedCert } from "./tls.js";

/** Options of {@link tlsFastify}. */
export interface TlsPortOptions {
  /** Host for the certificate's SAN. */
  certHost: string;
  connection: ConnectionLimits;
  /** Concurrent HTTP/2 streams one session may open (Node's default is unlimited). */
  maxConcurrentStreams: number;
  /** An HTTP/2 session idle this long is closed (go-livepeer's HTTPIdleTimeout). */
  idleTimeoutMs: number;
  /** Whether HTTP/1.1 clients are served too (the orchestrator's routes), or HTTP/2 only (gRPC). */
  allowHTTP1: boolean;
  /** Longest route parameter (fastify's default is 100). */
  maxParamLength?: number;
}

/**
 * A fastify HTTP/2 server over TLS with a self-signed P-256 certificate made fresh at every start
 * and the ConnectionGuard attached: the public ports of the orchestrator and of the redeemer.
 */
export function tlsFastify(options: TlsPortOptions, deps: { logger: Logger }) {
  const { cert, key } = selfSignedCert(options.certHost);
  const guard = new ConnectionGuard(options.connection, { logger: deps.logger });
  const app = Fastify({
    http2: true,
    https: {
      allowHTTP1: options.allowHTTP1,
      key,
      cert,
      ...guard.tlsOptions(),
      settings: { maxConcurrentStreams: options.maxConcurrentStreams },
    },
    logger: false,
    forceCloseConnections: true,
    http2SessionTimeout: options.idleTimeoutMs,
    // Huge or malformed headers get a 431/400 from the HTTP layer before any handler runs.
    routerOptions: { maxParamLength: options.maxParamLength ?? 100 },
  });
  guard.attach(app.server);
  return app;
}

/**
 * Answers unknown paths as Go's net/http does, binds `addr` (both IPv4 and IPv6 when the host is
 * empty) and returns the bound port: call it once every route is registered.
 */
export async function listenTls(app: ReturnType<typeof tlsFastify>, addr: HostPort): Promise<number> {
  app.setNotFoundHandler((_req, reply) =>
    reply.code(404).type("text/plain; charset=utf-8").send("404 page not found\n"),
  );
  await app.listen({ host: addr.host || "::", port: addr.port, ipv6Only: false });
  const address = app.server.address();
  return typeof address === "object" && address ? address.port : addr.port;
}
