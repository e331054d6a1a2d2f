import {
  type Abi,
  type Address,
  createPublicClient,
  createWalletClient,
  http,
  type LocalAccount,
  type PublicClient,
  parseEther,
  toHex,
} from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { foundry } from "viem/chains";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { abis, bondingManagerAbi } from "../../../src/eth/abis.js";
import { BlockWatcher } from "../../../src/eth/BlockWatcher.js";
import { ChainClient } from "../../../src/eth/ChainClient.js";
import { advanceToNextRound, type DevnetDeployment, deployDevnet } from "../../../src/eth/deploy.js";
import { chainConfigFromOptions } from "../../../src/eth/networks.js";
import { chainRewardService, type RewardEvent, RewardService } from "../../../src/eth/RewardService.js";
import { RoundInitializer } from "../../../src/eth/RoundInitializer.js";
import { RoundWatcher } from "../../../src/eth/RoundWatcher.js";
import type { Signer } from "../../../src/eth/signer.js";
import { TxManager } from "../../../src/eth/TxManager.js";
import { MemoryWatchStore } from "../../../src/eth/watchStore.js";
import { silentLogger } from "../../../src/logger/logger.js";
import { ANVIL_KEYS, type Anvil, startAnvil } from "../../helpers/anvil.js";
import { waitFor } from "../../helpers/waitFor.js";

// One anvil chain with the devnet contracts and three orchestrators: A (3000 LPT) above the node's
// orchestrator O (2000 LPT) above C (1000 LPT), far enough apart that a reward moves no one. The node side is the real client, transaction
// manager and watchers; rounds pass with anvil's mining.

const [deployer, orch, a, c] = ANVIL_KEYS.map((k) => privateKeyToAccount(k)) as [
  LocalAccount,
  LocalAccount,
  LocalAccount,
  LocalAccount,
];
type Name = keyof typeof abis;

let anvil: Anvil;
let publicClient: PublicClient;
let dev: DevnetDeployment;
let client: ChainClient;
let rounds: RoundWatcher;
const stops: (() => Promise<void>)[] = [];

const rpc = (method: string, params: unknown[] = []) =>
  (publicClient.request as unknown as (a: { method: string; params: unknown[] }) => Promise<unknown>)({
    method,
    params,
  });

async function send(from: LocalAccount, name: Name, functionName: string, args: readonly unknown[] = []) {
  const wallet = createWalletClient({ account: from, chain: foundry, transport: http(anvil.url) });
  const hash = await wallet.writeContract({
    address: dev.contracts[name as keyof typeof dev.contracts],
    abi: abis[name] as Abi,
    functionName,
    args,
  });
  const receipt = await publicClient.waitForTransactionReceipt({ hash, pollingInterval: 20 });
  expect(receipt.status).toBe("success");
}

async function register(account: LocalAccount, stake: bigint) {
  await send(deployer, "LivepeerToken", "transfer", [account.address, stake]);
  await send(account, "LivepeerToken", "approve", [dev.contracts.BondingManager, stake]);
  await send(account, "BondingManager", "bond", [stake, account.address]);
  await send(account, "BondingManager", "transcoder", [0n, 1_000_000n]);
}

const nextRound = () =>
  advanceToNextRound(
    {
      wallet: createWalletClient({ account: deployer, chain: foundry, transport: http(anvil.url) }),
      publicClient,
    },
    dev.contracts.RoundsManager,
  );

function txManager(account: LocalAccount): TxManager {
  return new TxManager(
    {
      chainId: client.chainId,
      maxGasPrice: null,
      gasLimit: null,
      txTimeoutMs: 10_000,
      maxReplacements: 1,
      pollIntervalMs: 20,
    },
    { publicClient: client.publicClient, account },
  );
}

async function started<T extends { start(): Promise<void>; stop(): Promise<void> }>(service: T): Promise<T> {
  await service.start();
  stops.push(() => service.stop());
  return service;
}

/** Reward logs of one orchestrator on the whole chain. */
async function rewardLogs(address: Address) {
  return publicClient.getContractEvents({
    address: dev.contracts.BondingManager,
    abi: bondingManagerAbi,
    eventName: "Reward",
    args: { transcoder: address },
    fromBlock: 0n,
  });
}

beforeAll(async () => {
  anvil = await startAnvil();
  publicClient = createPublicClient({ chain: foundry, transport: http(anvil.url) }) as PublicClient;
  dev = await deployDevnet({
    wallet: createWalletClient({ account: deployer, chain: foundry, transport: http(anvil.url) }),
    publicClient,
  });
  await register(a, parseEther("3000"));
  await register(orch, parseEther("2000"));
  await register(c, parseEther("1000"));
  const { config, problems } = chainConfigFromOptions({
    network: "devnet",
    ethUrl: anvil.url,
    ethController: dev.controller,
    blockPollingInterval: 0.05,
    transactionTimeoutMs: 10_000,
  });
  expect(problems).toEqual([]);
  client = await ChainClient.connect({ config: config! });
  const blocks = new BlockWatcher(
    {
      addresses: {
        BondingManager: dev.contracts.BondingManager,
        TicketBroker: dev.contracts.TicketBroker,
        RoundsManager: dev.contracts.RoundsManager,
        ServiceRegistry: dev.contracts.ServiceRegistry,
      },
      pollingIntervalMs: 50,
    },
    { client: client.publicClient, store: new MemoryWatchStore() },
  );
  rounds = new RoundWatcher(
    { roundsManager: dev.contracts.RoundsManager, bondingManager: dev.contracts.BondingManager },
    { client: client.publicClient, blocks },
  );
  const abort = new AbortController();
  await blocks.start(abort.signal);
  await rounds.start(abort.signal);
  stops.push(async () => {
    await rounds.stop();
    await blocks.stop();
  });
}, 120_000);

afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
  await client?.close();
  await anvil?.stop();
});

describe("reward and round initialisation on a devnet", () => {
  it("rewards once per round with the pool hints, retries a failure, and never rewards for an inactive account", async () => {
    // The three become active in the next round.
    const first = await nextRound();
    await waitFor(() => rounds.state.currentRound === first && rounds.state.initialized, {
      what: "round seen",
    });
    expect((await client.transcoderPool()).map((p) => p.address)).toEqual([
      a.address,
      orch.address,
      c.address,
    ]);

    const events: RewardEvent[] = [];
    const service = await started(
      new RewardService(
        { address: orch.address, retryDelayMs: () => 100 },
        { client, tx: txManager(orch), rounds, onEvent: (e) => events.push(e) },
      ),
    );
    // An account with no registration (and no ETH: any transaction it tried would fail).
    const stranger = privateKeyToAccount(generatePrivateKey());
    const strangerEvents: RewardEvent[] = [];
    await started(
      new RewardService(
        { address: stranger.address, retryDelayMs: () => 100 },
        { client, tx: txManager(stranger), rounds, onEvent: (e) => strangerEvents.push(e) },
      ),
    );

    const rewarded = await waitFor(() => events.find((e) => e.kind === "rewarded"), {
      what: "reward called",
    });
    expect(rewarded).toMatchObject({
      kind: "rewarded",
      round: first,
      hints: { prev: a.address, next: c.address },
    });
    if (rewarded.kind !== "rewarded") throw new Error("unreachable");
    expect(rewarded.amount).toBeGreaterThan(0n);
    const t = await client.transcoderInfo(orch.address);
    expect(t.lastRewardRound).toBe(first);
    expect(t.totalStake).toBe(parseEther("2000") + rewarded.amount);
    // The hints named the neighbours the node really has after the reward.
    expect((await client.transcoderPool()).map((p) => p.address)).toEqual([
      a.address,
      orch.address,
      c.address,
    ]);
    expect(service.lastReward).toEqual({ round: first, amount: rewarded.amount, hash: rewarded.hash });
    const status: Record<string, unknown> = {};
    service.status(status as never);
    expect(status["LastReward"]).toEqual({
      Round: first.toString(),
      Amount: rewarded.amount.toString(),
      Tx: rewarded.hash,
    });

    // More blocks in the same round: no second call.
    await rpc("anvil_mine", [toHex(5)]);
    await waitFor(async () => (await client.blockNumber()) <= rounds.state.lastSeenL1Block, {
      what: "blocks seen",
    });
    await rounds.settled();
    await service.settled();
    expect(events.filter((e) => e.kind === "rewarded")).toHaveLength(1);
    expect(await rewardLogs(orch.address)).toHaveLength(1);

    // The next round: a second reward.
    const second = await nextRound();
    await waitFor(() => events.some((e) => e.kind === "rewarded" && e.round === second), {
      what: "second reward",
    });
    expect((await client.transcoderInfo(orch.address)).lastRewardRound).toBe(second);

    // A round whose first attempt fails (the account has no ETH for gas): retried, once it has.
    const balance = await client.ethBalance(orch.address);
    await rpc("anvil_setBalance", [orch.address, "0x0"]);
    const third = await nextRound();
    await waitFor(() => events.some((e) => e.kind === "failed" && e.round === third), {
      what: "a failed attempt",
    });
    expect((await client.transcoderInfo(orch.address)).lastRewardRound).toBe(second);
    await rpc("anvil_setBalance", [orch.address, toHex(balance)]);
    await waitFor(() => events.some((e) => e.kind === "rewarded" && e.round === third), {
      what: "retried reward",
    });
    expect(events.filter((e) => e.kind === "rewarded").map((e) => e.round)).toEqual([first, second, third]);
    expect(await rewardLogs(orch.address)).toHaveLength(3);

    // The stranger looked each round and never sent anything.
    await service.settled();
    expect(strangerEvents.length).toBeGreaterThan(0);
    expect(strangerEvents.every((e) => e.kind === "skipped" && e.reason === "inactive")).toBe(true);
    expect(await publicClient.getTransactionCount({ address: stranger.address })).toBe(0);
  }, 120_000);

  it("initialises a new round with no delay", async () => {
    const before = await client.roundInfo();
    // Mine into the next round without initialising it.
    const start = before.currentRoundStartBlock + before.roundLength;
    await rpc("anvil_mine", [toHex(start - (await client.blockNumber()))]);
    expect(await client.currentRoundInitialized()).toBe(false);

    const seen: { kind: string; round: bigint }[] = [];
    await started(
      new RoundInitializer(
        { maxDelayMs: 0 },
        { client, tx: txManager(c), rounds, onEvent: (e) => seen.push(e) },
      ),
    );
    await waitFor(() => seen.length > 0, { what: "initializer done" });
    expect(seen).toEqual([{ kind: "initialized", round: before.currentRound + 1n }]);
    expect(await client.currentRoundInitialized()).toBe(true);
    expect(await client.currentRound()).toBe(before.currentRound + 1n);
  }, 60_000);

  it("with -reward unset, rewards for a registered orchestrator only; -reward=false never does", async () => {
    const node = (account: LocalAccount, enabled: boolean | null) => {
      const chain = {
        client,
        signer: { address: account.address } as Signer,
        tx: txManager(account),
        rounds,
      };
      return chainRewardService(chain, enabled, silentLogger());
    };
    const auto = node(a, null);
    const off = node(c, false);
    const stranger = node(privateKeyToAccount(generatePrivateKey()), null);
    for (const s of [auto, off, stranger])
      await started({ start: () => s.start(new AbortController().signal), stop: () => s.stop() });
    const statusOf = (s: typeof auto) => {
      const out: Record<string, unknown> = {};
      s.status(out as never);
      return out;
    };
    const rewardedIn = (s: typeof auto) =>
      (statusOf(s)["LastReward"] as { Round?: string } | undefined)?.Round;
    // The current round is initialised: the registered one rewards it at once.
    const current = rounds.state.currentRound;
    await waitFor(() => rewardedIn(auto) === current.toString(), { what: "reward at start" });
    const round = await nextRound();
    await waitFor(() => rewardedIn(auto) === round.toString(), { what: "reward in the next round" });
    expect((await client.transcoderInfo(a.address)).lastRewardRound).toBe(round);
    expect(statusOf(off)).toEqual({});
    expect(statusOf(stranger)).toEqual({});
    expect((await client.transcoderInfo(c.address)).lastRewardRound).toBeLessThan(round);
  }, 60_000);
});
