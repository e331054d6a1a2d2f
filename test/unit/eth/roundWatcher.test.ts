import type { Address, Hex, PublicClient } from "viem";
import { describe, expect, it } from "vitest";
import { isLpError } from "../../../src/errors/LpError.js";
import type { WatchedBlock } from "../../../src/eth/BlockWatcher.js";
import type { WatchedEvent } from "../../../src/eth/events.js";
import {
  type RoundState,
  RoundWatcher,
  type RoundWatcherBlockSource,
} from "../../../src/eth/RoundWatcher.js";

const ROUNDS: Address = "0x00000000000000000000000000000000000000a0";
const BONDING: Address = "0x00000000000000000000000000000000000000b0";
const hashOf = (round: bigint): Hex => `0x${round.toString(16).padStart(64, "0")}`;

/** The RoundsManager and BondingManager views the watcher reads, as plain mutable state. */
class FakeContracts {
  currentRound = 5n;
  initialized = true;
  locked = false;
  lastInitializedRound = 5n;
  startBlock = 250n;
  poolSize = 3n;
  failing = false;
  readonly reads: { functionName: string; blockNumber?: bigint }[] = [];

  readonly readContract = async (args: {
    address: Address;
    functionName: string;
    args?: readonly unknown[];
    blockNumber?: bigint;
  }): Promise<unknown> => {
    this.reads.push({ functionName: args.functionName, blockNumber: args.blockNumber });
    if (this.failing) throw new Error("connection refused");
    expect(args.address).toBe(args.functionName === "getTranscoderPoolSize" ? BONDING : ROUNDS);
    switch (args.functionName) {
      case "currentRound":
        return this.currentRound;
      case "currentRoundInitialized":
        return this.initialized;
      case "currentRoundLocked":
        return this.locked;
      case "lastInitializedRound":
        return this.lastInitializedRound;
      case "currentRoundStartBlock":
        return this.startBlock;
      case "getTranscoderPoolSize":
        return this.poolSize;
      case "blockHashForRound":
        return (args.args![0] as bigint) <= this.lastInitializedRound
          ? hashOf(args.args![0] as bigint)
          : hashOf(0n);
      default:
        throw new Error(`unexpected ${args.functionName}`);
    }
  };

  newRound(): void {
    this.currentRound++;
    this.lastInitializedRound = this.currentRound;
    this.initialized = true;
    this.locked = false;
    this.startBlock += 50n;
  }
}

class FakeBlocks implements RoundWatcherBlockSource {
  latestBlock: WatchedBlock | null = { number: 260n, hash: hashOf(260n), l1BlockNumber: 260n };
  private readonly events = new Set<(e: WatchedEvent) => unknown>();
  private readonly blocks = new Set<(b: WatchedBlock) => unknown>();

  subscribe(handler: (e: WatchedEvent) => unknown) {
    this.events.add(handler);
    return () => this.events.delete(handler);
  }

  onBlock(handler: (b: WatchedBlock) => unknown) {
    this.blocks.add(handler);
    return () => this.blocks.delete(handler);
  }

  get listeners(): number {
    return this.events.size + this.blocks.size;
  }

  block(l1?: bigint): void {
    const number = (this.latestBlock?.number ?? 0n) + 1n;
    this.latestBlock = { number, hash: hashOf(number), l1BlockNumber: l1 ?? number };
    for (const h of this.blocks) h(this.latestBlock);
  }

  newRound(round: bigint, removed = false): void {
    const event = {
      contract: "RoundsManager",
      eventName: "NewRound",
      args: { round, blockHash: hashOf(round) },
      address: ROUNDS,
      blockNumber: this.latestBlock!.number,
      blockHash: this.latestBlock!.hash,
      transactionHash: hashOf(1n),
      transactionIndex: 0,
      logIndex: 0,
      removed,
    } as WatchedEvent;
    for (const h of this.events) h(event);
  }
}

async function started(contracts = new FakeContracts(), blocks = new FakeBlocks()) {
  const watcher = new RoundWatcher(
    { roundsManager: ROUNDS, bondingManager: BONDING },
    { client: contracts as unknown as Pick<PublicClient, "readContract">, blocks },
  );
  const changes: [RoundState, RoundState | null][] = [];
  watcher.subscribe((state, previous) => {
    changes.push([state, previous]);
  });
  await watcher.start(new AbortController().signal);
  return { watcher, contracts, blocks, changes };
}

describe("RoundWatcher", () => {
  it("reads the whole round state at start, at the watcher's latest block", async () => {
    const { watcher, contracts, changes } = await started();
    expect(watcher.state).toEqual({
      currentRound: 5n,
      initialized: true,
      locked: false,
      lastInitializedRound: 5n,
      lastInitializedBlockHash: hashOf(5n),
      preLastInitializedBlockHash: hashOf(4n),
      currentRoundStartBlock: 250n,
      transcoderPoolSize: 3n,
      lastSeenL1Block: 260n,
    });
    expect(changes).toHaveLength(1);
    expect(contracts.reads.every((r) => r.blockNumber === 260n)).toBe(true);
  });

  it("a start that cannot read the round fails with a typed error", async () => {
    const contracts = new FakeContracts();
    contracts.failing = true;
    const err = await started(contracts).catch((e: unknown) => e);
    expect(isLpError(err, "ROUND_READ_FAILED")).toBe(true);
    expect((err as Error).message).toContain("connection refused");
  });

  it("on each block re-reads only round, initialised and locked; subscribers hear of changes only", async () => {
    const { watcher, contracts, blocks, changes } = await started();
    contracts.reads.length = 0;
    blocks.block();
    await watcher.settled();
    expect(contracts.reads.map((r) => r.functionName).sort()).toEqual(
      ["currentRound", "currentRoundInitialized", "currentRoundLocked"].sort(),
    );
    expect(watcher.state.lastSeenL1Block).toBe(261n);
    expect(changes).toHaveLength(1);

    contracts.locked = true;
    blocks.block();
    await watcher.settled();
    expect(watcher.state.locked).toBe(true);
    expect(changes).toHaveLength(2);
    expect(changes[1]![1]?.locked).toBe(false);
  });

  it("a burst of blocks costs one refresh at the newest, not one per block", async () => {
    const { watcher, contracts, blocks } = await started();
    contracts.reads.length = 0;
    for (let i = 0; i < 20; i++) blocks.block(1000n + BigInt(i));
    await watcher.settled();
    expect(contracts.reads.length).toBeLessThanOrEqual(6);
    expect(contracts.reads.at(-1)?.blockNumber).toBe(280n);
    expect(watcher.state.lastSeenL1Block).toBe(1019n);
  });

  it("a NewRound log reads everything, hashes included; a removed one reads the state back", async () => {
    const { watcher, contracts, blocks, changes } = await started();
    contracts.newRound();
    blocks.newRound(6n);
    await watcher.settled();
    expect(watcher.state).toMatchObject({
      currentRound: 6n,
      lastInitializedRound: 6n,
      lastInitializedBlockHash: hashOf(6n),
      preLastInitializedBlockHash: hashOf(5n),
      currentRoundStartBlock: 300n,
    });
    expect(changes.at(-1)![1]?.lastInitializedRound).toBe(5n);

    // The reorg took the initialisation back.
    contracts.lastInitializedRound = 5n;
    contracts.initialized = false;
    contracts.startBlock = 300n;
    blocks.newRound(6n, true);
    await watcher.settled();
    expect(watcher.state).toMatchObject({
      currentRound: 6n,
      initialized: false,
      lastInitializedRound: 5n,
      lastInitializedBlockHash: hashOf(5n),
    });
  });

  it("a round initialised without a NewRound log seen is still picked up on the next block", async () => {
    const { watcher, contracts, blocks } = await started();
    contracts.newRound();
    blocks.block();
    await watcher.settled();
    expect(watcher.state).toMatchObject({ lastInitializedRound: 6n, lastInitializedBlockHash: hashOf(6n) });
  });

  it("read failures keep the last state and are retried, the full read included", async () => {
    const { watcher, contracts, blocks } = await started();
    contracts.failing = true;
    contracts.newRound();
    blocks.newRound(6n);
    await watcher.settled();
    expect(watcher.state.lastInitializedRound).toBe(5n);
    contracts.failing = false;
    contracts.reads.length = 0;
    blocks.block();
    await watcher.settled();
    expect(contracts.reads.map((r) => r.functionName)).toContain("blockHashForRound");
    expect(watcher.state).toMatchObject({ lastInitializedRound: 6n, lastInitializedBlockHash: hashOf(6n) });
  });

  it("stop unsubscribes from the block watcher", async () => {
    const { watcher, blocks } = await started();
    expect(blocks.listeners).toBe(2);
    await watcher.stop();
    await watcher.stop();
    expect(blocks.listeners).toBe(0);
  });
});
