import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Address, encodeAbiParameters, encodeEventTopics, type Hex, type PublicClient } from "viem";
import { afterEach, describe, expect, it } from "vitest";
import { ticketBrokerAbi } from "../../../src/eth/abis.js";
import { BlockWatcher, type WatchedBlock } from "../../../src/eth/BlockWatcher.js";
import { type RawLog, WATCHED_TOPICS, type WatchedEvent } from "../../../src/eth/events.js";
import { JsonWatchStore, MemoryWatchStore, type WatchStore } from "../../../src/eth/watchStore.js";
import { flush, ManualClock } from "../../helpers/clock.js";
import { removeTempDirs, tempDir } from "../../helpers/tmp.js";

const BROKER: Address = "0x00000000000000000000000000000000000000b0";
const OTHER: Address = "0x00000000000000000000000000000000000000ee";
const SENDER: Address = "0x1111111111111111111111111111111111111111";
const q = (n: bigint | number): Hex => `0x${n.toString(16)}`;

interface FakeBlock {
  number: bigint;
  hash: Hex;
  parentHash: Hex;
  l1?: bigint;
  logs: RawLog[];
}

interface Call {
  method: string;
  params: unknown[];
}

/**
 * A scripted chain behind a fake JSON-RPC `request`: blocks with DepositFunded logs whose amount
 * names them, reorgs by replacing the tail, failures on demand. Blocks that left the canonical
 * chain still answer eth_getLogs by hash, as geth does.
 */
class FakeChain {
  canonical: FakeBlock[] = [];
  readonly byHash = new Map<Hex, FakeBlock>();
  readonly calls: Call[] = [];
  failing = false;
  /** While set, calls wait for it (an RPC that does not answer). */
  hang: Promise<void> | null = null;
  private salt = 0;

  constructor() {
    this.push([], undefined);
  }

  get head(): FakeBlock {
    return this.canonical.at(-1)!;
  }

  /** Mine one block per entry; each entry lists the deposit amounts it logs. */
  mine(...blocks: number[][]): void {
    for (const deposits of blocks) this.push(deposits, undefined);
  }

  /** Mine blocks that report an L1 block number. */
  mineL1(l1: number, deposits: number[] = []): void {
    this.push(deposits, BigInt(l1));
  }

  /** Drop the canonical blocks from `number` on (the next mine() builds the new branch). */
  reorgFrom(number: number): void {
    this.canonical = this.canonical.filter((b) => b.number < BigInt(number));
  }

  private push(deposits: number[], l1: bigint | undefined): void {
    const parent = this.canonical.at(-1);
    const number = parent ? parent.number + 1n : 0n;
    const hash =
      `0x${(++this.salt).toString(16).padStart(8, "0")}${number.toString(16).padStart(56, "0")}` as Hex;
    const logs: RawLog[] = [];
    for (const amount of deposits) {
      const topics = encodeEventTopics({
        abi: ticketBrokerAbi,
        eventName: "DepositFunded",
        args: { sender: SENDER },
      }) as Hex[];
      const data = encodeAbiParameters([{ type: "uint256" }], [BigInt(amount)]);
      const at = {
        blockNumber: q(number),
        blockHash: hash,
        transactionHash: hash,
        transactionIndex: "0x0" as Hex,
      };
      // The same event from another contract: the topic filter returns it, the decoder drops it.
      logs.push({ address: OTHER, topics, data, ...at, logIndex: q(logs.length) });
      logs.push({ address: BROKER, topics, data, ...at, logIndex: q(logs.length) });
    }
    const block: FakeBlock = { number, hash, parentHash: parent?.hash ?? `0x${"0".repeat(64)}`, l1, logs };
    this.canonical.push(block);
    this.byHash.set(hash, block);
  }

  readonly request = async ({ method, params = [] }: { method: string; params?: unknown[] }) => {
    this.calls.push({ method, params });
    if (this.hang) await this.hang;
    if (this.failing) throw new Error("connection refused");
    if (method === "eth_getBlockByNumber") {
      const tag = params[0] as string;
      const block = tag === "latest" ? this.head : this.canonical.find((b) => q(b.number) === tag);
      if (!block) return null;
      return {
        number: q(block.number),
        hash: block.hash,
        parentHash: block.parentHash,
        ...(block.l1 === undefined ? {} : { l1BlockNumber: q(block.l1) }),
      };
    }
    if (method === "eth_getLogs") {
      const filter = params[0] as { blockHash?: Hex; fromBlock?: Hex; toBlock?: Hex; topics: Hex[][] };
      const blocks = filter.blockHash
        ? [this.byHash.get(filter.blockHash)].filter((b) => b !== undefined)
        : this.canonical.filter(
            (b) => b.number >= BigInt(filter.fromBlock!) && b.number <= BigInt(filter.toBlock!),
          );
      return blocks
        .flatMap((b) => b.logs)
        .filter((l) => filter.topics[0]!.includes(l.topics[0]!))
        .map((l) => ({ ...l, removed: false }));
    }
    throw new Error(`unexpected method ${method}`);
  };

  logCalls(): Call[] {
    return this.calls.filter((c) => c.method === "eth_getLogs");
  }
}

interface Harness {
  chain: FakeChain;
  watcher: BlockWatcher;
  clock: ManualClock;
  events: string[];
  decoded: WatchedEvent[];
  blocks: WatchedBlock[];
  l1: bigint[];
  controller: AbortController;
}

const running: Harness[] = [];

afterEach(async () => {
  for (const h of running.splice(0)) {
    h.controller.abort();
    await h.watcher.stop();
  }
  removeTempDirs();
});

function watch(
  chain: FakeChain,
  store: WatchStore = new MemoryWatchStore(),
  options: { maxBlocksPerQuery?: number; retention?: number } = {},
): Harness {
  const clock = new ManualClock();
  const watcher = new BlockWatcher(
    { addresses: { TicketBroker: BROKER }, pollingIntervalMs: 5000, ...options },
    { client: { request: chain.request } as unknown as Pick<PublicClient, "request">, store, clock },
  );
  const h: Harness = {
    chain,
    watcher,
    clock,
    events: [],
    decoded: [],
    blocks: [],
    l1: [],
    controller: new AbortController(),
  };
  watcher.subscribe((e) => {
    h.decoded.push(e);
    if (e.contract === "TicketBroker" && e.eventName === "DepositFunded") {
      h.events.push(`${e.removed ? "-" : "+"}${e.args.amount}`);
    }
  });
  watcher.onBlock((b) => h.blocks.push(b));
  watcher.onL1Block((n) => h.l1.push(n));
  running.push(h);
  return h;
}

describe("BlockWatcher", () => {
  it("starts at the head, then delivers new blocks' logs decoded and in order, with a topic-only filter", async () => {
    const chain = new FakeChain();
    chain.mine([1], [2]);
    const h = watch(chain);
    await h.watcher.start(h.controller.signal);
    // The head's own logs are history: watching begins after it.
    expect(h.events).toEqual([]);
    expect(h.blocks.map((b) => b.number)).toEqual([2n]);

    chain.mine([3, 4], [], [5]);
    await h.watcher.pollNow();
    expect(h.events).toEqual(["+3", "+4", "+5"]);
    expect(h.decoded.every((e) => e.address === BROKER && !e.removed)).toBe(true);
    expect(h.decoded[0]).toMatchObject({ blockNumber: 3n, blockHash: chain.canonical[3]!.hash, logIndex: 1 });
    expect(h.blocks.map((b) => b.number)).toEqual([2n, 3n, 4n, 5n]);
    expect(h.watcher.latestBlock?.hash).toBe(chain.head.hash);
    for (const call of chain.logCalls()) {
      const filter = call.params[0] as Record<string, unknown>;
      expect(filter).not.toHaveProperty("address");
      expect(filter.topics).toEqual([WATCHED_TOPICS]);
    }
  });

  it("polls every interval on its clock", async () => {
    const chain = new FakeChain();
    const h = watch(chain);
    await h.watcher.start(h.controller.signal);
    chain.mine([7]);
    await h.clock.advance(4999);
    await h.watcher.whenIdle();
    expect(h.events).toEqual([]);
    await h.clock.advance(1);
    await h.watcher.whenIdle();
    expect(h.events).toEqual(["+7"]);
  });

  it("on a reorg, walks back by parent hash: removed logs of dropped blocks (newest first), then the new branch", async () => {
    const chain = new FakeChain();
    const h = watch(chain);
    await h.watcher.start(h.controller.signal);
    chain.mine([1], [2], [3, 4], [5]);
    await h.watcher.pollNow();
    expect(h.events).toEqual(["+1", "+2", "+3", "+4", "+5"]);
    h.events.length = 0;
    h.blocks.length = 0;

    // Blocks 3 and 4 are replaced by a longer branch 3', 4', 5'.
    chain.reorgFrom(3);
    chain.mine([30], [], [50]);
    await h.watcher.pollNow();
    expect(h.events).toEqual(["-5", "-4", "-3", "+30", "+50"]);
    const removed = h.decoded.filter((e) => e.removed);
    expect(removed.map((e) => e.blockNumber)).toEqual([4n, 3n, 3n]);
    expect(h.blocks.map((b) => [b.number, b.hash])).toEqual(
      chain.canonical.slice(3).map((b) => [b.number, b.hash]),
    );
    expect(h.watcher.latestBlock?.hash).toBe(chain.head.hash);
  });

  it("a reorg to a head at the same height or lower is undone too", async () => {
    const chain = new FakeChain();
    const h = watch(chain);
    await h.watcher.start(h.controller.signal);
    chain.mine([1], [2], [3]);
    await h.watcher.pollNow();
    h.events.length = 0;

    chain.reorgFrom(2);
    chain.mine([20]);
    await h.watcher.pollNow();
    expect(h.events).toEqual(["-3", "-2", "+20"]);
    expect(h.watcher.latestBlock?.hash).toBe(chain.head.hash);

    // Same height, different hash: not "nothing new".
    h.events.length = 0;
    chain.reorgFrom(2);
    chain.mine([21]);
    await h.watcher.pollNow();
    expect(h.events).toEqual(["-20", "+21"]);
  });

  it("a head that lags behind (another node behind a load balancer) is not a reorg", async () => {
    const chain = new FakeChain();
    const h = watch(chain);
    await h.watcher.start(h.controller.signal);
    chain.mine([1], [2]);
    await h.watcher.pollNow();
    const ahead = chain.canonical;
    chain.canonical = ahead.slice(0, -1);
    await h.watcher.pollNow();
    chain.canonical = ahead;
    await h.watcher.pollNow();
    expect(h.events).toEqual(["+1", "+2"]);
  });

  it("a reorg deeper than the retained blocks resumes on the new chain and warns", async () => {
    const chain = new FakeChain();
    const h = watch(chain, new MemoryWatchStore(), { retention: 3 });
    await h.watcher.start(h.controller.signal);
    chain.mine([1], [2], [3], [4], [5]);
    await h.watcher.pollNow();
    h.events.length = 0;
    chain.reorgFrom(1);
    chain.mine([10], [20], [30], [40], [50], [60]);
    await h.watcher.pollNow();
    // Only the retained blocks (3, 4, 5) can be undone; the watcher then follows the new branch.
    expect(h.events.filter((e) => e.startsWith("-"))).toEqual(["-5", "-4", "-3"]);
    expect(h.events.filter((e) => e.startsWith("+"))).toEqual(["+30", "+40", "+50", "+60"]);
    expect(h.watcher.latestBlock?.hash).toBe(chain.head.hash);
  });

  it("backfills the blocks missed while stopped, from the stored last block", async () => {
    const chain = new FakeChain();
    const store = new MemoryWatchStore();
    const first = watch(chain, store);
    await first.watcher.start(first.controller.signal);
    chain.mine([1]);
    await first.watcher.pollNow();
    await first.watcher.stop();

    chain.mine([2], [], [3]);
    const second = watch(chain, store);
    await second.watcher.start(second.controller.signal);
    expect(second.events).toEqual(["+2", "+3"]);
    expect(second.watcher.latestBlock?.hash).toBe(chain.head.hash);
  });

  it("a long gap is fetched by ranges of at most maxBlocksPerQuery, the recent blocks one by one", async () => {
    const chain = new FakeChain();
    const store = new MemoryWatchStore();
    const first = watch(chain, store);
    await first.watcher.start(first.controller.signal);
    await first.watcher.stop();

    const amounts = Array.from({ length: 100 }, (_, i) => i + 1);
    chain.mine(...amounts.map((a) => [a]));
    const second = watch(chain, store, { maxBlocksPerQuery: 16 });
    await second.watcher.start(second.controller.signal);
    expect(second.events).toEqual(amounts.map((a) => `+${a}`));
    const ranges = chain
      .logCalls()
      .map((c) => c.params[0] as { fromBlock?: Hex; toBlock?: Hex })
      .filter((f) => f.fromBlock !== undefined)
      .map((f) => [Number(f.fromBlock), Number(f.toBlock)]);
    expect(ranges.length).toBeGreaterThan(1);
    for (const [from, to] of ranges) expect(to! - from! + 1).toBeLessThanOrEqual(16);
    // Contiguous, starting after the stored block and stopping short of the 20 retained ones.
    expect(ranges[0]![0]).toBe(1);
    for (let i = 1; i < ranges.length; i++) expect(ranges[i]![0]).toBe(ranges[i - 1]![1]! + 1);
    expect(ranges.at(-1)![1]).toBe(80);
  });

  it("a block reorged out while stopped is undone at restart from the stored logs", async () => {
    const chain = new FakeChain();
    const store = new MemoryWatchStore();
    const first = watch(chain, store);
    await first.watcher.start(first.controller.signal);
    chain.mine([1], [2]);
    await first.watcher.pollNow();
    await first.watcher.stop();

    chain.reorgFrom(2);
    chain.mine([22], [33]);
    const second = watch(chain, store);
    await second.watcher.start(second.controller.signal);
    expect(second.events).toEqual(["-2", "+22", "+33"]);
  });

  it("keeps its place in a JSON file; a corrupt file means a fresh start, not a crash", async () => {
    const dir = tempDir("lp-bw-");
    const path = join(dir, "blockwatcher.json");
    const chain = new FakeChain();
    const first = watch(chain, new JsonWatchStore(path));
    await first.watcher.start(first.controller.signal);
    chain.mine([1]);
    await first.watcher.pollNow();
    await first.watcher.stop();
    const saved = JSON.parse(readFileSync(path, "utf8")) as { blocks: { hash: Hex; logs: unknown[] }[] };
    expect(saved.blocks.at(-1)!.hash).toBe(chain.head.hash);
    // Only the decoded contract's logs are kept.
    expect(saved.blocks.at(-1)!.logs).toHaveLength(1);

    chain.mine([2]);
    const second = watch(chain, new JsonWatchStore(path));
    await second.watcher.start(second.controller.signal);
    expect(second.events).toEqual(["+2"]);
    await second.watcher.stop();

    writeFileSync(path, "{not json");
    chain.mine([3]);
    const third = watch(chain, new JsonWatchStore(path));
    await third.watcher.start(third.controller.signal);
    expect(third.events).toEqual([]);
    expect(third.watcher.latestBlock?.hash).toBe(chain.head.hash);
  });

  it("a chain that restarts from scratch (head below every retained block) is taken as new after a few polls", async () => {
    const chain = new FakeChain();
    const h = watch(chain, new MemoryWatchStore(), { retention: 3 });
    await h.watcher.start(h.controller.signal);
    chain.mine([1], [2], [3], [4], [5], [6]);
    await h.watcher.pollNow();
    h.events.length = 0;
    chain.reorgFrom(1);
    chain.mine([70]);
    // A node lagging behind a load balancer looks the same at first: wait.
    await h.watcher.pollNow();
    await h.watcher.pollNow();
    expect(h.events).toEqual([]);
    await h.watcher.pollNow();
    expect(h.events).toEqual(["-6", "-5", "-4"]);
    expect(h.watcher.latestBlock?.hash).toBe(chain.head.hash);
    chain.mine([80]);
    await h.watcher.pollNow();
    expect(h.events).toEqual(["-6", "-5", "-4", "+80"]);
  });

  it("a JSON store written for another chain reads as empty", async () => {
    const path = join(tempDir("lp-bw-"), "blockwatcher.json");
    const chain = new FakeChain();
    const first = watch(chain, new JsonWatchStore(path, "42161"));
    await first.watcher.start(first.controller.signal);
    await first.watcher.stop();
    expect(await new JsonWatchStore(path, "42161").load()).toHaveLength(1);
    expect(await new JsonWatchStore(path, "31337").load()).toEqual([]);
  });

  it("an RPC that fails is retried with growing backoff, and the watcher catches up when it returns", async () => {
    const chain = new FakeChain();
    const h = watch(chain);
    await h.watcher.start(h.controller.signal);
    chain.failing = true;
    chain.mine([1]);
    const pollsAt = async (ms: number) => {
      const before = chain.calls.length;
      await h.clock.advance(ms);
      await h.watcher.whenIdle();
      return chain.calls.length - before;
    };
    expect(await pollsAt(5000)).toBe(1); // fails; retry after one interval
    expect(await pollsAt(5000)).toBe(1); // fails again; the wait doubles to 10 s
    expect(await pollsAt(9999)).toBe(0);
    expect(await pollsAt(1)).toBe(1); // and to 20 s
    expect(await pollsAt(19_999)).toBe(0);
    expect(await pollsAt(1)).toBe(1);
    chain.failing = false;
    chain.mine([2]);
    await h.clock.advance(40_000);
    await h.watcher.whenIdle();
    expect(h.events).toEqual(["+1", "+2"]);
    // Back to the normal interval.
    chain.mine([3]);
    expect(await pollsAt(5000)).toBeGreaterThan(0);
    expect(h.events).toEqual(["+1", "+2", "+3"]);
  });

  it("malformed RPC answers fail the poll without changing state", async () => {
    const chain = new FakeChain();
    const h = watch(chain);
    await h.watcher.start(h.controller.signal);
    const before = h.watcher.latestBlock;
    const real = chain.request;
    (h.watcher as unknown as { request: unknown }).request = async (args: { method: string }) =>
      args.method === "eth_getBlockByNumber" ? { number: "zz" } : real(args);
    expect(await h.watcher.pollNow()).toBe(false);
    expect(h.watcher.latestBlock).toEqual(before);
  });

  it("a subscriber that throws does not stop delivery to the others", async () => {
    const chain = new FakeChain();
    const h = watch(chain);
    h.watcher.subscribe(() => {
      throw new Error("boom");
    });
    h.watcher.subscribe(async () => {
      throw new Error("async boom");
    });
    await h.watcher.start(h.controller.signal);
    chain.mine([1], [2]);
    expect(await h.watcher.pollNow()).toBe(true);
    expect(h.events).toEqual(["+1", "+2"]);
  });

  it("reports the chain's l1BlockNumber, and L1 subscribers only when it changes", async () => {
    const chain = new FakeChain();
    const h = watch(chain);
    await h.watcher.start(h.controller.signal);
    chain.mineL1(100);
    chain.mineL1(100);
    chain.mineL1(101, [9]);
    await h.watcher.pollNow();
    expect(h.blocks.map((b) => b.l1BlockNumber)).toEqual([0n, 100n, 100n, 101n]);
    expect(h.l1).toEqual([0n, 100n, 101n]);
    expect(h.events).toEqual(["+9"]);
  });

  it("stop does not wait out an RPC that hangs, and the cut-short poll changes nothing", async () => {
    const chain = new FakeChain();
    const store = new MemoryWatchStore();
    const h = watch(chain, store);
    await h.watcher.start(h.controller.signal);
    const before = await store.load();
    chain.mine([1]);
    let release = () => {};
    chain.hang = new Promise<void>((r) => {
      release = r;
    });
    const calls = chain.calls.length;
    const poll = h.watcher.pollNow();
    await flush();
    expect(chain.calls.length).toBe(calls + 1); // in flight
    await h.watcher.stop();
    expect(await poll).toBe(false);
    chain.hang = null;
    release();
    await new Promise((r) => setImmediate(r));
    expect(h.events).toEqual([]);
    expect(await store.load()).toEqual(before);
  });

  it("stops polling when its start signal aborts", async () => {
    const chain = new FakeChain();
    const h = watch(chain);
    await h.watcher.start(h.controller.signal);
    h.controller.abort();
    await h.watcher.whenIdle();
    chain.mine([1]);
    await h.clock.advance(60_000);
    expect(h.events).toEqual([]);
    expect(h.clock.pending).toBe(0);
  });
});
