import { join } from "node:path";
import {
  type Abi,
  type Account,
  type Address,
  createPublicClient,
  createWalletClient,
  type Hex,
  http,
  type PublicClient,
  parseEther,
  type TransactionReceipt,
  toHex,
  type WalletClient,
  zeroAddress,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { foundry } from "viem/chains";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { abis } from "../../../src/eth/abis.js";
import { BlockWatcher } from "../../../src/eth/BlockWatcher.js";
import { advanceToNextRound, type DevnetDeployment, deployDevnet } from "../../../src/eth/deploy.js";
import type { WatchedEvent } from "../../../src/eth/events.js";
import { type RoundState, RoundWatcher } from "../../../src/eth/RoundWatcher.js";
import { JsonWatchStore, MemoryWatchStore, type WatchStore } from "../../../src/eth/watchStore.js";
import { ANVIL_KEYS, type Anvil, startAnvil } from "../../helpers/anvil.js";
import { tempDir } from "../../helpers/tmp.js";
import { waitFor } from "../../helpers/waitFor.js";

// One anvil chain for the file: real transactions, real logs, reorgs made with evm_snapshot/evm_revert.

const [deployer, orch, gateway] = ANVIL_KEYS.map((k) => privateKeyToAccount(k)) as [
  Account,
  Account,
  Account,
];
type Name = keyof typeof abis;

let anvil: Anvil;
let publicClient: PublicClient;
let wallets: Map<Address, WalletClient<ReturnType<typeof http>, typeof foundry, Account>>;
let dev: DevnetDeployment;
const stops: (() => Promise<void>)[] = [];

const addr = (name: Name): Address => dev.contracts[name];
const rpc = (method: string, params: unknown[] = []) =>
  (publicClient.request as unknown as (a: { method: string; params: unknown[] }) => Promise<unknown>)({
    method,
    params,
  });

async function send(
  from: Account,
  name: Name,
  functionName: string,
  args: readonly unknown[] = [],
  value?: bigint,
): Promise<TransactionReceipt> {
  const hash = await wallets
    .get(from.address)!
    .writeContract({ address: addr(name), abi: abis[name] as Abi, functionName, args, value });
  const receipt = await publicClient.waitForTransactionReceipt({ hash, pollingInterval: 20 });
  expect(receipt.status).toBe("success");
  return receipt;
}

const fundDeposit = (amount: bigint) => send(gateway, "TicketBroker", "fundDeposit", [], amount);

/** A started block watcher over the devnet contracts, with every event it delivers collected. */
async function startWatcher(
  store: WatchStore = new MemoryWatchStore(),
  options: { pollingIntervalMs?: number; maxBlocksPerQuery?: number } = {},
) {
  const watcher = new BlockWatcher(
    {
      addresses: {
        BondingManager: addr("BondingManager"),
        TicketBroker: addr("TicketBroker"),
        RoundsManager: addr("RoundsManager"),
        ServiceRegistry: addr("ServiceRegistry"),
      },
      pollingIntervalMs: options.pollingIntervalMs ?? 60_000,
      maxBlocksPerQuery: options.maxBlocksPerQuery,
    },
    { client: publicClient, store },
  );
  const events: WatchedEvent[] = [];
  watcher.subscribe((e) => events.push(e));
  const controller = new AbortController();
  await watcher.start(controller.signal);
  stops.push(() => watcher.stop());
  return { watcher, events, controller };
}

const deposits = (events: WatchedEvent[]) =>
  events.flatMap((e) =>
    e.contract === "TicketBroker" && e.eventName === "DepositFunded"
      ? [`${e.removed ? "-" : "+"}${e.args.amount}`]
      : [],
  );

beforeAll(async () => {
  anvil = await startAnvil();
  const transport = http(anvil.url);
  publicClient = createPublicClient({ chain: foundry, transport, pollingInterval: 20 });
  wallets = new Map(
    [deployer, orch, gateway].map((account) => [
      account.address,
      createWalletClient({ account, chain: foundry, transport }),
    ]),
  );
  dev = await deployDevnet({ wallet: wallets.get(deployer.address)!, publicClient });
});

afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

afterAll(async () => {
  await anvil?.stop();
});

describe("block watcher on anvil", () => {
  it("delivers bond, service URI, funding and new-round events from real transactions, decoded", async () => {
    const { events } = await startWatcher(new MemoryWatchStore(), { pollingIntervalMs: 50 });

    const stake = parseEther("100");
    await send(deployer, "LivepeerToken", "transfer", [orch.address, stake]);
    await send(orch, "LivepeerToken", "approve", [addr("BondingManager"), stake]);
    const bond = await send(orch, "BondingManager", "bondWithHint", [
      stake,
      orch.address,
      zeroAddress,
      zeroAddress,
      zeroAddress,
      zeroAddress,
    ]);
    await send(orch, "ServiceRegistry", "setServiceURI", ["https://127.0.0.1:8935"]);
    const funding = await send(gateway, "TicketBroker", "fundDepositAndReserve", [3n, 4n], 7n);
    const round = await advanceToNextRound(
      { wallet: wallets.get(deployer.address)!, publicClient },
      addr("RoundsManager"),
    );

    // The polling loop (not pollNow) brings them in.
    await waitFor(() => events.some((e) => e.eventName === "NewRound"), { what: "NewRound delivered" });
    expect(events.map((e) => `${e.contract}.${e.eventName}`)).toEqual([
      "BondingManager.TranscoderActivated",
      "ServiceRegistry.ServiceURIUpdate",
      "TicketBroker.ReserveFunded",
      "TicketBroker.DepositFunded",
      "RoundsManager.NewRound",
    ]);
    expect(events.every((e) => e.removed === false)).toBe(true);
    const [activated, uri, reserve, deposit, newRound] = events;
    expect(activated).toMatchObject({
      address: addr("BondingManager"),
      args: { transcoder: orch.address, activationRound: 1n },
      blockNumber: bond.blockNumber,
      blockHash: bond.blockHash,
      transactionHash: bond.transactionHash,
    });
    expect(uri?.args).toEqual({ addr: orch.address, serviceURI: "https://127.0.0.1:8935" });
    expect(reserve?.args).toEqual({ reserveHolder: gateway.address, amount: 4n });
    expect(deposit).toMatchObject({
      args: { sender: gateway.address, amount: 3n },
      blockHash: funding.blockHash,
    });
    const hash = await publicClient.readContract({
      address: addr("RoundsManager"),
      abi: abis.RoundsManager,
      functionName: "blockHashForRound",
      args: [round],
    });
    expect(newRound?.args).toEqual({ round, blockHash: hash });
  });

  it("a reorg (evm_snapshot, evm_revert, other blocks) delivers the dropped logs as removed", async () => {
    const { watcher, events } = await startWatcher();
    const snapshot = (await rpc("evm_snapshot")) as Hex;
    const lost = await fundDeposit(111n);
    await fundDeposit(222n);
    await watcher.pollNow();
    expect(deposits(events)).toEqual(["+111", "+222"]);

    await rpc("evm_revert", [snapshot]);
    const kept = await fundDeposit(333n);
    await rpc("anvil_mine", [toHex(2)]);
    expect(kept.blockNumber).toBe(lost.blockNumber);
    expect(kept.blockHash).not.toBe(lost.blockHash);
    await watcher.pollNow();

    expect(deposits(events)).toEqual(["+111", "+222", "-222", "-111", "+333"]);
    const removed = events.filter((e) => e.removed);
    expect(removed.at(-1)).toMatchObject({
      blockHash: lost.blockHash,
      transactionHash: lost.transactionHash,
    });
    expect(watcher.latestBlock?.hash).toBe((await publicClient.getBlock({ blockTag: "latest" })).hash);
  });

  it("after a restart, backfills the blocks it missed from the stored last block", async () => {
    const store = new JsonWatchStore(join(tempDir("lp-watch-"), "blockwatcher.json"));
    const first = await startWatcher(store);
    await fundDeposit(1n);
    await first.watcher.pollNow();
    await first.watcher.stop();
    expect(deposits(first.events)).toEqual(["+1"]);

    // Missed while down: two deposits with a long stretch of blocks between them (beyond the
    // 20 retained blocks, so the range path runs too).
    await fundDeposit(2n);
    await rpc("anvil_mine", [toHex(40)]);
    await fundDeposit(3n);

    const second = await startWatcher(store, { maxBlocksPerQuery: 8 });
    expect(deposits(second.events)).toEqual(["+2", "+3"]);
    expect(second.watcher.latestBlock?.number).toBe(await publicClient.getBlockNumber({ cacheTime: 0 }));
  });
});

describe("round watcher on anvil", () => {
  it("reads the round at start and follows initializeRound and the lock window", async () => {
    const { watcher } = await startWatcher();
    const rounds = new RoundWatcher(
      { roundsManager: addr("RoundsManager"), bondingManager: addr("BondingManager") },
      { client: publicClient, blocks: watcher },
    );
    const changes: RoundState[] = [];
    rounds.subscribe((state) => changes.push(state));
    await rounds.start(new AbortController().signal);
    stops.push(() => rounds.stop());

    const read = <T>(functionName: string, args: readonly unknown[] = []) =>
      publicClient.readContract({
        address: addr("RoundsManager"),
        abi: abis.RoundsManager as Abi,
        functionName,
        args,
      }) as Promise<T>;
    const before = rounds.state;
    expect(before.currentRound).toBe(await read<bigint>("currentRound"));
    expect(before.lastInitializedRound).toBe(await read<bigint>("lastInitializedRound"));
    expect(before.initialized).toBe(true);
    expect(before.lastInitializedBlockHash).toBe(
      await read<Hex>("blockHashForRound", [before.lastInitializedRound]),
    );
    // The orchestrator bonded in the first test is in the pool.
    expect(before.transcoderPoolSize).toBe(1n);

    const round = await advanceToNextRound(
      { wallet: wallets.get(deployer.address)!, publicClient },
      addr("RoundsManager"),
    );
    await watcher.pollNow();
    await rounds.settled();
    const after = rounds.state;
    expect(after).toMatchObject({
      currentRound: round,
      initialized: true,
      locked: false,
      lastInitializedRound: round,
      lastInitializedBlockHash: await read<Hex>("blockHashForRound", [round]),
      preLastInitializedBlockHash: await read<Hex>("blockHashForRound", [round - 1n]),
      currentRoundStartBlock: await read<bigint>("currentRoundStartBlock"),
      lastSeenL1Block: await publicClient.getBlockNumber({ cacheTime: 0 }),
    });
    expect(after.lastInitializedRound).toBe(before.lastInitializedRound + 1n);
    expect(changes.at(-1)?.lastInitializedRound).toBe(round);

    // Into the lock window (the last 10% of the round's 50 blocks).
    const start = after.currentRoundStartBlock;
    const head = await publicClient.getBlockNumber({ cacheTime: 0 });
    await rpc("anvil_mine", [toHex(start + 47n - head)]);
    await watcher.pollNow();
    await rounds.settled();
    expect(rounds.state.locked).toBe(true);
    expect(changes.at(-1)?.locked).toBe(true);

    // Past the round's end: the new round is not initialised until someone calls initializeRound.
    await rpc("anvil_mine", [toHex(5)]);
    await watcher.pollNow();
    await rounds.settled();
    expect(rounds.state).toMatchObject({
      currentRound: round + 1n,
      initialized: false,
      lastInitializedRound: round,
    });
  });
});
