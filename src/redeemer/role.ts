import type { NodeConfig } from "../config/resolve.js";
import type { RoleContext, RoleParts } from "../node/LpNode.js";
import { Redeemer } from "./Redeemer.js";
import { type RedeemerLimits, RedeemerServer } from "./RedeemerServer.js";

/** Settings that are not flags (tests lower them to see them act). */
export interface RedeemerRoleLimits {
  server?: Partial<RedeemerLimits>;
  /** Redemption retry timings (tests shorten them). */
  queue?: { initialBackoffMs?: number; maxBackoffMs?: number };
  /** Senders the sender monitor keeps at most (tests lower it to fill it). */
  maxSenders?: number;
}

/**
 * Builds the redeemer role (go-livepeer's -redeemer): the Redeemer (account, redemption queue,
 * sender monitor) and its gRPC port. It needs a chain; the config layer already refuses offchain.
 */
export function redeemerRole(
  config: NodeConfig,
  ctx: RoleContext,
  limits: RedeemerRoleLimits = {},
): RoleParts & { redeemer: Redeemer; server: RedeemerServer } {
  if (!ctx.chain || !config.redeemer) throw new Error("Redeemer mode requires on-chain network");
  const redeemer = new Redeemer(
    {
      datadir: config.datadir,
      recipient: config.redeemer.ethOrchAddr === "" ? null : (config.redeemer.ethOrchAddr as `0x${string}`),
      ...limits.queue,
      maxSenders: limits.maxSenders,
    },
    { chain: ctx.chain, logger: ctx.logger },
  );
  const listen = config.redeemer.listenAddr;
  const server = new RedeemerServer(
    {
      addr: listen,
      // go-livepeer names the certificate after -httpAddr's host.
      certHost: ["", "0.0.0.0", "::"].includes(listen.host) ? "localhost" : listen.host,
      limits: limits.server,
    },
    { logger: ctx.logger, backend: redeemer },
  );
  return {
    redeemer,
    server,
    // The queue is ready before the port opens, and stops after it closes.
    services: [redeemer, server],
    status: (s) => {
      redeemer.status(s);
      server.status(s);
    },
  };
}
