import { type Address, getAddress, type Hash } from "viem";
import { LpError } from "../errors/LpError.js";
import type { Chain } from "../eth/Chain.js";
import type { Logger } from "../logger/logger.js";
import type { Service } from "../node/Service.js";
import type { NodeStatus } from "../node/status.js";
import { chainRedemptionQueue, ticketsView } from "../payments/localRedemption.js";
import type { RedemptionQueue } from "../payments/RedemptionQueue.js";
import { SenderMonitor } from "../payments/SenderMonitor.js";
import { TicketStore } from "../payments/TicketStore.js";
import type { SignedTicket } from "../payments/types.js";
import { closeDatabase, openDatabase, type SqliteDb } from "../storage/db.js";

/** Options of {@link Redeemer}. */
export interface RedeemerOptions {
  /** The data folder: the redemption queue lives in its SQLite database. */
  datadir: string;
  /** The ticket recipient (-ethOrchAddr) when it is not the node's account. */
  recipient?: Address | null;
  /** Gas one redemption costs; defaults to the chain's preset. */
  redeemGas?: bigint;
  /** Redemption retry backoff (tests lower it). */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Senders the sender monitor keeps at most (DEFAULT_MAX_SENDERS; tests lower it). */
  maxSenders?: number;
}

interface Parts {
  db: SqliteDb;
  store: TicketStore;
  monitor: SenderMonitor;
  queue: RedemptionQueue;
}

/**
 * What a redeemer holds (go-livepeer's -redeemer node: server/redeemer.go Redeemer with a
 * LocalSenderMonitor): the account that receives and redeems tickets, the durable redemption
 * queue in SQLite and the sender monitor whose max floats orchestrators ask for. The gRPC edge
 * (RedeemerServer) calls it; it knows nothing of the wire.
 */
export class Redeemer implements Service {
  readonly name = "redeemer";
  private parts: Parts | null = null;

  constructor(
    private readonly options: RedeemerOptions,
    private readonly deps: { chain: Chain; logger: Logger },
  ) {}

  /**
   * The ticket recipient this redeemer accepts: -ethOrchAddr, or its own account. Anyone may send
   * a redemption; the broker pays the ticket's recipient.
   */
  get recipient(): Address {
    return this.options.recipient ? getAddress(this.options.recipient) : this.deps.chain.signer.address;
  }

  private ready(): Parts {
    if (!this.parts) throw new Error("the redeemer has not started");
    return this.parts;
  }

  async start(signal: AbortSignal): Promise<void> {
    if (this.parts) return;
    const chain = this.deps.chain;
    const log = this.deps.logger;
    const db = openDatabase(this.options.datadir);
    const started: Service[] = [];
    try {
      const store = TicketStore.open(db);
      const monitor = new SenderMonitor(
        { recipient: this.recipient, maxSenders: this.options.maxSenders },
        { chain: chain.client, rounds: chain.rounds, events: chain.blocks, logger: log },
      );
      const queue = chainRedemptionQueue(chain, this.options, { store, funds: monitor, logger: log });
      for (const service of [monitor, queue]) {
        await service.start(signal);
        started.push(service);
      }
      this.parts = { db, store, monitor, queue };
      const stats = store.stats();
      log.info(
        { recipient: this.recipient, pendingTickets: stats.pending.count + stats.submitted.count },
        "redeeming tickets",
      );
    } catch (err) {
      for (const service of started.reverse()) await service.stop();
      closeDatabase(db);
      throw err;
    }
  }

  async stop(): Promise<void> {
    const parts = this.parts;
    this.parts = null;
    if (!parts) return;
    await parts.queue.stop();
    await parts.monitor.stop();
    closeDatabase(parts.db);
  }

  /**
   * Commits a checked winning ticket to the redemption queue (once per ticket hash). A new ticket
   * from a sender with neither deposit nor reserve is refused (SENDER_UNFUNDED) and not stored: it
   * could never be redeemed, and storing it would let anyone who reaches this port fill the disk
   * with validly signed, worthless tickets. An orchestrator only accepts tickets from funded
   * senders, so an honest one meets this only when a sender was drained meanwhile; it retries.
   */
  async queueTicket(ticket: SignedTicket): Promise<{ hash: Hash; inserted: boolean }> {
    const p = this.ready();
    const hash = p.store.keyOf(ticket);
    if (p.store.get(hash)) return { hash, inserted: false };
    const s = await p.monitor.sender(ticket.sender);
    if (s.deposit === 0n && s.reserve === 0n)
      throw new LpError(
        "SENDER_UNFUNDED",
        `sender ${getAddress(ticket.sender)} has no deposit or reserve to redeem the ticket from`,
      );
    return p.queue.add(ticket);
  }

  /**
   * The sender's max float for this recipient. go-livepeer sends the absolute value of a negative
   * one (big.Int.Bytes); a negative max float means nothing may float, so it is sent as 0.
   */
  async maxFloat(sender: Address): Promise<bigint> {
    const v = await this.ready().monitor.maxFloat(sender);
    return v < 0n ? 0n : v;
  }

  /** Calls `handler` when the sender's max float may have changed; returns the unsubscribe function. */
  onMaxFloatChange(sender: Address, handler: () => void): () => void {
    return this.ready().monitor.onMaxFloatChange(sender, handler);
  }

  /** The queue's counts (tests, the CLI). */
  ticketStats() {
    return this.ready().store.stats();
  }

  /** /status: queue depth, redeemed and failed value, senders monitored. */
  status(s: NodeStatus): void {
    const p = this.parts;
    if (!p) return;
    const stats = p.store.stats();
    s["Tickets"] = ticketsView(stats);
    s["QueueDepth"] = stats.pending.count + stats.submitted.count;
    s["RedeemedValue"] = stats.redeemed.faceValue.toString();
    s["SendersMonitored"] = p.monitor.knownSenders().length;
    s["RedeemerRecipient"] = this.recipient;
  }
}
