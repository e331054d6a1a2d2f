import {
  type Hash,
  type Hex,
  HttpRequestError,
  keccak256,
  type PublicClient,
  parseGwei,
  parseTransaction,
  TransactionReceiptNotFoundError,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { describe, expect, it } from "vitest";
import {
  EthError,
  EthTxNotMinedError,
  redactUrl,
  revertReasonOf,
  toEthError,
} from "../../../src/eth/errors.js";
import { type TxEvent, TxManager, type TxManagerOptions } from "../../../src/eth/TxManager.js";

// A well-known test key (anvil's first account); never used on a real chain.
const account = privateKeyToAccount("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80");
const TO = "0x00000000000000000000000000000000000000aa" as const;
const down = () => new HttpRequestError({ url: "http://127.0.0.1:1/key", details: "fetch failed" });

/**
 * A scripted node: a mempool of raw transactions, a pending nonce, a base fee and tip, and switches
 * for an RPC outage. Enough of viem's PublicClient for the TxManager; everything else throws.
 */
class ScriptedNode {
  baseFee = parseGwei("1");
  tip = parseGwei("1");
  pendingNonce = 0;
  isDown = false;
  /** When set, sendRawTransaction delivers the transaction and then fails as if the connection dropped. */
  dropAfterDelivery = false;
  mined = new Map<Hash, { status: "success" | "reverted" }>();
  pool: { hash: Hash; nonce: number; maxFeePerGas: bigint; tip: bigint }[] = [];

  client(): PublicClient {
    const guard = <T>(fn: () => T): Promise<T> =>
      this.isDown ? Promise.reject(down()) : Promise.resolve().then(fn);
    return {
      getBlock: () => guard(() => ({ baseFeePerGas: this.baseFee })),
      estimateMaxPriorityFeePerGas: () => guard(() => this.tip),
      estimateGas: () => guard(() => 100_000n),
      getTransactionCount: () => guard(() => this.pendingNonce),
      sendRawTransaction: ({ serializedTransaction }: { serializedTransaction: Hex }) =>
        guard(() => {
          const tx = parseTransaction(serializedTransaction);
          const hash = keccak256(serializedTransaction);
          this.pool.push({
            hash,
            nonce: tx.nonce!,
            maxFeePerGas: tx.maxFeePerGas!,
            tip: tx.maxPriorityFeePerGas!,
          });
          this.pendingNonce = Math.max(this.pendingNonce, tx.nonce! + 1);
          if (this.dropAfterDelivery) throw down();
          return hash;
        }),
      getTransactionReceipt: ({ hash }: { hash: Hash }) =>
        guard(() => {
          const m = this.mined.get(hash);
          if (!m) throw new TransactionReceiptNotFoundError({ hash });
          return { transactionHash: hash, status: m.status, blockNumber: 1n, gasUsed: 21_000n, logs: [] };
        }),
      call: () => guard(() => ({ data: undefined })),
    } as unknown as PublicClient;
  }

  /** Mines the pool's last transaction (the newest version). */
  mineLast(): void {
    const last = this.pool.at(-1);
    if (last) this.mined.set(last.hash, { status: "success" });
  }
}

function manager(node: ScriptedNode, options: Partial<TxManagerOptions> = {}) {
  const events: TxEvent[] = [];
  const tx = new TxManager(
    {
      chainId: 31337,
      maxGasPrice: null,
      gasLimit: null,
      txTimeoutMs: 60,
      maxReplacements: 1,
      pollIntervalMs: 5,
      ...options,
      onEvent: (e) => {
        events.push(e);
        options.onEvent?.(e);
      },
    },
    { publicClient: node.client(), account },
  );
  return { tx, events };
}

const send = (tx: TxManager) => tx.send({ to: TO, data: "0x", label: "test" });

describe("TxManager (scripted node)", () => {
  it("pads the gas estimate by 20 % and sets EIP-1559 fees (2 x base fee + tip)", async () => {
    const node = new ScriptedNode();
    const { tx, events } = manager(node, { onEvent: () => node.mineLast() });
    await send(tx);
    expect(events[0]).toMatchObject({
      kind: "sent",
      gas: 120_000n,
      maxFeePerGas: parseGwei("3"),
      maxPriorityFeePerGas: parseGwei("1"),
    });
  });

  it("raises the tip to -minGasPrice", async () => {
    const node = new ScriptedNode();
    const { tx, events } = manager(node, { minGasPrice: parseGwei("2"), onEvent: () => node.mineLast() });
    await send(tx);
    expect(events[0]).toMatchObject({ maxPriorityFeePerGas: parseGwei("2"), maxFeePerGas: parseGwei("4") });
  });

  it("never sends above -maxGasPrice: the max fee is clipped to the cap", async () => {
    const node = new ScriptedNode();
    const { tx } = manager(node, { maxGasPrice: parseGwei("2.5"), onEvent: () => node.mineLast() });
    await send(tx);
    expect(node.pool[0]!.maxFeePerGas).toBe(parseGwei("2.5"));
  });

  it("does not replace above the cap: it gives up with a typed error instead", async () => {
    const node = new ScriptedNode();
    const { tx } = manager(node, { maxGasPrice: parseGwei("3") });
    const err = await send(tx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EthTxNotMinedError);
    expect((err as Error).message).toContain("-maxGasPrice");
    expect(node.pool).toHaveLength(1);
  });

  it("bumps both fees by more than 10 % per replacement, keeping the nonce", async () => {
    const node = new ScriptedNode();
    const { tx } = manager(node, { maxReplacements: 3 });
    const err = await send(tx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EthTxNotMinedError);
    expect(node.pool).toHaveLength(4);
    expect(new Set(node.pool.map((p) => p.nonce))).toEqual(new Set([0]));
    for (let i = 1; i < node.pool.length; i++) {
      expect(node.pool[i]!.maxFeePerGas * 100n).toBeGreaterThanOrEqual(node.pool[i - 1]!.maxFeePerGas * 110n);
      expect(node.pool[i]!.tip * 100n).toBeGreaterThanOrEqual(node.pool[i - 1]!.tip * 110n);
    }
    expect((err as EthTxNotMinedError).hashes).toEqual(node.pool.map((p) => p.hash));
  });

  it("after a broadcast whose outcome is unknown, rereads the nonce: a delivered transaction is not reused", async () => {
    const node = new ScriptedNode();
    const { tx } = manager(node, { onEvent: () => node.mineLast() });
    node.dropAfterDelivery = true;
    const err = await send(tx).catch((e: unknown) => e);
    expect((err as EthError).code).toBe("ETH_RPC_UNAVAILABLE");
    node.dropAfterDelivery = false;
    const next = await send(tx);
    expect(node.pool.map((p) => p.nonce)).toEqual([0, 1]);
    expect(next.nonce).toBe(1);
  });

  it("after a broadcast that never reached the node, the nonce is used by the next transaction", async () => {
    const node = new ScriptedNode();
    const { tx } = manager(node, { onEvent: () => node.mineLast() });
    const first = await send(tx);
    expect(first.nonce).toBe(0);
    // Down for the fee read: nothing taken, nothing sent.
    node.isDown = true;
    const err = await send(tx).catch((e: unknown) => e);
    expect((err as EthError).code).toBe("ETH_RPC_UNAVAILABLE");
    expect((err as EthError).retryable).toBe(true);
    node.isDown = false;
    expect((await send(tx)).nonce).toBe(1);
  });

  it("keeps its own sequence when the node forgets a pending transaction, and follows the node when it is ahead", async () => {
    const node = new ScriptedNode();
    const { tx } = manager(node, { onEvent: () => node.mineLast() });
    await send(tx);
    node.pendingNonce = 0; // the node lost our transaction from its pool
    expect((await send(tx)).nonce).toBe(1);
    node.pendingNonce = 7; // someone else sent from this account
    expect((await send(tx)).nonce).toBe(7);
  });

  it("an RPC that goes away while waiting for the receipt gives a typed error, and the next call works", async () => {
    const node = new ScriptedNode();
    const { tx } = manager(node, {
      onEvent: (e) => {
        if (e.kind === "sent") node.isDown = true;
      },
    });
    const err = await send(tx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EthTxNotMinedError);
    expect((err as Error).message).toContain("did not answer");
    expect((err as Error).message).not.toContain("/key");
    node.isDown = false;
    node.mineLast();
    // The transaction of the failed call is mined; the sequence moves on.
    const { tx: again } = manager(node, { onEvent: () => node.mineLast() });
    expect((await send(again)).nonce).toBe(1);
  });

  it("replaces as usual when the RPC was down for a while but answers again by the timeout", async () => {
    const node = new ScriptedNode();
    const { tx, events } = manager(node, {
      txTimeoutMs: 80,
      onEvent: (e) => {
        if (e.kind === "sent") {
          node.isDown = true;
          setTimeout(() => {
            node.isDown = false;
          }, 20);
        }
        if (e.kind === "replaced") node.mineLast();
      },
    });
    const result = await send(tx);
    expect(events.filter((e) => e.kind === "replaced")).toHaveLength(1);
    expect(result.hashes).toHaveLength(2);
  });

  it("is serialised: a failed call does not stop the queue", async () => {
    const node = new ScriptedNode();
    const { tx } = manager(node, { onEvent: () => node.mineLast() });
    node.isDown = true;
    const a = send(tx);
    // Runs when the first call has failed, before the queued one starts.
    const aFailed = a.catch((e: unknown) => {
      node.isDown = false;
      return e;
    });
    const b = send(tx);
    expect(await aFailed).toBeInstanceOf(EthError);
    expect((await b).nonce).toBe(0);
  });
});

describe("eth errors", () => {
  it("keeps only scheme and host of URLs (API keys live in paths and queries)", () => {
    expect(redactUrl("POST https://user:pw@arb.example/v2/SECRET?key=x failed")).toBe(
      "POST https://arb.example failed",
    );
  });

  it("classifies an RPC that does not answer as retryable ETH_RPC_UNAVAILABLE", () => {
    const e = toEthError(down(), "eth_call");
    expect(e.code).toBe("ETH_RPC_UNAVAILABLE");
    expect(e.retryable).toBe(true);
    expect(e.message).not.toContain("/key");
    expect(revertReasonOf(down())).toBeUndefined();
  });
});
