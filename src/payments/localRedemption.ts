import type { Chain } from "../eth/Chain.js";
import type { Logger } from "../logger/logger.js";
import { type RedemptionFunds, RedemptionQueue, redemptionChain } from "./RedemptionQueue.js";
import type { TicketStats, TicketStore } from "./TicketStore.js";

/** Options of {@link chainRedemptionQueue}. */
export interface ChainRedemptionOptions {
  /** Gas one redemption costs; defaults to the chain's preset. */
  redeemGas?: bigint;
  /** Redemption retry backoff (tests lower it). */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

/**
 * The redemption queue of a node that redeems its winning tickets itself (an orchestrator without
 * -redeemerAddr, or a redeemer): the chain's TicketBroker, transaction manager and watchers.
 */
export function chainRedemptionQueue(
  chain: Chain,
  options: ChainRedemptionOptions,
  deps: { store: TicketStore; funds: RedemptionFunds; logger: Logger },
): RedemptionQueue {
  const ticketBroker = chain.client.addresses.TicketBroker;
  return new RedemptionQueue(
    {
      ticketBroker,
      redeemGas: options.redeemGas ?? chain.settings.chain.redeemGas,
      initialBackoffMs: options.initialBackoffMs,
      maxBackoffMs: options.maxBackoffMs,
    },
    {
      store: deps.store,
      chain: redemptionChain(chain.client.publicClient, ticketBroker),
      tx: chain.tx,
      funds: deps.funds,
      rounds: chain.rounds,
      blocks: chain.blocks,
      logger: deps.logger,
    },
  );
}

/** A count and face value as /status shows them (go-livepeer's capitalised keys, wei as a string). */
export function countsView(v: { count: number; faceValue: bigint }): { Count: number; FaceValue: string } {
  return { Count: v.count, FaceValue: v.faceValue.toString() };
}

/** The ticket store's counts as /status shows them under "Tickets". */
export function ticketsView(stats: TicketStats) {
  return {
    Pending: countsView(stats.pending),
    Submitted: countsView(stats.submitted),
    Redeemed: countsView(stats.redeemed),
    Failed: countsView(stats.failed),
  };
}
