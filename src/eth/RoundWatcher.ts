import type { Address, Hex, PublicClient } from "viem";
import { errorMessage, LpError } from "../errors/LpError.js";
import { type Logger, silentLogger } from "../logger/logger.js";
import type { Service } from "../node/Service.js";
import { bondingManagerAbi, roundsManagerAbi } from "./abis.js";
import type { WatchedBlock } from "./BlockWatcher.js";
import type { WatchedEvent } from "./events.js";

/** What the node knows of the protocol round (go-livepeer's TimeWatcher state). */
export interface RoundState {
  /** RoundsManager.currentRound(): moves with blocks, initialised or not. */
  currentRound: bigint;
  /** Whether currentRound has been initialised (initializeRound called for it). */
  initialized: boolean;
  /** Whether currentRound is in its lock window (no transcoder() changes). */
  locked: boolean;
  /** RoundsManager.lastInitializedRound(): the round tickets are created in. */
  lastInitializedRound: bigint;
  /** blockHashForRound(lastInitializedRound): the block hash tickets carry in auxData. */
  lastInitializedBlockHash: Hex;
  /** blockHashForRound(lastInitializedRound - 1), for tickets made just before a new round. */
  preLastInitializedBlockHash: Hex;
  /** currentRoundStartBlock(), an L1 block number on Arbitrum. */
  currentRoundStartBlock: bigint;
  /** BondingManager.getTranscoderPoolSize(), read at each new round (reserve allocation). */
  transcoderPoolSize: bigint;
  /** The newest (L1) block number the watcher has seen. */
  lastSeenL1Block: bigint;
}

/** The parts of the block watcher the round watcher listens to. */
export interface RoundWatcherBlockSource {
  subscribe(handler: (event: WatchedEvent) => unknown): () => void;
  onBlock(handler: (block: WatchedBlock) => unknown): () => void;
  readonly latestBlock: WatchedBlock | null;
}

/** Options of the round watcher. */
export interface RoundWatcherOptions {
  roundsManager: Address;
  bondingManager: Address;
}

/** Collaborators of the round watcher. */
export interface RoundWatcherDeps {
  client: Pick<PublicClient, "readContract">;
  blocks: RoundWatcherBlockSource;
  logger?: Logger;
}

const ZERO_HASH = `0x${"0".repeat(64)}` as Hex;

/**
 * Follows the protocol round: reads it all at start, re-reads the cheap per-block values
 * (current round, initialised, locked) on each new block and everything on NewRound logs
 * (added or removed by a reorg). Subscribers hear of each change. Mirrors go-livepeer's
 * eth/watchers/timewatcher.go.
 */
export class RoundWatcher implements Service {
  readonly name = "roundWatcher";
  private readonly client: Pick<PublicClient, "readContract">;
  private readonly blocks: RoundWatcherBlockSource;
  private readonly log: Logger;
  private current: RoundState | null = null;
  private readonly handlers = new Set<(state: RoundState, previous: RoundState | null) => unknown>();
  private unsubscribe: (() => void)[] = [];
  private queue: Promise<void> = Promise.resolve();
  private fullRefreshDue = false;
  private refreshQueued = false;
  private stopped = false;

  constructor(
    private readonly options: RoundWatcherOptions,
    deps: RoundWatcherDeps,
  ) {
    this.client = deps.client;
    this.blocks = deps.blocks;
    this.log = (deps.logger ?? silentLogger()).child({ module: "roundwatcher" });
  }

  /** The round state; throws before start() has read it. */
  get state(): RoundState {
    if (!this.current) throw new LpError("ROUND_UNKNOWN", "the round watcher has not read the round yet");
    return this.current;
  }

  /** Subscribe to round state changes; returns the unsubscribe function. */
  subscribe(handler: (state: RoundState, previous: RoundState | null) => unknown): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  /** Read the round state (a failure stops the start: the node cannot price or pay without it), then follow the chain. */
  async start(signal: AbortSignal): Promise<void> {
    if (this.current || this.stopped) return;
    const block = this.blocks.latestBlock;
    try {
      this.apply(await this.readAll(block));
    } catch (err) {
      throw new LpError("ROUND_READ_FAILED", `could not read the current round: ${errorMessage(err)}`, {
        cause: err,
      });
    }
    this.unsubscribe.push(
      this.blocks.subscribe((event) => {
        if (event.contract !== "RoundsManager" || event.eventName !== "NewRound") return;
        this.log.info(
          { round: event.args.round, removed: event.removed, block: event.blockNumber },
          event.removed ? "NewRound undone by a reorg" : "new round",
        );
        this.fullRefreshDue = true;
        this.enqueue();
      }),
      this.blocks.onBlock(() => this.enqueue()),
    );
    signal.addEventListener("abort", () => void this.stop(), { once: true });
  }

  /** Stop following the chain; idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const off of this.unsubscribe) off();
    this.unsubscribe = [];
    await this.queue;
  }

  /** Resolves once the refreshes queued so far are done (tests, and callers needing fresh state). */
  settled(): Promise<void> {
    return this.queue;
  }

  private enqueue(): void {
    // A refresh reads at the newest block when it runs, so one waiting refresh covers any
    // number of blocks that arrive meanwhile (Arbitrum brings ~20 per poll).
    if (this.refreshQueued) return;
    this.refreshQueued = true;
    this.queue = this.queue.then(() => {
      this.refreshQueued = false;
      return this.refresh();
    });
  }

  private async refresh(): Promise<void> {
    if (this.stopped || !this.current) return;
    const block = this.blocks.latestBlock;
    const full = this.fullRefreshDue;
    this.fullRefreshDue = false;
    try {
      if (full) {
        this.apply(await this.readAll(block));
        return;
      }
      const at = block ? { blockNumber: block.number } : {};
      const [currentRound, initialized, locked] = await Promise.all([
        this.readRounds("currentRound", at),
        this.readRounds("currentRoundInitialized", at),
        this.readRounds("currentRoundLocked", at),
      ]);
      const prev = this.current;
      // A round boundary we did not see as a NewRound log (the watcher started mid-change, or
      // logs were missed): read everything, the round's block hash included.
      if (initialized && currentRound !== prev.lastInitializedRound) {
        this.apply(await this.readAll(block));
        return;
      }
      this.apply({
        ...prev,
        currentRound,
        initialized,
        locked,
        lastSeenL1Block: block?.l1BlockNumber ?? prev.lastSeenL1Block,
      });
    } catch (err) {
      // Keep the last good state; the next block or NewRound reads again.
      if (full) this.fullRefreshDue = true;
      this.log.warn({ err: errorMessage(err) }, "reading the round failed");
    }
  }

  private async readAll(block: WatchedBlock | null): Promise<RoundState> {
    // Every value is read at the same block so that the state is one consistent snapshot.
    const at = block ? { blockNumber: block.number } : {};
    const [currentRound, initialized, locked, lastInitializedRound, currentRoundStartBlock, poolSize] =
      await Promise.all([
        this.readRounds("currentRound", at),
        this.readRounds("currentRoundInitialized", at),
        this.readRounds("currentRoundLocked", at),
        this.readRounds("lastInitializedRound", at),
        this.readRounds("currentRoundStartBlock", at),
        this.client.readContract({
          address: this.options.bondingManager,
          abi: bondingManagerAbi,
          functionName: "getTranscoderPoolSize",
          ...at,
        }),
      ]);
    const hashFor = (round: bigint) =>
      round < 0n
        ? Promise.resolve(ZERO_HASH)
        : this.client.readContract({
            address: this.options.roundsManager,
            abi: roundsManagerAbi,
            functionName: "blockHashForRound",
            args: [round],
            ...at,
          });
    const [lastHash, preLastHash] = await Promise.all([
      hashFor(lastInitializedRound),
      hashFor(lastInitializedRound - 1n),
    ]);
    return {
      currentRound,
      initialized,
      locked,
      lastInitializedRound,
      lastInitializedBlockHash: lastHash,
      preLastInitializedBlockHash: preLastHash,
      currentRoundStartBlock,
      transcoderPoolSize: poolSize,
      lastSeenL1Block: block?.l1BlockNumber ?? this.current?.lastSeenL1Block ?? 0n,
    };
  }

  private readRounds<
    F extends
      | "currentRound"
      | "currentRoundInitialized"
      | "currentRoundLocked"
      | "lastInitializedRound"
      | "currentRoundStartBlock",
  >(functionName: F, at: { blockNumber?: bigint }) {
    return this.client.readContract({
      address: this.options.roundsManager,
      abi: roundsManagerAbi,
      functionName,
      ...at,
    });
  }

  private apply(next: RoundState): void {
    const prev = this.current;
    this.current = next;
    if (prev && sameRound(prev, next)) return;
    if (!prev || prev.lastInitializedRound !== next.lastInitializedRound) {
      this.log.info(
        { round: next.lastInitializedRound, startBlock: next.currentRoundStartBlock },
        "last initialised round",
      );
    }
    for (const handler of [...this.handlers]) {
      try {
        const result = handler(next, prev);
        if (result instanceof Promise) {
          result.catch((err: unknown) =>
            this.log.error({ err: errorMessage(err) }, "round subscriber failed"),
          );
        }
      } catch (err) {
        this.log.error({ err: errorMessage(err) }, "round subscriber failed");
      }
    }
  }
}

/** Equal in everything but lastSeenL1Block, which moves every block and is not a round change. */
function sameRound(a: RoundState, b: RoundState): boolean {
  return (
    a.currentRound === b.currentRound &&
    a.initialized === b.initialized &&
    a.locked === b.locked &&
    a.lastInitializedRound === b.lastInitializedRound &&
    a.lastInitializedBlockHash === b.lastInitializedBlockHash &&
    a.preLastInitializedBlockHash === b.preLastInitializedBlockHash &&
    a.currentRoundStartBlock === b.currentRoundStartBlock &&
    a.transcoderPoolSize === b.transcoderPoolSize
  );
}
