import { type Address, getAddress } from "viem";
import { errorMessage, LpError } from "../errors/LpError.js";
import type { SenderInfo } from "../eth/ChainClient.js";
import type { WatchedEvent } from "../eth/events.js";
import { type Logger, silentLogger } from "../logger/logger.js";
import type { Service } from "../node/Service.js";
import { type Clock, type ClockTimer, systemClock } from "../utils/clock.js";

/** go-livepeer's sender TTL: a sender unused this long is forgotten (pm/sendermonitor.go). */
export const DEFAULT_SENDER_TTL_MS = 172_800_000;
/** How often idle senders are looked for. */
export const DEFAULT_SENDER_CLEANUP_INTERVAL_MS = 600_000;
/**
 * Senders kept at most. Only senders with funds on chain (or a listener, or redemptions in flight)
 * are kept, so this bounds what the chain's funded senders can make a node remember; past it, the
 * least recently used sender nobody depends on is forgotten (read again when next used).
 */
export const DEFAULT_MAX_SENDERS = 10_000;
/** Deposit / pending ratio at or above which pending redemptions do not lower the max float. */
export const MIN_DEPOSIT_PENDING_RATIO = 3n;

/** The chain reads the monitor needs (ChainClient has them). */
export interface SenderChainReads {
  senderInfo(sender: Address): Promise<SenderInfo>;
  claimedReserve(reserveHolder: Address, claimant: Address): Promise<bigint>;
}

/** The round state the monitor needs (RoundWatcher has it). */
export interface SenderMonitorRounds {
  readonly state: { lastInitializedRound: bigint; transcoderPoolSize: bigint };
  subscribe(
    handler: (
      state: { lastInitializedRound: bigint; transcoderPoolSize: bigint },
      previous: { lastInitializedRound: bigint; transcoderPoolSize: bigint } | null,
    ) => unknown,
  ): () => void;
}

/** The decoded events the monitor follows (BlockWatcher has them). */
export interface SenderMonitorEvents {
  subscribe(handler: (event: WatchedEvent) => unknown): () => void;
}

/** Options of the sender monitor. */
export interface SenderMonitorOptions {
  /** This orchestrator's address: the claimant of reserve allocations. */
  recipient: Address;
  ttlMs?: number;
  cleanupIntervalMs?: number;
  /** Senders kept at most (DEFAULT_MAX_SENDERS). */
  maxSenders?: number;
}

/** Collaborators of the sender monitor. */
export interface SenderMonitorDeps {
  chain: SenderChainReads;
  rounds: SenderMonitorRounds;
  events?: SenderMonitorEvents | null;
  clock?: Clock;
  logger?: Logger;
}

/** What the monitor knows of one sender. */
export interface SenderState {
  deposit: bigint;
  withdrawRound: bigint;
  reserve: bigint;
  claimedInCurrentRound: bigint;
  /** Reserve this recipient claimed from the sender in the current round. */
  claimedReserve: bigint;
  /** Face values of this recipient's redemptions in flight. */
  pending: bigint;
  lastAccess: number;
}

/** Error codes of the sender monitor. */
export type SenderMonitorErrorCode = "SENDER_INFO_UNAVAILABLE" | "SENDER_UNLOCKING" | "SENDER_LIMIT";

/** A sender the recipient must refuse, or whose funds cannot be read. */
export class SenderMonitorError extends LpError {
  declare readonly code: SenderMonitorErrorCode;
}

/**
 * Keeps each remote sender's deposit, reserve, claimed reserve, pending redemptions and withdraw
 * round current, from chain reads on first use and from TicketBroker events after, and derives the
 * reserve allocation, max float and available funds the recipient and the redemption queue use.
 * Mirrors go-livepeer's pm/sendermonitor.go with eth/watchers/senderwatcher.go folded in.
 *
 * Unlike go-livepeer, which keeps every address it is asked about for 2 days, a sender with no
 * deposit and no reserve is answered from a fresh read and not kept (anyone can make up
 * addresses; only funded ones cost money), and the senders kept are bounded, least recently used
 * first out.
 */
export class SenderMonitor implements Service {
  readonly name = "senderMonitor";
  private readonly senders = new Map<Address, SenderState>();
  private readonly loading = new Map<Address, Promise<SenderState>>();
  private readonly listeners = new Map<Address, Set<() => void>>();
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly ttlMs: number;
  private readonly maxSenders: number;
  private readonly recipient: Address;
  private lastPoolSize: bigint | null = null;
  private unsubscribe: (() => void)[] = [];
  private cleanupTimer: ClockTimer | null = null;

  constructor(
    private readonly options: SenderMonitorOptions,
    private readonly deps: SenderMonitorDeps,
  ) {
    this.clock = deps.clock ?? systemClock;
    this.log = (deps.logger ?? silentLogger()).child({ module: "sendermonitor" });
    this.ttlMs = options.ttlMs ?? DEFAULT_SENDER_TTL_MS;
    this.maxSenders = options.maxSenders ?? DEFAULT_MAX_SENDERS;
    this.recipient = getAddress(options.recipient);
  }

  /** The transcoder pool size of the last round (the round watcher reads it at each new round). */
  private get poolSize(): bigint {
    return this.deps.rounds.state.transcoderPoolSize;
  }

  /** Follows events, round changes and starts the idle-sender cleanup. */
  async start(signal: AbortSignal): Promise<void> {
    if (this.unsubscribe.length > 0) return;
    this.lastPoolSize = this.poolSize;
    this.unsubscribe.push(
      this.deps.rounds.subscribe((state, previous) => {
        if (state.transcoderPoolSize !== this.lastPoolSize) {
          this.lastPoolSize = state.transcoderPoolSize;
          this.notifyAll();
        }
        if (previous !== null && state.lastInitializedRound !== previous.lastInitializedRound) {
          this.newRound();
        }
      }),
    );
    if (this.deps.events) this.unsubscribe.push(this.deps.events.subscribe((e) => this.handleEvent(e)));
    const every = this.options.cleanupIntervalMs ?? DEFAULT_SENDER_CLEANUP_INTERVAL_MS;
    this.cleanupTimer = this.clock.setInterval(() => this.cleanup(), every);
    this.cleanupTimer.unref?.();
    signal.addEventListener("abort", () => void this.stop(), { once: true });
  }

  /** Stops following the chain; idempotent. */
  async stop(): Promise<void> {
    for (const off of this.unsubscribe) off();
    this.unsubscribe = [];
    if (this.cleanupTimer !== null) this.clock.clearInterval(this.cleanupTimer);
    this.cleanupTimer = null;
  }

  /**
   * The sender's state, read from the chain on first use (concurrent first uses share one read).
   * Throws SENDER_LIMIT when a new sender must be kept and every kept one is in use.
   */
  async sender(address: Address): Promise<SenderState> {
    const key = getAddress(address);
    const known = this.senders.get(key);
    if (known) {
      known.lastAccess = this.clock.now();
      // Map order is the LRU order: most recently used last.
      this.senders.delete(key);
      this.senders.set(key, known);
      return known;
    }
    let load = this.loading.get(key);
    if (!load) {
      load = this.fetch(key).finally(() => this.loading.delete(key));
      this.loading.set(key, load);
    }
    return load;
  }

  /** Re-reads a sender from the chain (after a reorg undid one of its events). */
  async refresh(address: Address): Promise<SenderState> {
    const key = getAddress(address);
    const state = await this.read(key);
    const known = this.senders.get(key);
    if (known) {
      state.pending = known.pending;
      this.senders.set(key, state);
    } else this.keep(key, state);
    this.notify(key);
    return state;
  }

  /**
   * Reserve this recipient may still claim from the sender this round: (funds remaining + claimed
   * this round) / pool size − claimed by this recipient, integer division, 0 with an empty pool. It
   * can be negative, as go-livepeer's is.
   */
  async reserveAlloc(address: Address): Promise<bigint> {
    return reserveAllocOf(await this.sender(address), this.poolSize);
  }

  /** The most the sender may owe this recipient in unredeemed tickets (go-livepeer's MaxFloat). */
  async maxFloat(address: Address): Promise<bigint> {
    return maxFloatOf(await this.sender(address), this.poolSize);
  }

  /** What a redemption can pay now: reserve allocation + deposit − redemptions in flight. */
  async availableFunds(address: Address): Promise<bigint> {
    const s = await this.sender(address);
    return reserveAllocOf(s, this.poolSize) + s.deposit - s.pending;
  }

  /** Counts a redemption in flight against the sender (go-livepeer's SubFloat). */
  addPending(address: Address, faceValue: bigint): void {
    const s = this.senders.get(getAddress(address));
    if (!s) return;
    s.pending += faceValue;
    this.notify(getAddress(address));
  }

  /** A redemption in flight ended, mined or not (go-livepeer's AddFloat). */
  removePending(address: Address, faceValue: bigint): void {
    const s = this.senders.get(getAddress(address));
    if (!s) return;
    s.pending = s.pending > faceValue ? s.pending - faceValue : 0n;
    this.notify(getAddress(address));
  }

  /**
   * Refuses a sender whose deposit and reserve unlock at or before the next round (go-livepeer's
   * ValidateSender), or whose funds cannot be read.
   */
  async validateSender(address: Address): Promise<void> {
    let s: SenderState;
    try {
      s = await this.sender(address);
    } catch (err) {
      throw new SenderMonitorError(
        "SENDER_INFO_UNAVAILABLE",
        `could not get sender info for ${getAddress(address)}: ${errorMessage(err)}`,
        { cause: err },
      );
    }
    const round = this.deps.rounds.state.lastInitializedRound;
    if (s.withdrawRound !== 0n && s.withdrawRound <= round + 1n) {
      throw new SenderMonitorError(
        "SENDER_UNLOCKING",
        `deposit and reserve for sender ${getAddress(address)} is set to unlock soon`,
      );
    }
  }

  /** Calls `handler` whenever the sender's max float may have changed; returns the unsubscribe function. */
  onMaxFloatChange(address: Address, handler: () => void): () => void {
    // A sender with no funds is not kept; its listener still hears of its events (see handleEvent).
    const key = getAddress(address);
    let set = this.listeners.get(key);
    if (!set) {
      set = new Set();
      this.listeners.set(key, set);
    }
    set.add(handler);
    return () => {
      set.delete(handler);
      if (set.size === 0) this.listeners.delete(key);
    };
  }

  /** Applies one TicketBroker event to a sender already known (others are read fresh when first used). */
  handleEvent(event: WatchedEvent): void {
    if (event.contract !== "TicketBroker") return;
    const holder =
      event.eventName === "ReserveFunded"
        ? event.args.reserveHolder
        : (event.args as { sender?: Address }).sender;
    if (holder === undefined) return;
    const key = getAddress(holder);
    const s = this.senders.get(key);
    if (!s) {
      // Someone waits on this sender's max float: read it now that it changed (a first deposit).
      if (this.listeners.has(key)) {
        void this.refresh(key).catch((err) =>
          this.log.warn({ sender: key, err: errorMessage(err) }, "reading sender info failed"),
        );
      }
      return;
    }
    if (event.removed) {
      // A reorg undid it: the chain is the only safe source now.
      void this.refresh(key).catch((err) =>
        this.log.warn({ sender: key, err: errorMessage(err) }, "re-reading sender info failed"),
      );
      return;
    }
    switch (event.eventName) {
      case "DepositFunded":
        s.deposit += event.args.amount;
        break;
      case "ReserveFunded":
        s.reserve += event.args.amount;
        break;
      case "Withdrawal":
        s.deposit = 0n;
        s.reserve = 0n;
        s.claimedInCurrentRound = 0n;
        s.claimedReserve = 0n;
        s.withdrawRound = 0n;
        break;
      case "Unlock":
        s.withdrawRound = event.args.endRound;
        break;
      case "UnlockCancelled":
        s.withdrawRound = 0n;
        break;
      case "WinningTicketTransfer": {
        const amount = event.args.amount;
        if (amount > s.deposit) {
          const fromReserve = amount - s.deposit;
          s.deposit = 0n;
          s.reserve -= fromReserve;
          s.claimedInCurrentRound += fromReserve;
          if (getAddress(event.args.recipient) === this.recipient) s.claimedReserve += fromReserve;
        } else {
          s.deposit -= amount;
        }
        break;
      }
      default:
        return;
    }
    this.notify(key);
  }

  /**
   * Forgets senders nobody depends on (no listener, no redemption in flight) that are idle for
   * longer than the TTL (go-livepeer's cleanup) or have no funds left.
   */
  cleanup(): void {
    const now = this.clock.now();
    for (const [key, s] of this.senders) {
      if (this.inUse(key, s)) continue;
      if (now - s.lastAccess > this.ttlMs || !funded(s)) {
        this.senders.delete(key);
        this.log.debug({ sender: key }, "forgot idle sender");
      }
    }
  }

  /** Senders currently kept (tests, /status). */
  knownSenders(): Address[] {
    return [...this.senders.keys()];
  }

  private newRound(): void {
    for (const s of this.senders.values()) {
      s.claimedInCurrentRound = 0n;
      s.claimedReserve = 0n;
    }
    this.notifyAll();
  }

  private async fetch(key: Address): Promise<SenderState> {
    const state = await this.read(key);
    // An event or a refresh may have filled it while the read was in flight: that one is newer.
    const raced = this.senders.get(key);
    if (raced) return raced;
    this.keep(key, state);
    return state;
  }

  /** Whether forgetting the sender would lose something: a listener's updates or pending redemptions. */
  private inUse(key: Address, s: SenderState): boolean {
    return this.listeners.has(key) || s.pending > 0n;
  }

  /**
   * Keeps a freshly read sender when it is worth it (funds on chain, or a listener), making room by
   * forgetting the least recently used sender not in use.
   */
  private keep(key: Address, state: SenderState): void {
    if (!funded(state) && !this.inUse(key, state)) return;
    if (this.senders.size >= this.maxSenders) {
      let victim: Address | null = null;
      for (const [k, s] of this.senders) {
        if (!this.inUse(k, s)) {
          victim = k;
          break;
        }
      }
      if (victim === null) {
        throw new SenderMonitorError(
          "SENDER_LIMIT",
          `too many senders monitored: all ${this.maxSenders} are in use`,
        );
      }
      this.senders.delete(victim);
      this.log.debug({ sender: victim }, "forgot least recently used sender");
    }
    this.senders.set(key, state);
  }

  private async read(key: Address): Promise<SenderState> {
    const [info, claimed] = await Promise.all([
      this.deps.chain.senderInfo(key),
      this.deps.chain.claimedReserve(key, this.recipient),
    ]);
    return {
      deposit: info.deposit,
      withdrawRound: info.withdrawRound,
      reserve: info.reserve.fundsRemaining,
      claimedInCurrentRound: info.reserve.claimedInCurrentRound,
      claimedReserve: claimed,
      pending: 0n,
      lastAccess: this.clock.now(),
    };
  }

  private notify(key: Address): void {
    for (const handler of [...(this.listeners.get(key) ?? [])]) {
      try {
        handler();
      } catch (err) {
        this.log.error({ sender: key, err: errorMessage(err) }, "max float listener failed");
      }
    }
  }

  private notifyAll(): void {
    for (const key of this.listeners.keys()) this.notify(key);
  }
}

/** Whether the sender has anything on chain to pay tickets with. */
function funded(s: Pick<SenderState, "deposit" | "reserve">): boolean {
  return s.deposit > 0n || s.reserve > 0n;
}

/** Reserve allocation of a sender for a pool size (pure; see SenderMonitor.reserveAlloc). */
export function reserveAllocOf(
  s: Pick<SenderState, "reserve" | "claimedInCurrentRound" | "claimedReserve">,
  poolSize: bigint,
): bigint {
  if (poolSize === 0n) return 0n;
  return (s.reserve + s.claimedInCurrentRound) / poolSize - s.claimedReserve;
}

/**
 * Max float of a sender (pure): the reserve allocation, less the pending redemptions unless the
 * deposit is at least 3 times them (then the deposit alone is expected to pay them).
 */
export function maxFloatOf(
  s: Pick<SenderState, "reserve" | "claimedInCurrentRound" | "claimedReserve" | "deposit" | "pending">,
  poolSize: bigint,
): bigint {
  const alloc = reserveAllocOf(s, poolSize);
  if (s.pending > 0n && s.deposit >= MIN_DEPOSIT_PENDING_RATIO * s.pending) return alloc;
  return alloc - s.pending;
}
