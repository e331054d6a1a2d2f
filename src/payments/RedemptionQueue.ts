import { type Address, getAddress, type Hash, type PublicClient } from "viem";
import { errorMessage, LpError } from "../errors/LpError.js";
import { ticketBrokerAbi } from "../eth/abis.js";
import { EthRevertError } from "../eth/errors.js";
import type { TxContractRequest, TxResult } from "../eth/TxManager.js";
import { type Logger, silentLogger } from "../logger/logger.js";
import type { Service } from "../node/Service.js";
import { type Clock, type ClockTimer, systemClock } from "../utils/clock.js";
import type { StoredTicket, TicketStats, TicketStore } from "./TicketStore.js";
import { hasRedeemableAuxData, redeemWinningTicketArgs } from "./ticket.js";
import type { SignedTicket } from "./types.js";

/** The broker's ticketValidityPeriod on every deployed network (rounds). */
export const DEFAULT_TICKET_VALIDITY_PERIOD = 2n;
/** First wait after a failed attempt; doubled per failure up to maxBackoffMs. */
export const DEFAULT_INITIAL_BACKOFF_MS = 1_000;
/** Longest wait between attempts at one ticket. */
export const DEFAULT_MAX_BACKOFF_MS = 60_000;
/** Blocks searched back for a WinningTicketRedeemed log when a ticket turns out used. */
export const DEFAULT_REDEMPTION_LOOKBACK_BLOCKS = 100_000n;

/** Revert reasons after which retrying the same ticket cannot succeed. */
const PERMANENT_REVERTS = [
  "ticket is expired",
  "ticket creationRound does not have a block hash",
  "ticket creationRoundBlockHash invalid for creationRound",
  "invalid length for ticket auxData: must be 64 bytes",
  "recipientRand does not match recipientRandHash",
  "invalid signature over ticket hash",
  "ticket did not win",
  "ticket recipient is null address",
  "ticket sender is null address",
  "INVALID_SIGNATURE_LENGTH",
  "ECDSA: invalid signature",
];

/** A mined transaction as the queue reads it back. */
export interface MinedTx {
  status: "success" | "reverted";
  blockNumber: bigint;
}

/** Where a ticket was redeemed on chain (from the broker's WinningTicketRedeemed log). */
export interface FoundRedemption {
  txHash: Hash;
  blockNumber: bigint;
  /** The account that sent the redeeming transaction. */
  from: Address;
}

/** The chain reads the queue needs. */
export interface RedemptionChain {
  isUsedTicket(hash: Hash): Promise<boolean>;
  gasPrice(): Promise<bigint>;
  /** The receipt of a transaction, or null when it is not mined. */
  receipt(txHash: Hash): Promise<MinedTx | null>;
  /** Whether the node still knows a transaction (pending or mined). */
  knowsTransaction(txHash: Hash): Promise<boolean>;
  /** The redemption of a used ticket, looked up by its log, or null. */
  findRedemption(stored: StoredTicket): Promise<FoundRedemption | null>;
}

/** The round state the queue needs (RoundWatcher has it). */
export interface RedemptionRounds {
  readonly state: {
    currentRound: bigint;
    lastInitializedRound: bigint;
    lastSeenL1Block: bigint;
    /** Whether currentRound is initialised; the broker refuses redemptions until it is. */
    initialized?: boolean;
  };
  subscribe(handler: () => unknown): () => void;
}

/** The sender funds the queue needs (SenderMonitor has them). */
export interface RedemptionFunds {
  availableFunds(sender: Address): Promise<bigint>;
  addPending(sender: Address, faceValue: bigint): void;
  removePending(sender: Address, faceValue: bigint): void;
}

/** The redeem call as the TxManager takes it. */
export type RedeemRequest = TxContractRequest<typeof ticketBrokerAbi, "redeemWinningTicket">;

/** What sends the redemption transactions (a TxManager). */
export interface RedemptionTxSender {
  readonly address: Address;
  writeContract(request: RedeemRequest): Promise<TxResult>;
}

/** Options of the redemption queue. */
export interface RedemptionQueueOptions {
  ticketBroker: Address;
  /** Gas a redemption is assumed to cost, for the worth-it check (-redeemGas). */
  redeemGas: bigint;
  ticketValidityPeriod?: bigint;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

/** Collaborators of the redemption queue. */
export interface RedemptionQueueDeps {
  store: TicketStore;
  chain: RedemptionChain;
  tx: RedemptionTxSender;
  funds: RedemptionFunds;
  rounds: RedemptionRounds;
  /** New blocks; the round source alone is enough when it reports every block. */
  blocks?: { onBlock(handler: () => unknown): () => void } | null;
  clock?: Clock;
  logger?: Logger;
}

/** Why a ticket waits, as logged once per ticket and reason. */
export type WaitReason =
  | "params not expired"
  | "creation round not initialized"
  | "current round not initialized"
  | "insufficient ticket face value for redeem tx cost"
  | "insufficient sender funds for redeem tx cost"
  | "sender funds do not cover the face value"
  | "transaction in flight"
  | "backoff";

interface Backoff {
  failures: number;
  notBefore: number;
}

type Outcome = "done" | "wait" | "blocked";

/**
 * Redeems the orchestrator's stored winning tickets on the TicketBroker, once each: per sender in
 * the order stored, each when its params have expired (so its recipientRand may be revealed), its
 * creation round is initialised and still valid, the face value is worth the transaction and the
 * sender's funds cover it. A ticket that waits for time or gas does not hold back later ones
 * (go-livepeer's queue does); one that waits for the sender's funds holds back that sender's later
 * tickets only, so they do not take the funds it waits for. Tickets found "submitted" (a crash, a
 * stop, an RPC outage mid-send) are reconciled against receipts and usedTickets before anything
 * is sent again. Mirrors go-livepeer's pm/queue.go and LocalSenderMonitor.redeemWinningTicket.
 */
export class RedemptionQueue implements Service {
  readonly name = "redemptionQueue";
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly validity: bigint;
  private readonly backoffs = new Map<Hash, Backoff>();
  private readonly waits = new Map<Hash, WaitReason>();
  private readonly inFlight = new Set<Hash>();
  private unsubscribe: (() => void)[] = [];
  private abort = new AbortController();
  private running: Promise<void> | null = null;
  private again = false;
  private started = false;
  private timer: ClockTimer | null = null;
  private timerAt = Number.POSITIVE_INFINITY;

  constructor(
    private readonly options: RedemptionQueueOptions,
    private readonly deps: RedemptionQueueDeps,
  ) {
    this.clock = deps.clock ?? systemClock;
    this.log = (deps.logger ?? silentLogger()).child({ module: "redemptionqueue" });
    this.validity = options.ticketValidityPeriod ?? DEFAULT_TICKET_VALIDITY_PERIOD;
  }

  /** Reconciles what a previous run left submitted, then redeems on every new block and round. */
  async start(signal: AbortSignal): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.abort = new AbortController();
    this.unsubscribe.push(this.deps.rounds.subscribe(() => this.kick()));
    if (this.deps.blocks) this.unsubscribe.push(this.deps.blocks.onBlock(() => this.kick()));
    signal.addEventListener("abort", () => void this.stop(), { once: true });
    this.kick();
  }

  /**
   * Stops: no new transaction is sent, the waits for receipts in flight are abandoned (their tickets
   * stay "submitted" and the next start reconciles them). Idempotent.
   */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    for (const off of this.unsubscribe) off();
    this.unsubscribe = [];
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = Number.POSITIVE_INFINITY;
    this.abort.abort();
    await this.running?.catch(() => undefined);
  }

  /** Asks for a pass over the queue (new block, new ticket); passes never overlap. */
  kick(): void {
    if (!this.started) return;
    // Seen by the running loop: its last check of `again` and its clearing of `running` happen
    // in one synchronous step, so no kick falls between them.
    this.again = true;
    if (this.running) return;
    this.running = this.loop();
  }

  /**
   * Stores a winning ticket durably (resolved only once committed: acknowledge the payment after
   * it) and asks for a pass. A ticket already stored is not stored or redeemed twice.
   */
  async add(ticket: SignedTicket): Promise<{ hash: Hash; inserted: boolean }> {
    const result = await this.deps.store.store(ticket);
    if (result.inserted) this.kick();
    return result;
  }

  /** Pending, submitted, redeemed and failed tickets with their face values, for /status. */
  status(): TicketStats {
    return this.deps.store.stats();
  }

  /** Resolves when no pass is running (tests). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Why a pending ticket is waiting now, if it is (tests, /status). */
  waitReason(hash: Hash): WaitReason | undefined {
    return this.waits.get(hash.toLowerCase() as Hash);
  }

  private async loop(): Promise<void> {
    // kick() set `again` and started is true: the first check passes and the body awaits, so
    // `running` is assigned before it is cleared here.
    while (this.again && this.started) {
      this.again = false;
      try {
        await this.pass();
      } catch (err) {
        this.log.error({ err: errorMessage(err) }, "redemption pass failed");
      }
    }
    this.running = null;
    this.scheduleBackoffWake();
  }

  private async pass(): Promise<void> {
    const senders = this.deps.store.activeSenders();
    // Senders are independent: one whose RPC calls hang or whose funds are short delays no other.
    await Promise.all(senders.map((s) => this.passSender(s)));
  }

  private async passSender(sender: Address): Promise<void> {
    for (const t of this.deps.store.list("submitted", sender)) {
      if (!this.started) return;
      if (this.inFlight.has(t.hash) || !this.due(t.hash)) continue;
      await this.guard(t, () => this.reconcile(t));
    }
    for (const t of this.deps.store.list("pending", sender)) {
      if (!this.started) return;
      if (this.inFlight.has(t.hash)) continue;
      if (!this.due(t.hash)) {
        this.waits.set(t.hash, "backoff");
        continue;
      }
      const outcome = await this.guard(t, () => this.consider(t));
      if (outcome === "blocked") return;
    }
  }

  /** Runs one step on a ticket; an RPC failure schedules a retry with backoff. */
  private async guard(t: StoredTicket, step: () => Promise<Outcome>): Promise<Outcome> {
    try {
      const outcome = await step();
      // The chain answered: the next failure starts the backoff from the beginning again.
      this.backoffs.delete(t.hash);
      if (outcome === "done") this.waits.delete(t.hash);
      return outcome;
    } catch (err) {
      if (!this.started) return "wait";
      const b = this.backoffs.get(t.hash) ?? { failures: 0, notBefore: 0 };
      b.failures++;
      const initial = this.options.initialBackoffMs ?? DEFAULT_INITIAL_BACKOFF_MS;
      const max = this.options.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS;
      const delay = Math.min(max, initial * 2 ** Math.min(b.failures - 1, 30));
      b.notBefore = this.clock.now() + delay;
      this.backoffs.set(t.hash, b);
      this.log.warn(
        {
          ticket: t.hash,
          sender: t.ticket.sender,
          failures: b.failures,
          retryInMs: delay,
          err: errorMessage(err),
        },
        "ticket redemption step failed; retrying",
      );
      return "wait";
    }
  }

  private due(hash: Hash): boolean {
    const b = this.backoffs.get(hash);
    return b === undefined || b.notBefore <= this.clock.now();
  }

  private scheduleBackoffWake(): void {
    if (!this.started) return;
    const now = this.clock.now();
    let next = Number.POSITIVE_INFINITY;
    // A backoff that fell due while the pass ran (or whose sender is held back) is retried after
    // the initial delay: a devnet with automine may bring no new block to do it.
    const soon = now + (this.options.initialBackoffMs ?? DEFAULT_INITIAL_BACKOFF_MS);
    for (const b of this.backoffs.values()) next = Math.min(next, b.notBefore > now ? b.notBefore : soon);
    if (next === Number.POSITIVE_INFINITY || next >= this.timerAt) return;
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timerAt = next;
    this.timer = this.clock.setTimeout(
      () => {
        this.timer = null;
        this.timerAt = Number.POSITIVE_INFINITY;
        this.kick();
      },
      Math.max(0, next - this.clock.now()),
    );
    this.timer.unref?.();
  }

  private wait(t: StoredTicket, reason: WaitReason, detail: Record<string, unknown> = {}): Outcome {
    if (this.waits.get(t.hash) !== reason) {
      this.log.info({ ticket: t.hash, sender: t.ticket.sender, reason, ...detail }, "winning ticket waits");
      this.waits.set(t.hash, reason);
    }
    return reason === "sender funds do not cover the face value" ||
      reason === "insufficient sender funds for redeem tx cost"
      ? "blocked"
      : "wait";
  }

  private fail(t: StoredTicket, reason: string): Outcome {
    if (this.deps.store.markFailed(t.hash, reason)) {
      this.log.warn(
        { ticket: t.hash, sender: t.ticket.sender, faceValue: t.ticket.faceValue, reason },
        "winning ticket not redeemable",
      );
    }
    return "done";
  }

  private redeemed(t: StoredTicket, txHash: Hash, block: bigint): Outcome {
    if (this.deps.store.markRedeemed(t.hash, txHash, block)) {
      this.log.info(
        { ticket: t.hash, sender: t.ticket.sender, faceValue: t.ticket.faceValue, txHash, block },
        "winning ticket redeemed",
      );
    }
    return "done";
  }

  /** A pending ticket: redeem it now, wait, or give up on it. */
  private async consider(t: StoredTicket): Promise<Outcome> {
    const ticket = t.ticket;
    const { currentRound, lastInitializedRound, lastSeenL1Block, initialized } = this.deps.rounds.state;
    if (!hasRedeemableAuxData(ticket)) {
      return this.fail(t, "invalid length for ticket auxData: must be 64 bytes");
    }
    // The broker's rule (creationRound + validity > currentRound), one round stricter than
    // go-livepeer's queue filter, which sends transactions bound to revert.
    if (ticket.creationRound + this.validity <= currentRound) {
      return this.fail(
        t,
        `ticket is expired: created in round ${ticket.creationRound}, valid for ${this.validity} rounds, current round ${currentRound}`,
      );
    }
    if (ticket.creationRound > lastInitializedRound) {
      return this.wait(t, "creation round not initialized", { creationRound: ticket.creationRound });
    }
    if (initialized === false) {
      return this.wait(t, "current round not initialized", { currentRound });
    }
    // Revealing recipientRand while its params are still valid would let the sender make tickets
    // that never win against it.
    if (ticket.paramsExpirationBlock > lastSeenL1Block) {
      return this.wait(t, "params not expired", {
        expirationBlock: ticket.paramsExpirationBlock,
        lastSeenL1Block,
      });
    }
    // Used already: by a transaction of ours whose hash never came back (the RPC dropped the
    // connection mid-send), or by someone else.
    if (await this.deps.chain.isUsedTicket(t.hash)) return this.settleUsed(t);
    const gasPrice = await this.deps.chain.gasPrice();
    const txCost = gasPrice * this.options.redeemGas;
    if (ticket.faceValue <= txCost) {
      // As go-livepeer: not dropped, the gas price may fall before the ticket expires.
      return this.wait(t, "insufficient ticket face value for redeem tx cost", { txCost, gasPrice });
    }
    const available = await this.deps.funds.availableFunds(ticket.sender);
    if (available <= txCost) {
      return this.wait(t, "insufficient sender funds for redeem tx cost", { available, txCost });
    }
    const lastRound = ticket.creationRound + this.validity - 1n <= currentRound;
    if (available < ticket.faceValue && !lastRound) {
      // A partial payment uses the ticket up: wait for a deposit until its last valid round.
      return this.wait(t, "sender funds do not cover the face value", { available });
    }
    return this.send(t);
  }

  private async send(t: StoredTicket): Promise<Outcome> {
    const ticket = t.ticket;
    if (!this.deps.store.markSubmitted(t.hash)) return "done";
    this.waits.delete(t.hash);
    this.inFlight.add(t.hash);
    this.deps.funds.addPending(ticket.sender, ticket.faceValue);
    let sent = false;
    try {
      const result = await this.deps.tx.writeContract({
        address: this.options.ticketBroker,
        abi: ticketBrokerAbi,
        functionName: "redeemWinningTicket",
        args: redeemWinningTicketArgs(ticket),
        signal: this.abort.signal,
        onSent: (hash, nonce) => {
          sent = true;
          try {
            this.deps.store.recordTx(t.hash, hash, nonce);
          } catch (err) {
            this.log.error(
              { ticket: t.hash, txHash: hash, err: errorMessage(err) },
              "recording the tx failed",
            );
          }
        },
      });
      return this.redeemed(t, result.hash, result.receipt.blockNumber);
    } catch (err) {
      if (err instanceof EthRevertError) {
        if (err.txHash !== undefined) {
          // Mined and reverted: that transaction did not use the ticket. Settle from the chain's view.
          return await this.reconcile(t, err.reason);
        }
        // The estimate reverted: nothing was broadcast.
        this.deps.store.markPending(t.hash);
        if (err.reason === "ticket is used") return await this.settleUsed(t);
        if (isPermanent(err.reason)) return this.fail(t, err.reason);
        throw err;
      }
      // Sent but the outcome is unknown (RPC down, not mined in time, stopped): stays submitted
      // and is reconciled. Never sent: back to pending.
      if (!sent) this.deps.store.markPending(t.hash);
      throw err;
    } finally {
      this.deps.funds.removePending(ticket.sender, ticket.faceValue);
      this.inFlight.delete(t.hash);
    }
  }

  /**
   * A submitted ticket whose transaction's fate is not known here: redeemed if one of its
   * transactions (or any of ours, found by the broker's log) succeeded; still waiting while one is
   * pending at the node; otherwise back to pending (or failed when the revert is permanent).
   */
  private async reconcile(t: StoredTicket, revertReason?: string): Promise<Outcome> {
    const fresh = this.deps.store.get(t.hash) ?? t;
    if (fresh.state !== "submitted") return "done";
    for (const txHash of fresh.txHashes) {
      const mined = await this.deps.chain.receipt(txHash);
      if (mined?.status === "success") return this.redeemed(fresh, txHash, mined.blockNumber);
    }
    if (await this.deps.chain.isUsedTicket(fresh.hash)) return this.settleUsed(fresh);
    for (const txHash of fresh.txHashes) {
      if (
        (await this.deps.chain.receipt(txHash)) === null &&
        (await this.deps.chain.knowsTransaction(txHash))
      ) {
        return this.wait(fresh, "transaction in flight", { txHash });
      }
    }
    if (revertReason !== undefined && isPermanent(revertReason)) return this.fail(fresh, revertReason);
    this.deps.store.markPending(fresh.hash);
    this.log.info(
      { ticket: fresh.hash, txHashes: fresh.txHashes },
      "no redemption on chain: ticket pending again",
    );
    return revertReason === undefined ? "wait" : this.backoffOnly(fresh, revertReason);
  }

  /** Leaves the ticket pending and has guard() back off before the next try. */
  private backoffOnly(t: StoredTicket, reason: string): never {
    throw new LpError("TICKET_REDEEM_REVERTED", `redeemWinningTicket of ${t.hash} reverted: ${reason}`, {
      retryable: true,
    });
  }

  /** The broker says the ticket is used: ours (redeemed) if one of our transactions did it, else failed. */
  private async settleUsed(t: StoredTicket): Promise<Outcome> {
    const found = await this.deps.chain.findRedemption(t);
    if (found !== null && getAddress(found.from) === getAddress(this.deps.tx.address)) {
      return this.redeemed(t, found.txHash, found.blockNumber);
    }
    return this.fail(
      t,
      found === null ? "ticket already used" : `ticket already used by ${found.from} in ${found.txHash}`,
    );
  }
}

function isPermanent(reason: string): boolean {
  return PERMANENT_REVERTS.some((r) => reason.includes(r));
}

/**
 * The queue's chain reads over a viem public client: usedTickets, the gas price, receipts, the
 * mempool, and the broker's WinningTicketRedeemed logs.
 */
export function redemptionChain(
  client: PublicClient,
  ticketBroker: Address,
  options: { lookbackBlocks?: bigint } = {},
): RedemptionChain {
  const lookback = options.lookbackBlocks ?? DEFAULT_REDEMPTION_LOOKBACK_BLOCKS;
  return {
    isUsedTicket: (hash) =>
      client.readContract({
        address: ticketBroker,
        abi: ticketBrokerAbi,
        functionName: "usedTickets",
        args: [hash],
      }),
    gasPrice: () => client.getGasPrice(),
    async receipt(txHash) {
      try {
        const r = await client.getTransactionReceipt({ hash: txHash });
        return { status: r.status, blockNumber: r.blockNumber };
      } catch (err) {
        if (isNotFound(err)) return null;
        throw err;
      }
    },
    async knowsTransaction(txHash) {
      try {
        await client.getTransaction({ hash: txHash });
        return true;
      } catch (err) {
        if (isNotFound(err)) return false;
        throw err;
      }
    },
    async findRedemption(stored) {
      const latest = await client.getBlockNumber({ cacheTime: 0 });
      const logs = await client.getContractEvents({
        address: ticketBroker,
        abi: ticketBrokerAbi,
        eventName: "WinningTicketRedeemed",
        args: { sender: stored.ticket.sender, recipient: stored.ticket.recipient },
        fromBlock: latest > lookback ? latest - lookback : 0n,
        toBlock: latest,
      });
      const log = logs.find(
        (l) =>
          l.args.senderNonce === BigInt(stored.ticket.senderNonce) &&
          l.args.recipientRand === stored.ticket.recipientRand &&
          l.args.faceValue === stored.ticket.faceValue,
      );
      if (log === undefined || log.transactionHash === null || log.blockNumber === null) return null;
      const tx = await client.getTransaction({ hash: log.transactionHash });
      return { txHash: log.transactionHash, blockNumber: log.blockNumber, from: tx.from };
    },
  };
}

function isNotFound(err: unknown): boolean {
  return (
    err instanceof Error &&
    (err.name === "TransactionReceiptNotFoundError" ||
      err.name === "TransactionNotFoundError" ||
      /could not be found/i.test(err.message))
  );
}
