import pino from "pino";
import {
  createPublicClient,
  createWalletClient,
  encodePacked,
  type Hash,
  http,
  keccak256,
  type LocalAccount,
  maxUint256,
  type PublicClient,
  parseEther,
  parseGwei,
  toHex,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { foundry } from "viem/chains";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { bondingManagerAbi, livepeerTokenAbi, ticketBrokerAbi } from "../../../src/eth/abis.js";
import { ChainClient } from "../../../src/eth/ChainClient.js";
import { advanceToNextRound, type DevnetDeployment, deployDevnet } from "../../../src/eth/deploy.js";
import { type EthError, EthRevertError, EthTxNotMinedError } from "../../../src/eth/errors.js";
import { chainConfigFromOptions } from "../../../src/eth/networks.js";
import { type TxEvent, TxManager, type TxManagerOptions } from "../../../src/eth/TxManager.js";
import { ANVIL_KEYS, type Anvil, startAnvil } from "../../helpers/anvil.js";

const [deployerKey, orchKey, gatewayKey, otherKey] = ANVIL_KEYS;
const deployer = privateKeyToAccount(deployerKey);
const orch = privateKeyToAccount(orchKey);
const gateway = privateKeyToAccount(gatewayKey);
const other = privateKeyToAccount(otherKey);

let anvil: Anvil;
let publicClient: PublicClient;
let dev: DevnetDeployment;
let client: ChainClient;

type Rpc = (args: { method: string; params: unknown[] }) => Promise<unknown>;
const rpc = (method: string, params: unknown[] = []) =>
  (publicClient.request as unknown as Rpc)({ method, params });
const mine = () => rpc("evm_mine");

function manager(
  account: LocalAccount,
  options: Partial<TxManagerOptions> = {},
): { tx: TxManager; events: TxEvent[] } {
  const events: TxEvent[] = [];
  const onEvent = options.onEvent;
  const tx = new TxManager(
    {
      chainId: client.chainId,
      maxGasPrice: null,
      gasLimit: null,
      txTimeoutMs: 10_000,
      maxReplacements: 1,
      pollIntervalMs: 20,
      ...options,
      onEvent: (e) => {
        events.push(e);
        onEvent?.(e);
      },
    },
    { publicClient: client.publicClient, account },
  );
  return { tx, events };
}

const nonceOf = (address: `0x${string}`, blockTag: "latest" | "pending" = "latest") =>
  publicClient.getTransactionCount({ address, blockTag });

const approve = (tx: TxManager, amount = 1n) =>
  tx.writeContract({
    address: client.addresses.LivepeerToken,
    abi: livepeerTokenAbi,
    functionName: "approve",
    args: [client.addresses.BondingManager, amount],
  });

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (e: unknown) => e,
  );
}

beforeAll(async () => {
  anvil = await startAnvil();
  publicClient = createPublicClient({ chain: foundry, transport: http(anvil.url) }) as PublicClient;
  const wallet = createWalletClient({ account: deployer, chain: foundry, transport: http(anvil.url) });
  dev = await deployDevnet({ wallet, publicClient });
  await advanceToNextRound({ wallet, publicClient }, dev.contracts.RoundsManager);
  const { config } = chainConfigFromOptions({
    network: "devnet",
    ethUrl: anvil.url,
    ethController: dev.controller,
  });
  client = await ChainClient.connect({ config: config! });
});

afterAll(async () => {
  await anvil?.stop();
});

afterEach(async () => {
  await rpc("evm_setAutomine", [true]);
});

describe("TxManager", () => {
  it("sends, waits for the receipt and keeps a nonce sequence, one transaction at a time", async () => {
    const { tx, events } = manager(orch);
    const before = await nonceOf(orch.address);
    const results = await Promise.all([approve(tx, 1n), approve(tx, 2n), approve(tx, 3n)]);
    expect(results.map((r) => r.nonce)).toEqual([before, before + 1, before + 2]);
    for (const r of results) expect(r.receipt.status).toBe("success");
    expect(await nonceOf(orch.address)).toBe(before + 3);
    // Serialised: each was mined before the next was sent.
    expect(events.map((e) => e.kind)).toEqual(["sent", "mined", "sent", "mined", "sent", "mined"]);
    expect(await client.allowance(orch.address, client.addresses.BondingManager)).toBe(3n);
    // The gas limit is the estimate plus 20 %.
    const sent = events[0] as Extract<TxEvent, { kind: "sent" | "replaced" }>;
    const estimate = await publicClient.estimateGas({
      account: orch.address,
      to: client.addresses.LivepeerToken,
      data: (await publicClient.getTransaction({ hash: results[0]!.hash })).input,
    });
    expect(sent.gas).toBeGreaterThan(estimate);
  });

  it("turns a revert in the estimate into a typed error with the reason, and sends nothing", async () => {
    const { tx, events } = manager(other);
    const before = await nonceOf(other.address, "pending");

    const noAllowance = await rejection(
      tx.writeContract({
        address: client.addresses.BondingManager,
        abi: bondingManagerAbi,
        functionName: "bond",
        args: [parseEther("1"), other.address],
      }),
    );
    expect(noAllowance).toBeInstanceOf(EthRevertError);
    expect((noAllowance as EthRevertError).reason).toBe("ERC20: insufficient allowance");
    expect((noAllowance as EthRevertError).txHash).toBeUndefined();

    const unfunded = await rejection(
      tx.writeContract({
        address: client.addresses.TicketBroker,
        abi: ticketBrokerAbi,
        functionName: "unlock",
      }),
    );
    expect((unfunded as EthRevertError).reason).toBe("sender deposit and reserve are zero");
    expect(events).toEqual([]);
    expect(await nonceOf(other.address, "pending")).toBe(before);
    // The nonce was never taken: the next transaction uses it.
    expect((await approve(tx)).nonce).toBe(before);
  });

  it("decodes the reason of a revert in a mined transaction (redeeming a ticket of an unfunded sender)", async () => {
    // A fixed gas limit skips the estimate, so the revert shows up in the receipt.
    const { tx } = manager(orch, { gasLimit: 500_000n });
    const round = await client.currentRound();
    const blockHash = await client.blockHashForRound(round);
    const rand = 5n;
    const ticket = {
      recipient: orch.address,
      sender: gateway.address,
      faceValue: 1000n,
      winProb: maxUint256,
      senderNonce: 1n,
      recipientRandHash: keccak256(encodePacked(["uint256"], [rand])),
      auxData: encodePacked(["uint256", "bytes32"], [round, blockHash]),
    };
    const hash = await client.contracts.ticketBroker.read.getTicketHash([ticket]);
    const sig = await gateway.signMessage({ message: { raw: hash } });
    const before = await nonceOf(orch.address);
    const err = await rejection(
      tx.writeContract({
        address: client.addresses.TicketBroker,
        abi: ticketBrokerAbi,
        functionName: "redeemWinningTicket",
        args: [ticket, sig, rand],
      }),
    );
    expect(err).toBeInstanceOf(EthRevertError);
    expect((err as EthRevertError).reason).toBe("sender deposit and reserve are zero");
    const txHash = (err as EthRevertError).txHash!;
    expect((await publicClient.getTransactionReceipt({ hash: txHash })).status).toBe("reverted");
    expect(await nonceOf(orch.address)).toBe(before + 1);
    expect(await client.isUsedTicket(hash)).toBe(false);
  });

  it("replaces a stuck transaction with the same nonce and higher fees; only one version is mined", async () => {
    await rpc("evm_setAutomine", [false]);
    const { tx, events } = manager(orch, {
      txTimeoutMs: 300,
      maxReplacements: 2,
      onEvent: (e) => {
        // The chain mines only once the replacement is in the pool.
        if (e.kind === "replaced") void mine();
      },
    });
    const before = await nonceOf(orch.address);
    const result = await approve(tx, 7n);

    const sent = events.filter((e) => e.kind === "sent" || e.kind === "replaced") as Extract<
      TxEvent,
      { kind: "sent" | "replaced" }
    >[];
    expect(sent.map((e) => e.kind)).toEqual(["sent", "replaced"]);
    const [original, replacement] = sent as [(typeof sent)[0], (typeof sent)[0]];
    expect(replacement.nonce).toBe(original.nonce);
    expect(replacement.hash).not.toBe(original.hash);
    expect(replacement.maxFeePerGas * 100n).toBeGreaterThanOrEqual(original.maxFeePerGas * 110n);
    expect(replacement.maxPriorityFeePerGas * 100n).toBeGreaterThanOrEqual(
      original.maxPriorityFeePerGas * 110n,
    );

    expect(result.hash).toBe(replacement.hash);
    expect(result.hashes).toEqual([original.hash, replacement.hash]);
    expect(await nonceOf(orch.address)).toBe(before + 1);
    await expect(publicClient.getTransactionReceipt({ hash: original.hash })).rejects.toThrow(
      /could not be found/,
    );
    expect((await publicClient.getTransactionReceipt({ hash: replacement.hash })).status).toBe("success");
  });

  it("gives up with a typed error after -maxTransactionReplacements, and never reuses the nonce", async () => {
    await rpc("evm_setAutomine", [false]);
    const { tx } = manager(orch, { txTimeoutMs: 150, maxReplacements: 1 });
    const before = await nonceOf(orch.address);
    const err = await rejection(approve(tx, 8n));
    expect(err).toBeInstanceOf(EthTxNotMinedError);
    expect((err as EthTxNotMinedError).code).toBe("ETH_TX_NOT_MINED");
    expect((err as EthTxNotMinedError).nonce).toBe(before);
    const hashes = (err as EthTxNotMinedError).hashes;
    expect(hashes).toHaveLength(2);

    await mine();
    expect(await nonceOf(orch.address)).toBe(before + 1);
    const mined: Hash[] = [];
    for (const hash of hashes) {
      try {
        await publicClient.getTransactionReceipt({ hash });
        mined.push(hash);
      } catch {}
    }
    expect(mined).toEqual([hashes[1]]);

    await rpc("evm_setAutomine", [true]);
    const next = await approve(tx, 9n);
    expect(next.nonce).toBe(before + 1);
  });

  it("holds a transaction while fees are above -maxGasPrice and sends it once they fall", async () => {
    const cap = parseGwei("5");
    await rpc("anvil_setNextBlockBaseFeePerGas", [toHex(parseGwei("50"))]);
    await mine();
    let waiting!: () => void;
    const waited = new Promise<void>((resolve) => {
      waiting = resolve;
    });
    const lines: { msg: string; maxGasPrice?: string }[] = [];
    const log = pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const { tx, events } = manager(orch, {
      maxGasPrice: cap,
      log,
      onEvent: (e) => {
        if (e.kind === "waiting-for-gas-price") waiting();
      },
    });
    const before = await nonceOf(orch.address, "pending");
    const pending = approve(tx, 10n);
    await waited;
    // Held: nothing broadcast yet, however long it waits.
    await new Promise((r) => setTimeout(r, 200));
    expect(await nonceOf(orch.address, "pending")).toBe(before);
    expect(events.some((e) => e.kind === "sent")).toBe(false);
    const held = events.find((e) => e.kind === "waiting-for-gas-price") as Extract<
      TxEvent,
      { kind: "waiting-for-gas-price" }
    >;
    expect(held.baseFee).toBe(parseGwei("50"));
    expect(held.maxGasPrice).toBe(cap);

    await rpc("anvil_setNextBlockBaseFeePerGas", [toHex(parseGwei("1"))]);
    await mine();
    const result = await pending;
    expect(result.receipt.status).toBe("success");
    // One clear line when it starts waiting (not one per poll), one when it sends.
    const messages = lines.map((l) => l.msg);
    expect(messages.filter((m) => m.includes("waiting for it to fall"))).toHaveLength(1);
    expect(messages).toContain("gas price under -maxGasPrice again: sending");
    const onChain = await publicClient.getTransaction({ hash: result.hash });
    expect(onChain.maxFeePerGas!).toBeLessThanOrEqual(cap);
    expect(onChain.nonce).toBe(before);
  });

  it("stops waiting for the gas price when aborted", async () => {
    await rpc("anvil_setNextBlockBaseFeePerGas", [toHex(parseGwei("50"))]);
    await mine();
    const controller = new AbortController();
    const { tx } = manager(orch, {
      maxGasPrice: parseGwei("5"),
      onEvent: (e) => {
        if (e.kind === "waiting-for-gas-price") controller.abort();
      },
    });
    const err = await rejection(
      tx.writeContract({
        address: client.addresses.LivepeerToken,
        abi: livepeerTokenAbi,
        functionName: "approve",
        args: [client.addresses.BondingManager, 1n],
        signal: controller.signal,
      }),
    );
    expect((err as EthError).code).toBe("ETH_GAS_PRICE_WAIT_ABORTED");
    await rpc("anvil_setNextBlockBaseFeePerGas", [toHex(parseGwei("1"))]);
    await mine();
  });
});
