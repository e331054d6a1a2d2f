import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { errorMessage } from "../errors/LpError.js";
import type { NodeConfig } from "./resolve.js";

/** A name lookup longer than this counts as failed (a machine with no working resolver). */
const LOOKUP_TIMEOUT_MS = 10_000;

/** Resolves a host name to an address (dns.lookup by default; tests inject their own). */
export type HostLookup = (host: string) => Promise<unknown>;

/**
 * Checks that need the outside world, run after the configuration parsed and before anything
 * starts: every listen host name resolves. Returns one line per problem, naming the flag, so a
 * typo in -httpAddr is reported with the others instead of as a bare ENOTFOUND after start-up.
 */
export async function preflight(
  config: NodeConfig,
  resolve: HostLookup = (host) => lookup(host),
): Promise<string[]> {
  const problems: string[] = [];
  const seen = new Map<string, Promise<string | null>>();
  const check = (host: string): Promise<string | null> => {
    let pending = seen.get(host);
    if (!pending) {
      pending = withTimeout(resolve(host), LOOKUP_TIMEOUT_MS).then(
        () => null,
        (err: unknown) => {
          const code = (err as { code?: unknown }).code;
          return typeof code === "string" ? code : errorMessage(err);
        },
      );
      seen.set(host, pending);
    }
    return pending;
  };
  for (const listener of config.listeners) {
    const host = listener.addr.host;
    if (host === "" || isIP(host) !== 0) continue;
    const failure = await check(host);
    if (failure !== null)
      problems.push(
        `${listener.flag}: host "${host}" does not resolve (${failure}); give an IP address or a host name this machine resolves (${listener.name} listener)`,
      );
  }
  return problems;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer in ${ms / 1000} s`)), ms);
    timer.unref();
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
