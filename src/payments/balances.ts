/**
 * Credit balances per (address, session) as exact rationals (go-livepeer core/accounting.go).
 * The gateway keys them by (orchestrator's ticket recipient, its auth-token session id); the
 * orchestrator by (ticket sender, session id).
 */
import type { Address } from "viem";
import { LpError } from "../errors/LpError.js";
import type { Service } from "../node/Service.js";
import { Rat } from "./rat.js";
import type { RatValue } from "./types.js";

/** go-livepeer's balance cleanup interval and TTL (starter.go: 10 minutes). */
export const DEFAULT_BALANCE_TTL_MS = 10 * 60 * 1000;

interface Entry {
  amount: Rat;
  fixedPrice: Rat | null;
  lastUpdate: number;
}

/** Options of AddressBalances. */
export interface AddressBalancesOptions {
  /** Entries untouched for longer than this are dropped by cleanup(); also the cleanup period. */
  ttlMs?: number;
}

/** Collaborators of AddressBalances: an injectable clock (ms) for tests. */
export interface AddressBalancesDeps {
  now?: () => number;
}

function checkRat(value: RatValue, what: string): void {
  if (typeof value?.num !== "bigint" || typeof value?.den !== "bigint" || value.den <= 0n) {
    throw new LpError("INVALID_AMOUNT", `${what} must be a rational with a positive denominator`);
  }
}

const key = (addr: Address) => addr.toLowerCase();

/**
 * All balances of a node (go-livepeer AddressBalances + Balances): credit, debit, reserve (take the
 * whole amount and zero it), the per-session fixed price the orchestrator pins, and a TTL sweep.
 * Amounts may go negative (a debit larger than the credit), exactly as in go-livepeer.
 */
export class AddressBalances implements Service {
  readonly name = "balances";
  readonly ttlMs: number;
  private readonly now: () => number;
  private readonly byAddr = new Map<string, Map<string, Entry>>();
  private timer: NodeJS.Timeout | null = null;

  constructor(options: AddressBalancesOptions = {}, deps: AddressBalancesDeps = {}) {
    const ttl = options.ttlMs ?? DEFAULT_BALANCE_TTL_MS;
    if (!Number.isFinite(ttl) || ttl <= 0) throw new LpError("INVALID_OPTION", "balance TTL must be > 0");
    this.ttlMs = ttl;
    this.now = deps.now ?? Date.now;
  }

  private entry(addr: Address, id: string): Entry {
    let sessions = this.byAddr.get(key(addr));
    if (!sessions) {
      sessions = new Map();
      this.byAddr.set(key(addr), sessions);
    }
    let e = sessions.get(id);
    if (!e) {
      e = { amount: Rat.ZERO, fixedPrice: null, lastUpdate: this.now() };
      sessions.set(id, e);
    }
    return e;
  }

  private find(addr: Address, id: string): Entry | undefined {
    return this.byAddr.get(key(addr))?.get(id);
  }

  /** Add `amount` to the (addr, id) balance, creating it at 0 first. */
  credit(addr: Address, id: string, amount: RatValue): void {
    checkRat(amount, "credit");
    const e = this.entry(addr, id);
    e.amount = e.amount.add(Rat.from(amount));
    e.lastUpdate = this.now();
  }

  /** Subtract `amount` from the (addr, id) balance, creating it at 0 first; the result may be negative. */
  debit(addr: Address, id: string, amount: RatValue): void {
    checkRat(amount, "debit");
    const e = this.entry(addr, id);
    e.amount = e.amount.sub(amount);
    e.lastUpdate = this.now();
  }

  /**
   * Take the whole (addr, id) balance and set it to 0 (the gateway stages a payment against it and
   * credits back what is left afterwards). Unlike go-livepeer, reserving also refreshes the entry's
   * age, so a session created by a reserve is not swept at the very next cleanup.
   */
  reserve(addr: Address, id: string): Rat {
    const e = this.entry(addr, id);
    const amount = e.amount;
    e.amount = Rat.ZERO;
    e.lastUpdate = this.now();
    return amount;
  }

  /** The (addr, id) balance, or null when there is no entry. */
  balance(addr: Address, id: string): Rat | null {
    return this.find(addr, id)?.amount ?? null;
  }

  /** The price pinned for the (addr, id) session, or null. */
  fixedPrice(addr: Address, id: string): Rat | null {
    return this.find(addr, id)?.fixedPrice ?? null;
  }

  /** Pin the session's price (go-livepeer SetFixedPrice); replaces any earlier pin. */
  setFixedPrice(addr: Address, id: string, price: RatValue): void {
    checkRat(price, "price");
    const e = this.entry(addr, id);
    e.fixedPrice = Rat.from(price);
    e.lastUpdate = this.now();
  }

  /**
   * Pin the session's price unless one is pinned already (the orchestrator's first payment of a
   * session, go-livepeer setFixedPricePerSession); returns the price in force. go-livepeer only pins
   * when the sender already has some balance entry; this pins on the first payment in every case.
   */
  pinPrice(addr: Address, id: string, price: RatValue): Rat {
    const current = this.fixedPrice(addr, id);
    if (current) return current;
    this.setFixedPrice(addr, id, price);
    return Rat.from(price);
  }

  /** Drop the (addr, id) entry (a session that ended). */
  remove(addr: Address, id: string): void {
    const sessions = this.byAddr.get(key(addr));
    sessions?.delete(id);
    if (sessions?.size === 0) this.byAddr.delete(key(addr));
  }

  /** Number of (addr, id) entries held (for status and tests). */
  get size(): number {
    let n = 0;
    for (const s of this.byAddr.values()) n += s.size;
    return n;
  }

  /** Drop entries last touched more than ttlMs ago; returns how many were dropped. */
  cleanup(): number {
    const cutoff = this.now() - this.ttlMs;
    let dropped = 0;
    for (const [addr, sessions] of this.byAddr) {
      for (const [id, e] of sessions) {
        if (e.lastUpdate < cutoff) {
          sessions.delete(id);
          dropped++;
        }
      }
      if (sessions.size === 0) this.byAddr.delete(addr);
    }
    return dropped;
  }

  /** Sweep every ttlMs until stop() or the signal aborts. */
  async start(signal: AbortSignal): Promise<void> {
    if (this.timer) return;
    this.timer = setInterval(() => this.cleanup(), this.ttlMs);
    this.timer.unref();
    signal.addEventListener("abort", () => void this.stop(), { once: true });
  }

  /** Stop the sweep; idempotent. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

/** What Balance.stageUpdate returns (go-livepeer StageUpdate's three results). */
export interface StagedUpdate {
  /** Tickets to send so that existing + newCredit covers minCredit. */
  numTickets: number;
  /** numTickets × ev. */
  newCredit: Rat;
  /** The balance taken by the reserve (to be credited back, adjusted, when the segment completes). */
  existing: Rat;
}

/** Largest ticket count StageUpdate returns; more would not fit a JS number exactly. */
const MAX_TICKETS = BigInt(Number.MAX_SAFE_INTEGER);

/** One (addr, session) balance (go-livepeer core.Balance): the gateway's view of its credit at one orchestrator. */
export class Balance {
  constructor(
    readonly addr: Address,
    readonly sessionId: string,
    private readonly balances: AddressBalances,
  ) {}

  /** Add to this balance. */
  credit(amount: RatValue): void {
    this.balances.credit(this.addr, this.sessionId, amount);
  }

  /** Subtract from this balance. */
  debit(amount: RatValue): void {
    this.balances.debit(this.addr, this.sessionId, amount);
  }

  /** The current amount, or null when there is no entry. */
  current(): Rat | null {
    return this.balances.balance(this.addr, this.sessionId);
  }

  /**
   * Reserve the balance and work out how many tickets of value `ev` make it reach `minCredit`:
   * ceil((minCredit − existing) / ev), 0 when the existing credit suffices or ev is missing or 0.
   */
  stageUpdate(minCredit: RatValue, ev: RatValue | null): StagedUpdate {
    checkRat(minCredit, "minCredit");
    if (ev) checkRat(ev, "ev");
    if (ev && ev.num < 0n) throw new LpError("INVALID_AMOUNT", "ticket EV must not be negative");
    const existing = this.balances.reserve(this.addr, this.sessionId);
    if (existing.gte(minCredit) || !ev || ev.num === 0n) {
      return { numTickets: 0, newCredit: Rat.ZERO, existing };
    }
    const n = Rat.from(minCredit).sub(existing).div(ev).ceil();
    if (n > MAX_TICKETS) {
      // Put the reserve back: refusing must not lose the credit.
      this.balances.credit(this.addr, this.sessionId, existing);
      throw new LpError("TOO_MANY_TICKETS", `payment needs ${n} tickets, more than can be sent`);
    }
    return { numTickets: Number(n), newCredit: Rat.from(ev).mul(n), existing };
  }
}
