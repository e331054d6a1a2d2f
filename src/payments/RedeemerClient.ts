import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { type Address, getAddress, type Hash, hexToBytes } from "viem";
import { errorMessage } from "../errors/LpError.js";
import { type Logger, silentLogger } from "../logger/logger.js";
import type { Service } from "../node/Service.js";
import type { NodeStatus } from "../node/status.js";
import { TicketRedeemer } from "../protocol/gen/redeemer_pb.js";
import { closeDatabase, openDatabase, type SqliteDb } from "../storage/db.js";
import { type Clock, type ClockTimer, systemClock } from "../utils/clock.js";
import { countsView } from "./localRedemption.js";
import { Outbox } from "./Outbox.js";
import { toWireTicket } from "./redeemerTicket.js";
import { bytesToBigint } from "./ticket.js";
import type { SignedTicket } from "./types.js";

/** go-livepeer's GRPCConnectTimeout: how long the first connection to the redeemer may take. */
export const REDEEMER_CONNECT_TIMEOUT_MS = 3_000;
/** go-livepeer's GRPCTimeout: each QueueTicket and MaxFloat call. */
export const REDEEMER_CALL_TIMEOUT_MS = 8_000;
/** go-livepeer's cleanupLoopTime: max floats unused this long are dropped, and how often that is checked. */
export const MAX_FLOAT_CACHE_TTL_MS = 5 * 60_000;
/**
 * Max floats cached (each with its MonitorMaxFloat stream) at most: the redeemer's default
 * per-client stream limit, so the orchestrator never asks for streams it would be refused.
 */
export const DEFAULT_MAX_CACHED_SENDERS = 1024;
/** First wait before handing the outbox over again after a failure; doubled per failure. */
export const DEFAULT_OUTBOX_INITIAL_BACKOFF_MS = 1_000;
/** Longest wait between hand-over attempts while the redeemer is down. */
export const DEFAULT_OUTBOX_MAX_BACKOFF_MS = 30_000;

/** Options of {@link RedeemerClient}. */
export interface RedeemerClientOptions {
  /** The redeemer's URL, https://host:port (-redeemerAddr, default port 8935). */
  url: string;
  /** The orchestrator's data folder: the outbox lives in its SQLite database. */
  datadir: string;
  connectTimeoutMs?: number;
  callTimeoutMs?: number;
  cacheTtlMs?: number;
  /** Max floats cached at most (DEFAULT_MAX_CACHED_SENDERS); the least recently used goes first. */
  maxCachedSenders?: number;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

interface CacheEntry {
  value: bigint;
  lastAccess: number;
  abort: AbortController;
}

/** gRPC codes after which handing the same ticket over again cannot succeed. */
const REFUSALS = new Set([Code.PermissionDenied, Code.InvalidArgument]);

/**
 * The orchestrator's side of a remote redeemer (go-livepeer server/redeemer.go RedeemerClient):
 * winning tickets go to the redeemer's QueueTicket through a durable outbox, and each sender's
 * max float comes from its MaxFloat, cached and kept fresh by a MonitorMaxFloat stream, dropped
 * when the stream fails and after 5 minutes unused. Unlike go-livepeer, a redeemer that is down
 * loses no ticket (they wait in the outbox and are delivered when it returns) and does not stop
 * the orchestrator: the max float then falls back to what the caller computes locally. A max
 * float of 0 (a sender with no funds, or a made-up address) is not cached and opens no stream, and
 * the cache is bounded, so gateways the orchestrator quotes cannot pile up streams on the redeemer.
 */
export class RedeemerClient implements Service {
  readonly name = "redeemer-client";
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly cache = new Map<Address, CacheEntry>();
  private readonly fetching = new Map<Address, Promise<bigint>>();
  private db: SqliteDb | null = null;
  private outbox: Outbox | null = null;
  private session: Http2SessionManager | null = null;
  private client: Client<typeof TicketRedeemer> | null = null;
  private abort = new AbortController();
  private cleanupTimer: ClockTimer | null = null;
  private retryTimer: ClockTimer | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private failures = 0;
  private reachable: boolean | null = null;
  private fallbackWarned = false;

  constructor(
    private readonly options: RedeemerClientOptions,
    deps: { logger?: Logger; clock?: Clock } = {},
  ) {
    this.clock = deps.clock ?? systemClock;
    this.log = (deps.logger ?? silentLogger()).child({ module: "redeemer-client" });
  }

  /** Opens the outbox, connects (without waiting past the connect timeout) and hands over what is waiting. */
  async start(signal: AbortSignal): Promise<void> {
    if (this.client) return;
    this.abort = new AbortController();
    const db = openDatabase(this.options.datadir);
    try {
      this.outbox = Outbox.open(db);
    } catch (err) {
      closeDatabase(db);
      throw err;
    }
    this.db = db;
    // Redeemers use a fresh self-signed certificate at every start: never verified (go-livepeer's InsecureSkipVerify).
    this.session = new Http2SessionManager(this.options.url, {}, { rejectUnauthorized: false });
    const session = this.session;
    this.client = createClient(
      TicketRedeemer,
      createGrpcTransport({ baseUrl: this.options.url, sessionManager: session }),
    );
    const every = this.options.cacheTtlMs ?? MAX_FLOAT_CACHE_TTL_MS;
    this.cleanupTimer = this.clock.setInterval(() => this.cleanup(), every);
    this.cleanupTimer.unref?.();
    signal.addEventListener("abort", () => void this.stop(), { once: true });
    let timer: NodeJS.Timeout | undefined;
    const connected = await Promise.race([
      session.connect(),
      new Promise<"timeout">((done) => {
        timer = setTimeout(
          () => done("timeout"),
          this.options.connectTimeoutMs ?? REDEEMER_CONNECT_TIMEOUT_MS,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    // Stopped while connecting.
    if (!this.outbox) return;
    this.reachable = connected === "open" || connected === "idle";
    const pending = this.outbox.stats().pending.count;
    if (this.reachable)
      this.log.info({ redeemer: this.options.url, outbox: pending }, "connected to the redeemer");
    else
      this.log.warn(
        { redeemer: this.options.url, outbox: pending },
        "redeemer unreachable; winning tickets wait in the outbox until it answers",
      );
    this.kick();
  }

  /** Closes the streams and the connection; tickets not handed over stay in the outbox. Idempotent. */
  async stop(): Promise<void> {
    if (!this.client) return;
    this.client = null;
    this.abort.abort();
    for (const e of this.cache.values()) e.abort.abort();
    this.cache.clear();
    if (this.cleanupTimer !== null) this.clock.clearInterval(this.cleanupTimer);
    if (this.retryTimer !== null) this.clock.clearTimeout(this.retryTimer);
    this.cleanupTimer = null;
    this.retryTimer = null;
    await this.running?.catch(() => undefined);
    this.session?.abort();
    this.session = null;
    if (this.db) closeDatabase(this.db);
    this.db = null;
    this.outbox = null;
  }

  /**
   * Commits a winning ticket to the outbox (resolved once it is durable: the payment may be
   * acknowledged after this) and hands it to the redeemer in the background.
   */
  async add(ticket: SignedTicket): Promise<{ hash: Hash; inserted: boolean }> {
    if (!this.outbox) throw new Error("the redeemer client has not started");
    const result = this.outbox.add(ticket);
    if (result.inserted) this.kick();
    return result;
  }

  /**
   * The sender's max float from the redeemer: cached, else one MaxFloat call, after which a
   * MonitorMaxFloat stream keeps the cache fresh. With the redeemer unreachable, `fallback` (the
   * orchestrator's own estimate) answers if given; otherwise the error is thrown.
   */
  async maxFloat(sender: Address, fallback?: () => Promise<bigint>): Promise<bigint> {
    const key = getAddress(sender);
    const hit = this.cache.get(key);
    if (hit) {
      hit.lastAccess = this.clock.now();
      // Map order is the LRU order: most recently used last.
      this.cache.delete(key);
      this.cache.set(key, hit);
      return hit.value;
    }
    let load = this.fetching.get(key);
    if (!load) {
      load = this.fetchMaxFloat(key).finally(() => this.fetching.delete(key));
      this.fetching.set(key, load);
    }
    try {
      const value = await load;
      this.fallbackWarned = false;
      return value;
    } catch (err) {
      if (!fallback) throw err;
      if (!this.fallbackWarned) {
        this.fallbackWarned = true;
        this.log.warn(
          { sender: key, err: errorMessage(err) },
          "max float from the redeemer unavailable; using the orchestrator's own estimate",
        );
      }
      return fallback();
    }
  }

  /** Senders whose max float is cached now (tests, /status). */
  cachedSenders(): Address[] {
    return [...this.cache.keys()];
  }

  /** Drops max floats unused for the cache TTL and closes their streams (go-livepeer's cleanup loop). */
  cleanup(): void {
    const ttl = this.options.cacheTtlMs ?? MAX_FLOAT_CACHE_TTL_MS;
    const now = this.clock.now();
    for (const [key, e] of this.cache) {
      if (now - e.lastAccess >= ttl) {
        this.cache.delete(key);
        e.abort.abort();
        this.log.debug({ sender: key }, "max float unused: dropped");
      }
    }
  }

  /** Resolves when no hand-over pass is running (tests). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** The outbox's counts (tests, /status). */
  outboxStats() {
    if (!this.outbox) throw new Error("the redeemer client has not started");
    return this.outbox.stats();
  }

  /** /status: the redeemer's address, whether it answered last, the outbox and the cached max floats. */
  status(s: NodeStatus): void {
    const outbox = this.outbox?.stats();
    s["Redeemer"] = {
      Addr: this.options.url,
      Reachable: this.reachable,
      Outbox: outbox
        ? {
            Pending: countsView(outbox.pending),
            Refused: countsView(outbox.refused),
            Delivered: countsView(outbox.delivered),
          }
        : null,
      MaxFloatSenders: this.cache.size,
    };
  }

  private callTimeout(): number {
    return this.options.callTimeoutMs ?? REDEEMER_CALL_TIMEOUT_MS;
  }

  private async fetchMaxFloat(key: Address): Promise<bigint> {
    const client = this.client;
    if (!client) throw new Error("the redeemer client has not started");
    const res = await client.maxFloat(
      { sender: hexToBytes(key) },
      { timeoutMs: this.callTimeout(), signal: this.abort.signal },
    );
    this.reachable = true;
    const value = bytesToBigint(res.maxFloat);
    if (value === 0n || !this.client) return value;
    const entry: CacheEntry = { value, lastAccess: this.clock.now(), abort: new AbortController() };
    this.cache.get(key)?.abort.abort();
    this.cache.delete(key);
    const max = this.options.maxCachedSenders ?? DEFAULT_MAX_CACHED_SENDERS;
    for (const [old, e] of this.cache) {
      if (this.cache.size < max) break;
      this.cache.delete(old);
      e.abort.abort();
    }
    this.cache.set(key, entry);
    void this.follow(client, key, entry);
    return entry.value;
  }

  /** Keeps one cached max float fresh from MonitorMaxFloat; any end of the stream drops the entry. */
  private async follow(
    client: Client<typeof TicketRedeemer>,
    key: Address,
    entry: CacheEntry,
  ): Promise<void> {
    let why = "stream ended";
    try {
      for await (const update of client.monitorMaxFloat(
        { sender: hexToBytes(key) },
        { signal: entry.abort.signal },
      )) {
        entry.value = bytesToBigint(update.maxFloat);
      }
    } catch (err) {
      why = errorMessage(err);
    }
    if (this.cache.get(key) === entry) {
      this.cache.delete(key);
      if (!entry.abort.signal.aborted)
        this.log.info({ sender: key, err: why }, "max float stream from the redeemer ended; cache dropped");
    }
  }

  /** Asks for a hand-over pass; passes never overlap. */
  private kick(): void {
    if (!this.client) return;
    this.again = true;
    if (this.running) return;
    this.running = this.loop();
  }

  private async loop(): Promise<void> {
    while (this.again && this.client) {
      this.again = false;
      try {
        await this.pass();
      } catch (err) {
        this.log.error({ err: errorMessage(err) }, "outbox pass failed");
      }
    }
    this.running = null;
  }

  /** Hands pending tickets over in order; the first failure that may pass ends the pass and schedules a retry. */
  private async pass(): Promise<void> {
    const outbox = this.outbox;
    const client = this.client;
    if (!outbox || !client) return;
    for (const entry of outbox.pending()) {
      if (!this.client) return;
      try {
        await client.queueTicket(toWireTicket(entry.ticket), {
          timeoutMs: this.callTimeout(),
          signal: this.abort.signal,
        });
      } catch (err) {
        if (!this.client) return;
        const e = ConnectError.from(err);
        if (REFUSALS.has(e.code)) {
          outbox.refused(entry.hash, e.rawMessage);
          this.log.error(
            { ticket: entry.hash, sender: entry.ticket.sender, code: Code[e.code], err: e.rawMessage },
            "the redeemer refused a winning ticket; it stays in the outbox, not retried",
          );
          continue;
        }
        outbox.failed(entry.hash, e.rawMessage);
        this.reachable = false;
        this.retryLater(entry.hash, e);
        return;
      }
      outbox.markDelivered(entry.hash, entry.ticket.faceValue);
      this.reachable = true;
      if (this.failures > 0) this.log.info({ redeemer: this.options.url }, "redeemer answering again");
      this.failures = 0;
      this.log.debug(
        { ticket: entry.hash, sender: entry.ticket.sender },
        "winning ticket handed to the redeemer",
      );
    }
  }

  private retryLater(hash: Hash, err: ConnectError): void {
    this.failures++;
    const initial = this.options.initialBackoffMs ?? DEFAULT_OUTBOX_INITIAL_BACKOFF_MS;
    const max = this.options.maxBackoffMs ?? DEFAULT_OUTBOX_MAX_BACKOFF_MS;
    const delay = Math.min(max, initial * 2 ** Math.min(this.failures - 1, 30));
    const pending = this.outbox?.stats().pending.count ?? 0;
    // One warning when the outage starts; then quieter, since every retry would say the same.
    const level = this.failures === 1 ? "warn" : "debug";
    this.log[level](
      { ticket: hash, code: Code[err.code], err: err.rawMessage, outbox: pending, retryInMs: delay },
      "cannot hand winning tickets to the redeemer; kept in the outbox",
    );
    if (this.retryTimer !== null) this.clock.clearTimeout(this.retryTimer);
    this.retryTimer = this.clock.setTimeout(() => {
      this.retryTimer = null;
      this.kick();
    }, delay);
    this.retryTimer.unref?.();
  }
}
