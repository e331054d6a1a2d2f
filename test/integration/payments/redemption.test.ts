import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";
import {
  type Abi,
  type Account,
  type Address,
  bytesToHex,
  createPublicClient,
  createWalletClient,
  type Hash,
  hexToBytes,
  http,
  type PublicClient,
  parseEther,
  type Transport,
  toHex,
  type WalletClient,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { foundry } from "viem/chains";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { abis, ticketBrokerAbi } from "../../../src/eth/abis.js";
import { BlockWatcher } from "../../../src/eth/BlockWatcher.js";
import { ChainClient } from "../../../src/eth/ChainClient.js";
import { advanceToNextRound, type DevnetDeployment, deployDevnet } from "../../../src/eth/deploy.js";
import { chainConfigFromOptions } from "../../../src/eth/networks.js";
import { RoundWatcher } from "../../../src/eth/RoundWatcher.js";
import { Signer } from "../../../src/eth/signer.js";
import { type TxEvent, TxManager } from "../../../src/eth/TxManager.js";
import { RedemptionQueue, redemptionChain } from "../../../src/payments/RedemptionQueue.js";
import { SenderMonitor } from "../../../src/payments/SenderMonitor.js";
import { TicketStore } from "../../../src/payments/TicketStore.js";
import { MAX_WIN_PROB, recipientRandHashOf, ticketHash } from "../../../src/payments/ticket.js";
import type { SignedTicket } from "../../../src/payments/types.js";
import { closeDatabase, openDatabase, type SqliteDb } from "../../../src/storage/db.js";
import { ANVIL_KEYS, type Anvil, startAnvil } from "../../helpers/anvil.js";
import { tempDir } from "../../helpers/tmp.js";
import { waitFor } from "../../helpers/waitFor.js";

// One anvil chain with the devnet contracts, a registered orchestrator and a funded sender. The
// node side (ChainClient, TxManager, watchers, queue) talks to anvil through a TCP proxy the test
// can cut, to play an RPC outage without losing the chain's state.

const [deployerKey, orchKey, gatewayKey] = ANVIL_KEYS;
const deployer = privateKeyToAccount(deployerKey);
const orch = privateKeyToAccount(orchKey);
const gateway = privateKeyToAccount(gatewayKey);
const gatewaySigner = Signer.fromPrivateKey(gatewayKey);

const DEPOSIT = parseEther("10");
const RESERVE = parseEther("1");

type Wallet = WalletClient<Transport, typeof foundry, Account>;
let anvil: Anvil;
let proxy: RpcProxy;
let direct: PublicClient;
let wallets: Map<Address, Wallet>;
let dev: DevnetDeployment;
let nonceSeq = 0;
const cleanups: (() => Promise<void> | void)[] = [];

type Rpc = (args: { method: string; params: unknown[] }) => Promise<unknown>;
const rpc = (method: string, params: unknown[] = []) =>
  (direct.request as unknown as Rpc)({ method, params });

/** A TCP proxy to anvil that the test can take down (dropping every connection) and bring back. */
interface RpcProxy {
  url: string;
  down(): void;
  up(): void;
  close(): Promise<void>;
}

async function startProxy(targetPort: number): Promise<RpcProxy> {
  const sockets = new Set<Socket>();
  let isUp = true;
  const server: Server = createServer((client) => {
    if (!isUp) {
      client.destroy();
      return;
    }
    const upstream = tcpConnect(targetPort, "127.0.0.1");
    sockets.add(client);
    sockets.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    down() {
      isUp = false;
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    up() {
      isUp = true;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

async function send(
  from: Account,
  name: keyof typeof abis,
  fn: string,
  args: unknown[] = [],
  value?: bigint,
) {
  const hash = await wallets
    .get(from.address)!
    .writeContract({ address: dev.contracts[name], abi: abis[name] as Abi, functionName: fn, args, value });
  const receipt = await direct.waitForTransactionReceipt({ hash, pollingInterval: 20 });
  expect(receipt.status).toBe("success");
}

const read = <T>(name: keyof typeof abis, fn: string, args: unknown[] = []) =>
  direct.readContract({
    address: dev.contracts[name],
    abi: abis[name] as Abi,
    functionName: fn,
    args,
  }) as Promise<T>;

/** A winning ticket (winProb = max) from the gateway to the orchestrator, signed as go-livepeer signs one. */
async function makeTicket(faceValue: bigint, expirationBlock?: bigint): Promise<SignedTicket> {
  const round = await read<bigint>("RoundsManager", "lastInitializedRound");
  const blockHash = await read<Hash>("RoundsManager", "blockHashForRound", [round]);
  const recipientRand = BigInt(toHex(crypto.getRandomValues(new Uint8Array(32))));
  const ticket = {
    recipient: orch.address,
    sender: gateway.address,
    faceValue,
    winProb: MAX_WIN_PROB,
    senderNonce: ++nonceSeq,
    recipientRandHash: recipientRandHashOf(recipientRand),
    creationRound: round,
    creationRoundBlockHash: blockHash,
    paramsExpirationBlock: expirationBlock ?? (await direct.getBlockNumber({ cacheTime: 0 })),
    pricePerPixel: { num: 1n, den: 1n },
  };
  const sig = bytesToHex(await gatewaySigner.signHash(hexToBytes(ticketHash(ticket))));
  return { ...ticket, sig, recipientRand };
}

/** Every WinningTicketRedeemed of the gateway's tickets so far, by sender nonce. */
async function redemptionsByNonce(): Promise<Map<number, number>> {
  const logs = await direct.getContractEvents({
    address: dev.contracts.TicketBroker,
    abi: ticketBrokerAbi,
    eventName: "WinningTicketRedeemed",
    args: { sender: gateway.address },
    fromBlock: 0n,
  });
  const counts = new Map<number, number>();
  for (const l of logs) {
    const n = Number(l.args.senderNonce);
    counts.set(n, (counts.get(n) ?? 0) + 1);
  }
  return counts;
}

async function transferredTo(recipient: Address): Promise<bigint> {
  const logs = await direct.getContractEvents({
    address: dev.contracts.TicketBroker,
    abi: ticketBrokerAbi,
    eventName: "WinningTicketTransfer",
    args: { sender: gateway.address, recipient },
    fromBlock: 0n,
  });
  return logs.reduce((sum, l) => sum + (l.args.amount ?? 0n), 0n);
}

const pendingFees = async () =>
  read<bigint>("BondingManager", "pendingFees", [
    orch.address,
    await read<bigint>("RoundsManager", "currentRound"),
  ]);

const deposit = async () =>
  (await read<[{ deposit: bigint }, unknown]>("TicketBroker", "getSenderInfo", [gateway.address]))[0].deposit;

/** The orchestrator's node: DB, chain client over the proxy, watchers, sender monitor and queue. */
async function startNode(dataDir: string, options: { onTx?: (e: TxEvent) => void } = {}) {
  const db: SqliteDb = openDatabase(dataDir);
  const store = TicketStore.open(db);
  const { config } = chainConfigFromOptions({
    network: "devnet",
    ethUrl: proxy.url,
    ethController: dev.controller,
  });
  const client = await ChainClient.connect({ config: config!, rpcTimeoutMs: 2_000 });
  const tx = new TxManager(
    {
      chainId: client.chainId,
      maxGasPrice: null,
      gasLimit: null,
      txTimeoutMs: 1_500,
      maxReplacements: 1,
      pollIntervalMs: 20,
      onEvent: (e) => options.onTx?.(e),
    },
    { publicClient: client.publicClient, account: orch },
  );
  const blocks = new BlockWatcher(
    {
      addresses: {
        TicketBroker: client.addresses.TicketBroker,
        RoundsManager: client.addresses.RoundsManager,
        BondingManager: client.addresses.BondingManager,
      },
      pollingIntervalMs: 50,
      maxBackoffMs: 200,
    },
    { client: client.publicClient },
  );
  const rounds = new RoundWatcher(
    { roundsManager: client.addresses.RoundsManager, bondingManager: client.addresses.BondingManager },
    { client: client.publicClient, blocks },
  );
  const monitor = new SenderMonitor({ recipient: orch.address }, { chain: client, rounds, events: blocks });
  const queue = new RedemptionQueue(
    {
      ticketBroker: client.addresses.TicketBroker,
      redeemGas: config!.redeemGas,
      initialBackoffMs: 50,
      maxBackoffMs: 300,
    },
    {
      store,
      chain: redemptionChain(client.publicClient, client.addresses.TicketBroker),
      tx,
      funds: monitor,
      rounds,
      blocks,
    },
  );
  const signal = new AbortController().signal;
  await blocks.start(signal);
  await rounds.start(signal);
  await monitor.start(signal);
  await queue.start(signal);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await queue.stop();
    await monitor.stop();
    await rounds.stop();
    await blocks.stop();
    await client.close();
    closeDatabase(db);
  };
  cleanups.push(stop);
  return { store, queue, stop };
}

beforeAll(async () => {
  anvil = await startAnvil();
  proxy = await startProxy(anvil.port);
  const transport = http(anvil.url);
  direct = createPublicClient({ chain: foundry, transport, pollingInterval: 20 }) as PublicClient;
  wallets = new Map(
    [deployer, orch, gateway].map((a) => [
      a.address,
      createWalletClient({ account: a, chain: foundry, transport }),
    ]),
  );
  dev = await deployDevnet({ wallet: wallets.get(deployer.address)!, publicClient: direct });
  const clients = { wallet: wallets.get(deployer.address)!, publicClient: direct };
  await advanceToNextRound(clients, dev.contracts.RoundsManager);
  // Tokens for the orchestrator's self-bond, then register it (the broker books fees to it).
  await send(deployer, "LivepeerToken", "transfer", [orch.address, parseEther("1000")]);
  await send(orch, "LivepeerToken", "approve", [dev.contracts.BondingManager, parseEther("1000")]);
  await send(orch, "BondingManager", "bond", [parseEther("1000"), orch.address]);
  await send(orch, "BondingManager", "transcoder", [0n, 1_000_000n]);
  await send(gateway, "TicketBroker", "fundDepositAndReserve", [DEPOSIT, RESERVE], DEPOSIT + RESERVE);
  await advanceToNextRound(clients, dev.contracts.RoundsManager);
}, 60_000);

// A fresh round per test: the blocks a test mines must not cross into an uninitialised round.
beforeEach(async () => {
  await advanceToNextRound(
    { wallet: wallets.get(deployer.address)!, publicClient: direct },
    dev.contracts.RoundsManager,
  );
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  proxy.up();
  await rpc("evm_setAutomine", [true]);
});

afterAll(async () => {
  await proxy?.close();
  await anvil?.stop();
});

describe("redemption queue on anvil", () => {
  it("redeems 20 winning tickets exactly once each; fees rise by exactly their face values; a ticket waiting for its params blocks none", async () => {
    const node = await startNode(tempDir());
    const depositBefore = await deposit();
    const feesBefore = await transferredTo(orch.address);
    const pendingFeesBefore = await pendingFees();
    const head = await direct.getBlockNumber({ cacheTime: 0 });
    // The first ticket stored may not be redeemed until block head + 22: the 19 behind it (one
    // block each) go first.
    const tickets = [await makeTicket(parseEther("0.01"), head + 22n)];
    for (let i = 1; i < 20; i++) tickets.push(await makeTicket(parseEther("0.01") + BigInt(i)));
    for (const t of tickets) expect((await node.store.store(t)).inserted).toBe(true);
    // The same ticket again is not a second row.
    expect((await node.store.store(tickets[3]!)).inserted).toBe(false);
    node.queue.kick();

    await waitFor(() => node.store.stats().redeemed.count === 19, { what: "19 tickets redeemed" });
    const first = ticketHash(tickets[0]!) as Hash;
    expect(node.store.get(first)?.state).toBe("pending");
    expect(node.queue.waitReason(first)).toBe("params not expired");

    await rpc("anvil_mine", [toHex(22)]);
    await waitFor(() => node.store.stats().redeemed.count === 20, { what: "all 20 redeemed" });

    const faceTotal = tickets.reduce((s, t) => s + t.faceValue, 0n);
    const stats = node.store.stats();
    expect(stats.redeemed).toEqual({ count: 20, faceValue: faceTotal });
    expect(stats.pending.count + stats.submitted.count + stats.failed.count).toBe(0);
    const counts = await redemptionsByNonce();
    for (const t of tickets) expect(counts.get(t.senderNonce)).toBe(1);
    expect((await transferredTo(orch.address)) - feesBefore).toBe(faceTotal);
    // The orchestrator (fee share 100 %, no delegators, no reward call) earns them as pending fees.
    expect((await pendingFees()) - pendingFeesBefore).toBe(faceTotal);
    expect(depositBefore - (await deposit())).toBe(faceTotal);
    // Every stored redemption points at a mined transaction that emitted the ticket's redemption.
    for (const t of tickets) {
      const stored = node.store.get(ticketHash(t) as Hash)!;
      const receipt = await direct.getTransactionReceipt({ hash: stored.redeemTxHash! });
      expect(receipt.status).toBe("success");
      expect(receipt.blockNumber).toBe(stored.redeemBlock);
    }
  }, 30_000);

  it("a queue stopped with tickets submitted and pending, reopened on the same file, redeems each once", async () => {
    const dir = tempDir();
    await rpc("evm_setAutomine", [false]);
    const first = await startNode(dir);
    const tickets: SignedTicket[] = [];
    for (let i = 0; i < 5; i++) tickets.push(await makeTicket(parseEther("0.02") + BigInt(i)));
    // Params already expired at the next block: anvil does not mine now, so make one to see them.
    await rpc("evm_mine");
    for (const t of tickets) await first.store.store(t);
    first.queue.kick();
    const submitted = await waitFor(
      () => first.store.listAll("submitted").find((s) => s.txHashes.length > 0),
      { what: "a ticket submitted with its transaction" },
    );
    await first.stop();
    const afterStop = await (async () => {
      const db = openDatabase(dir);
      const s = TicketStore.open(db);
      const st = s.stats();
      closeDatabase(db);
      return st;
    })();
    expect(afterStop.submitted.count).toBe(1);
    expect(afterStop.pending.count).toBe(4);
    expect(afterStop.redeemed.count).toBe(0);

    // The new node finds the old transaction still in the mempool: it waits for it, sends no other.
    const second = await startNode(dir);
    await waitFor(() => second.queue.waitReason(submitted.hash) === "transaction in flight", {
      what: "the submitted ticket seen in flight",
    });
    await rpc("evm_setAutomine", [true]);
    await rpc("evm_mine");
    await waitFor(() => second.store.stats().redeemed.count === 5, { what: "5 redeemed after restart" });
    // Redeemed by the transaction the first node sent (or its replacement), not by a new one.
    const settled = second.store.get(submitted.hash)!;
    expect(settled.txHashes.slice(0, submitted.txHashes.length)).toEqual(submitted.txHashes);
    expect(submitted.txHashes).toContain(settled.redeemTxHash);
    const counts = await redemptionsByNonce();
    for (const t of tickets) expect(counts.get(t.senderNonce)).toBe(1);
  }, 30_000);

  it("an RPC outage mid-redemption: the tickets are redeemed once it is back, none twice", async () => {
    let cut = false;
    const node = await startNode(tempDir(), {
      onTx: (e) => {
        // Cut the RPC right after the first redemption is broadcast, before its receipt is read.
        if (e.kind === "sent" && !cut) {
          cut = true;
          proxy.down();
        }
      },
    });
    const tickets: SignedTicket[] = [];
    for (let i = 0; i < 4; i++) tickets.push(await makeTicket(parseEther("0.03") + BigInt(i)));
    for (const t of tickets) await node.store.store(t);
    node.queue.kick();
    await waitFor(() => cut, { what: "the first redemption sent" });
    // Down for longer than the TxManager's receipt wait: the ticket stays submitted, nothing lost.
    await new Promise((r) => setTimeout(r, 2_000));
    const during = node.store.stats();
    expect(during).toMatchObject({ submitted: { count: 1 }, pending: { count: 3 }, redeemed: { count: 0 } });
    const [inFlight] = node.store.listAll("submitted");
    expect(inFlight!.txHashes).toHaveLength(1);
    proxy.up();
    await waitFor(() => node.store.stats().redeemed.count === 4, { what: "4 redeemed after the outage" });
    // Settled from the receipt of the transaction sent before the outage, not sent again.
    expect(node.store.get(inFlight!.hash)?.redeemTxHash).toBe(inFlight!.txHashes[0]);
    const counts = await redemptionsByNonce();
    for (const t of tickets) expect(counts.get(t.senderNonce)).toBe(1);
  }, 30_000);
});
