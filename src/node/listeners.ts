import { formatHostPort } from "../config/addresses.js";
import type { ListenerConfig } from "../config/resolve.js";
import { LpError } from "../errors/LpError.js";
import type { NodeStatus } from "./status.js";

/** A listener could not bind: the message names the flag that chose its address. */
export class ListenError extends LpError {
  constructor(
    message: string,
    readonly flag: string,
    cause: unknown,
  ) {
    super("LISTEN_FAILED", message, { cause });
  }
}

const WHY: Record<string, string> = {
  EADDRINUSE: "is already in use",
  EACCES: "needs privileges this process does not have (ports below 1024 need root or CAP_NET_BIND_SERVICE)",
  EADDRNOTAVAIL: "is not an address of this machine",
};

/**
 * Turn a listen error (EADDRINUSE, EACCES, EADDRNOTAVAIL) into one line naming the listener and
 * the flag that chose its address; null for any other error, which then propagates as it is.
 */
export function listenFailure(err: unknown, listeners: readonly ListenerConfig[]): ListenError | null {
  if (!(err instanceof Error)) return null;
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
  const why = e.code ? WHY[e.code] : undefined;
  if (why === undefined) return null;
  const candidates = listeners.filter((l) => e.port === undefined || l.addr.port === e.port);
  const hit =
    candidates.find((l) => e.address !== undefined && sameHost(l.addr.host, e.address)) ?? candidates[0];
  if (!hit) return null;
  const where = formatHostPort(hit.addr);
  return new ListenError(
    `${hit.flag}: cannot listen on ${where} (${hit.name}, ${hit.reason}): the address ${why} (${e.code}); choose another with ${hit.change}`,
    hit.flag,
    err,
  );
}

function sameHost(configured: string, reported: string): boolean {
  if (configured === reported) return true;
  const wildcard = ["", "0.0.0.0", "::"];
  return wildcard.includes(configured) && wildcard.includes(reported);
}

/** Status fields where the roles report the ports they bound (port 0 resolves only at start). */
const BOUND_PORT_FIELD: Record<ListenerConfig["name"], string | null> = {
  cli: null,
  http: "GatewayHTTPPort",
  rtmp: "GatewayRTMPPort",
  orchestrator: "OrchestratorPort",
  signer: "SignerPort",
  redeemer: "RedeemerPort",
};

/** Each listener's address with the port actually bound, for /status and the start-up log. */
export function boundAddresses(
  listeners: readonly ListenerConfig[],
  status: NodeStatus,
  cliPort: number,
): { listener: ListenerConfig; address: string }[] {
  return listeners.map((listener) => {
    const field = BOUND_PORT_FIELD[listener.name];
    const reported = field === null ? cliPort : status[field];
    const port = typeof reported === "number" && reported > 0 ? reported : listener.addr.port;
    // "" binds every interface; "*" says so without suggesting one address family.
    const host = listener.addr.host === "" ? "*" : listener.addr.host;
    return { listener, address: formatHostPort({ host, port }) };
  });
}
