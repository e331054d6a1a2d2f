import type { Hex, PublicClient } from "viem";
import { errorMessage } from "../errors/LpError.js";
import { type Logger, silentLogger } from "../logger/logger.js";
import type { Service } from "../node/Service.js";
import { type Clock, type ClockTimer, systemClock } from "../utils/clock.js";
import {
  createLogDecoder,
  type EventDecoder,
  type RawLog,
  WATCHED_TOPICS,
  type WatchedAddresses,
  type WatchedEvent,
} from "./events.js";
import { MemoryWatchStore, type StoredBlock, type WatchStore } from "./watchStore.js";

/** go-livepeer's -blockPollingInterval default (seconds). */
export const DEFAULT_BLOCK_POLLING_INTERVAL_S = 5;
/** Blocks kept to detect and undo reorgs (go-livepeer's blockwatch retention limit). */
export const BLOCK_RETENTION = 20;
/** Widest block range asked of eth_getLogs in one call while backfilling. */
export const DEFAULT_MAX_BLOCKS_PER_QUERY = 1000;
/** Longest wait between two polls while the RPC keeps failing. */
export const DEFAULT_MAX_BACKOFF_MS = 60_000;

/** A canonical block as subscribers see it. */
export interface WatchedBlock {
  number: bigint;
  hash: Hex;
  /** The L1 block number the chain reports (Arbitrum's `l1BlockNumber`), or `number` where there is none. */
  l1BlockNumber: bigint;
}

/** Options of the block watcher. */
export interface BlockWatcherOptions {
  /** The contracts whose logs are decoded; logs of other addresses are dropped. */
  addresses: WatchedAddresses;
  /** Time between polls of the chain head (-blockPollingInterval × 1000); default 5000. */
  pollingIntervalMs?: number;
  /** Blocks kept to walk back a reorg; default 20. */
  retention?: number;
  /** Widest eth_getLogs range while backfilling; default 1000 (halved after a failed range call). */
  maxBlocksPerQuery?: number;
  /** Cap of the backoff after failed polls; default 60 s. */
  maxBackoffMs?: number;
}

/** Collaborators of the block watcher. */
export interface BlockWatcherDeps {
  /** The chain's RPC, through viem (only `request` is used, so raw block fields such as l1BlockNumber survive). */
  client: Pick<PublicClient, "request">;
  /** Where the retained blocks survive restarts; in memory when absent. */
  store?: WatchStore | null;
  clock?: Clock;
  logger?: Logger;
}

type Request = (args: { method: string; params?: unknown[] }) => Promise<unknown>;

interface Header {
  number: bigint;
  hash: Hex;
  parentHash: Hex;
  l1BlockNumber: bigint | null;
}

interface Retained extends Header {
  logs: RawLog[];
}

const HEX = /^0x[0-9a-fA-F]*$/;
const isHex = (v: unknown): v is Hex => typeof v === "string" && HEX.test(v);
const toQuantity = (n: bigint): Hex => `0x${n.toString(16)}`;
// Bounds one poll's loop, so a node that keeps answering inconsistently cannot spin it forever.
const MAX_STEPS_PER_POLL = 10_000;
// Polls in a row with the head below all retained blocks before the watcher believes the chain
// was reset rather than served by a lagging node.
const BEHIND_POLLS_BEFORE_RESET = 3;

function parseHeader(raw: unknown): Header | null {
  if (raw === null) return null;
  if (typeof raw !== "object") throw new Error("malformed block from the RPC");
  const b = raw as Record<string, unknown>;
  if (!isHex(b.number) || !isHex(b.hash) || !isHex(b.parentHash) || b.hash.length !== 66) {
    throw new Error("malformed block from the RPC");
  }
  return {
    number: BigInt(b.number),
    hash: b.hash.toLowerCase() as Hex,
    parentHash: b.parentHash.toLowerCase() as Hex,
    l1BlockNumber: isHex(b.l1BlockNumber) && b.l1BlockNumber.length > 2 ? BigInt(b.l1BlockNumber) : null,
  };
}

function isRawLog(v: unknown): v is RawLog {
  if (typeof v !== "object" || v === null) return false;
  const l = v as Record<string, unknown>;
  return (
    isHex(l.address) &&
    isHex(l.data) &&
    isHex(l.blockNumber) &&
    isHex(l.blockHash) &&
    isHex(l.transactionHash) &&
    isHex(l.transactionIndex) &&
    isHex(l.logIndex) &&
    Array.isArray(l.topics) &&
    l.topics.length > 0 &&
    l.topics.every(isHex)
  );
}

function toStored(b: Retained): StoredBlock {
  const stored: StoredBlock = {
    number: toQuantity(b.number),
    hash: b.hash,
    parentHash: b.parentHash,
    logs: b.logs,
  };
  if (b.l1BlockNumber !== null) stored.l1BlockNumber = toQuantity(b.l1BlockNumber);
  return stored;
}

function fromStored(b: StoredBlock): Retained {
  return {
    number: BigInt(b.number),
    hash: b.hash.toLowerCase() as Hex,
    parentHash: b.parentHash.toLowerCase() as Hex,
    l1BlockNumber: b.l1BlockNumber === undefined ? null : BigInt(b.l1BlockNumber),
    logs: b.logs,
  };
}

const byPosition = (a: RawLog, b: RawLog) => {
  const block = BigInt(a.blockNumber) - BigInt(b.blockNumber);
  return block !== 0n ? (block < 0n ? -1 : 1) : Number(BigInt(a.logIndex) - BigInt(b.logIndex));
};

/**
 * Follows the chain head by polling, keeps the last blocks to detect reorgs by parent hash, and
 * delivers the decoded logs of the 13 watched events (removed ones on a reorg) and each new block
 * to subscribers. Mirrors go-livepeer's eth/blockwatch and the log fetching of eth/watchers.
 * RPC failures are logged and retried with backoff; nothing here throws into the node.
 */
export class BlockWatcher implements Service {
  readonly name = "blockWatcher";
  private readonly request: Request;
  private readonly store: WatchStore;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly decode: EventDecoder;
  private readonly intervalMs: number;
  private readonly retention: number;
  private readonly maxBackoffMs: number;
  private rangeSize: number;
  private blocks: Retained[] = [];
  private readonly eventHandlers = new Set<(event: WatchedEvent) => unknown>();
  private readonly blockHandlers = new Set<(block: WatchedBlock) => unknown>();
  private readonly l1Handlers = new Set<(l1BlockNumber: bigint) => unknown>();
  private lastL1: bigint | null = null;
  private failures = 0;
  private behindPolls = 0;
  private running: Promise<boolean> = Promise.resolve(true);
  private timer: ClockTimer | null = null;
  private abort: AbortController | null = null;
  private loaded = false;

  constructor(options: BlockWatcherOptions, deps: BlockWatcherDeps) {
    this.request = deps.client.request as unknown as Request;
    this.store = deps.store ?? new MemoryWatchStore();
    this.clock = deps.clock ?? systemClock;
    this.log = (deps.logger ?? silentLogger()).child({ module: "blockwatcher" });
    this.decode = createLogDecoder(options.addresses);
    this.intervalMs = options.pollingIntervalMs ?? DEFAULT_BLOCK_POLLING_INTERVAL_S * 1000;
    this.retention = Math.max(2, options.retention ?? BLOCK_RETENTION);
    this.rangeSize = Math.max(1, options.maxBlocksPerQuery ?? DEFAULT_MAX_BLOCKS_PER_QUERY);
    this.maxBackoffMs = Math.max(this.intervalMs, options.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS);
  }

  /** Subscribe to decoded watched events, in chain order; returns the unsubscribe function. */
  subscribe(handler: (event: WatchedEvent) => unknown): () => void {
    this.eventHandlers.add(handler);
    return () => this.eventHandlers.delete(handler);
  }

  /** Subscribe to each new canonical block (also the new branch's blocks after a reorg). */
  onBlock(handler: (block: WatchedBlock) => unknown): () => void {
    this.blockHandlers.add(handler);
    return () => this.blockHandlers.delete(handler);
  }

  /** Subscribe to changes of the L1 block number (go-livepeer's SubscribeL1Blocks). */
  onL1Block(handler: (l1BlockNumber: bigint) => unknown): () => void {
    this.l1Handlers.add(handler);
    return () => this.l1Handlers.delete(handler);
  }

  /** The newest block processed, or null before the first poll. */
  get latestBlock(): WatchedBlock | null {
    const tail = this.blocks.at(-1);
    return tail ? this.toWatched(tail) : null;
  }

  /**
   * Load the retained blocks, poll once (a failure is logged, not thrown: polling goes on with
   * backoff), then keep polling until `signal` aborts or stop() is called.
   */
  async start(signal: AbortSignal): Promise<void> {
    if (this.abort) return;
    const abort = new AbortController();
    this.abort = abort;
    const onAbort = () => void this.stop();
    signal.addEventListener("abort", onAbort, { once: true });
    abort.signal.addEventListener("abort", () => signal.removeEventListener("abort", onAbort), {
      once: true,
    });
    if (signal.aborted) return this.stop();
    await this.pollNow();
  }

  /** Stop polling and wait for a poll in flight; idempotent. */
  async stop(): Promise<void> {
    const abort = this.abort;
    if (!abort || abort.signal.aborted) {
      await this.running;
      return;
    }
    abort.abort();
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  /**
   * Poll now, after any poll in flight; resolves true when the watcher caught up with the head
   * it saw, false when the RPC failed (the next poll is then scheduled with backoff).
   */
  pollNow(): Promise<boolean> {
    const next = this.running.then(() => this.pollOnce());
    this.running = next;
    return next;
  }

  /** Resolves once no poll is in flight (tests driving a manual clock). */
  async whenIdle(): Promise<void> {
    let seen: Promise<boolean>;
    do {
      seen = this.running;
      await seen;
    } while (seen !== this.running);
  }

  private async pollOnce(): Promise<boolean> {
    const signal = this.abort?.signal;
    if (!signal || signal.aborted) return false;
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = null;
    let ok = true;
    try {
      if (!this.loaded) {
        this.blocks = (await this.store.load()).map(fromStored).slice(-this.retention);
        this.loaded = true;
        const tail = this.blocks.at(-1);
        if (tail) this.log.info({ block: tail.number }, "resuming from the last processed block");
      }
      await this.sync(signal);
      if (this.failures > 0) this.log.info({ failures: this.failures }, "chain RPC answers again");
      this.failures = 0;
    } catch (err) {
      if (signal.aborted) return false;
      ok = false;
      this.failures++;
      this.log.warn({ err: errorMessage(err), failures: this.failures }, "polling the chain failed");
    }
    if (!signal.aborted) {
      const delay =
        this.failures === 0
          ? this.intervalMs
          : Math.min(this.maxBackoffMs, this.intervalMs * 2 ** Math.min(this.failures - 1, 16));
      this.timer = this.clock.setTimeout(() => void this.pollNow(), delay);
      this.timer.unref?.();
    }
    return ok;
  }

  private async sync(signal: AbortSignal): Promise<void> {
    const head = await this.fetchBlock("latest");
    if (!head) throw new Error("the RPC returned no latest block");
    let fruitlessUnwinds = 0;
    for (let step = 0; step < MAX_STEPS_PER_POLL && !signal.aborted; step++) {
      const tail = this.blocks.at(-1);
      if (!tail) {
        // First run: start at the head; events before it are history, not news.
        this.blocks = [{ ...head, logs: [] }];
        await this.persist();
        this.emitBlock(this.blocks[0]!);
        return;
      }
      if (head.number < this.blocks[0]!.number) {
        // Behind every block we hold: a lagging node behind a load balancer (wait), or a chain
        // that restarted from scratch (a devnet), which only persistence tells apart.
        if (++this.behindPolls < BEHIND_POLLS_BEFORE_RESET) return;
        this.log.warn(
          { head: head.number, last: tail.number },
          "the chain head stays behind the processed blocks: starting over from the head",
        );
        await this.dropAll();
        continue;
      }
      this.behindPolls = 0;
      if (head.number <= tail.number) {
        const same = this.blocks.find((b) => b.number === head.number);
        // An RPC behind a load balancer can answer from a node a block or two behind: not a reorg.
        if (same?.hash === head.hash) return;
        if (!(await this.unwind())) return;
        continue;
      }
      if (head.number - tail.number > BigInt(this.retention)) {
        if (!(await this.isCanonical(tail))) {
          if (!(await this.unwind()) && ++fruitlessUnwinds > 2) return;
          continue;
        }
        await this.backfill(tail, head.number - BigInt(this.retention));
        continue;
      }
      const next = await this.fetchBlock(tail.number + 1n);
      if (!next) return; // the head moved back meanwhile; the next poll sorts it out
      if (next.parentHash !== tail.hash) {
        if (!(await this.unwind()) && ++fruitlessUnwinds > 2) return;
        continue;
      }
      const logs = await this.fetchLogs({ blockHash: next.hash });
      this.blocks.push({ ...next, logs });
      if (this.blocks.length > this.retention) this.blocks.splice(0, this.blocks.length - this.retention);
      this.deliver(logs, false);
      await this.persist();
      this.emitBlock(this.blocks.at(-1)!);
      if (next.number >= head.number) return;
    }
  }

  /** Fetch logs of old (settled) blocks by range, up to `limit`, one range call at a time. */
  private async backfill(tail: Retained, limit: bigint): Promise<void> {
    const from = tail.number + 1n;
    let to = from + BigInt(this.rangeSize) - 1n;
    if (to > limit) to = limit;
    let logs: RawLog[];
    try {
      logs = await this.fetchLogs({ fromBlock: from, toBlock: to });
    } catch (err) {
      // Providers cap ranges and result counts: ask for less next time.
      if (this.rangeSize > 1) this.rangeSize = Math.max(1, Math.floor(this.rangeSize / 2));
      throw err;
    }
    const end = await this.fetchBlock(to);
    if (!end) throw new Error(`the RPC has no block ${to}`);
    const endHash = end.hash;
    // A range call cannot pin a branch: a log whose block hash disagrees with the block we then
    // read at its height came from a branch that lost meanwhile; drop the range and retry.
    if (logs.some((l) => BigInt(l.blockNumber) === to && l.blockHash.toLowerCase() !== endHash)) {
      throw new Error(`block ${to} changed during backfill`);
    }
    this.log.debug({ from, to, logs: logs.length }, "backfilled blocks");
    // Older blocks are beyond reorg reach; keep only the last one to chain the next blocks to.
    this.blocks = [{ ...end, logs: logs.filter((l) => BigInt(l.blockNumber) === to) }];
    this.deliver(logs, false);
    await this.persist();
    this.emitBlock(this.blocks[0]!);
  }

  /**
   * Walk back from the newest retained block to the newest one still canonical, drop the
   * others and deliver their logs as removed (newest first). Returns whether anything changed.
   */
  private async unwind(): Promise<boolean> {
    let keep = this.blocks.length;
    while (keep > 0) {
      if (await this.isCanonical(this.blocks[keep - 1]!)) break;
      keep--;
    }
    if (keep === this.blocks.length) return false;
    const dropped = this.blocks.slice(keep).reverse();
    let base: Retained[] = this.blocks.slice(0, keep);
    if (keep === 0) {
      // Deeper than retention: the fork point is unknown. Resume on the canonical chain just
      // before the oldest block we had; logs delivered from older blocks cannot be undone.
      const oldest = dropped.at(-1)!;
      const resume = oldest.number > 0n ? await this.fetchBlock(oldest.number - 1n) : null;
      this.log.warn({ depth: dropped.length, from: oldest.number }, "reorg deeper than the retained blocks");
      base = resume ? [{ ...resume, logs: [] }] : [];
    }
    this.log.info(
      { removedBlocks: dropped.length, fromBlock: dropped.at(-1)!.number },
      "chain reorganisation: undoing the logs of dropped blocks",
    );
    this.blocks = base;
    for (const block of dropped) this.deliver([...block.logs].reverse(), true);
    await this.persist();
    return true;
  }

  /** Undo every retained block (newest first) and forget them. */
  private async dropAll(): Promise<void> {
    const dropped = [...this.blocks].reverse();
    this.blocks = [];
    this.behindPolls = 0;
    for (const block of dropped) this.deliver([...block.logs].reverse(), true);
    await this.persist();
  }

  private async isCanonical(block: Retained): Promise<boolean> {
    const canonical = await this.fetchBlock(block.number);
    return canonical?.hash === block.hash;
  }

  private async fetchBlock(tag: bigint | "latest"): Promise<Header | null> {
    const raw = await this.rpc("eth_getBlockByNumber", [
      typeof tag === "bigint" ? toQuantity(tag) : tag,
      false,
    ]);
    return parseHeader(raw ?? null);
  }

  /**
   * One RPC call that gives up when the watcher stops, so stop() does not wait out an RPC
   * timeout, and a poll cut short changes no state (every change follows an awaited call).
   */
  private async rpc(method: string, params: unknown[]): Promise<unknown> {
    const signal = this.abort?.signal;
    if (!signal || signal.aborted) throw new Error("block watcher stopped");
    let onAbort = () => {};
    const stopped = new Promise<never>((_, reject) => {
      onAbort = () => reject(new Error("block watcher stopped"));
      signal.addEventListener("abort", onAbort, { once: true });
    });
    try {
      return await Promise.race([this.request({ method, params }), stopped]);
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }

  /** Watched logs of one block (by hash, so they match the header we hold) or of a range. */
  private async fetchLogs(
    where: { blockHash: Hex } | { fromBlock: bigint; toBlock: bigint },
  ): Promise<RawLog[]> {
    const filter =
      "blockHash" in where
        ? { blockHash: where.blockHash }
        : { fromBlock: toQuantity(where.fromBlock), toBlock: toQuantity(where.toBlock) };
    const raw = await this.rpc("eth_getLogs", [{ ...filter, topics: [WATCHED_TOPICS] }]);
    if (!Array.isArray(raw)) throw new Error("malformed eth_getLogs answer from the RPC");
    const logs = raw.filter((l): l is RawLog => {
      if (!isRawLog(l) || l.removed === true) return false;
      if ("blockHash" in where && l.blockHash.toLowerCase() !== where.blockHash) return false;
      // Keep only what some decoder claims, so the store holds just our contracts' logs.
      return this.decode(l) !== null;
    });
    return logs
      .map((l) => ({
        address: l.address,
        topics: l.topics,
        data: l.data,
        blockNumber: l.blockNumber,
        blockHash: l.blockHash.toLowerCase() as Hex,
        transactionHash: l.transactionHash,
        transactionIndex: l.transactionIndex,
        logIndex: l.logIndex,
      }))
      .sort(byPosition);
  }

  private deliver(logs: readonly RawLog[], removed: boolean): void {
    for (const raw of logs) {
      const event = this.decode({ ...raw, removed });
      if (!event) continue;
      for (const handler of [...this.eventHandlers]) this.call(handler, event, "event subscriber failed");
    }
  }

  private emitBlock(block: Retained): void {
    const watched = this.toWatched(block);
    for (const handler of [...this.blockHandlers]) this.call(handler, watched, "block subscriber failed");
    if (watched.l1BlockNumber !== this.lastL1) {
      this.lastL1 = watched.l1BlockNumber;
      for (const handler of [...this.l1Handlers]) {
        this.call(handler, watched.l1BlockNumber, "L1 block subscriber failed");
      }
    }
  }

  private call<T>(handler: (value: T) => unknown, value: T, what: string): void {
    try {
      const result = handler(value);
      if (result instanceof Promise) {
        result.catch((err: unknown) => this.log.error({ err: errorMessage(err) }, what));
      }
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, what);
    }
  }

  private toWatched(b: Header): WatchedBlock {
    return { number: b.number, hash: b.hash, l1BlockNumber: b.l1BlockNumber ?? b.number };
  }

  private async persist(): Promise<void> {
    try {
      await this.store.save(this.blocks.map(toStored));
    } catch (err) {
      // The chain state in memory is still right; a restart just backfills a little more.
      this.log.warn({ err: errorMessage(err) }, "could not save the last processed block");
    }
  }
}
