import type { Address, Hash, Hex, TransactionReceipt } from "viem";
import { afterEach, describe, expect, it } from "vitest";
import { EthError, EthRevertError, EthTxNotMinedError } from "../../../src/eth/errors.js";
import type { TxResult } from "../../../src/eth/TxManager.js";
import {
  type FoundRedemption,
  type MinedTx,
  type RedeemRequest,
  type RedemptionChain,
  RedemptionQueue,
} from "../../../src/payments/RedemptionQueue.js";
import { TicketStore } from "../../../src/payments/TicketStore.js";
import { MAX_WIN_PROB } from "../../../src/payments/ticket.js";
import type { SignedTicket } from "../../../src/payments/types.js";
import { closeDatabase, openDatabase, type SqliteDb } from "../../../src/storage/db.js";
import { ManualClock } from "../../helpers/clock.js";

const ME = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266" as Address;
const A = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8" as Address;
const B = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC" as Address;
const STRANGER = "0x90F79bf6EB2c4f870365E785982E1f101E93b906" as Address;
const BROKER = "0x5FbDB2315678afecb367f032d93F642f64180aa3" as Address;
const REDEEM_GAS = 100n;
const ETH = 10n ** 18n;

const dbs: SqliteDb[] = [];
afterEach(() => {
  for (const d of dbs.splice(0)) closeDatabase(d);
});

let nonce = 0;
function ticket(sender: Address, fields: Partial<SignedTicket> = {}): SignedTicket {
  nonce++;
  return {
    recipient: ME,
    sender,
    faceValue: ETH,
    winProb: MAX_WIN_PROB,
    senderNonce: nonce,
    recipientRandHash: `0x${nonce.toString(16).padStart(64, "0")}` as Hex,
    creationRound: 10n,
    creationRoundBlockHash: `0x${"22".repeat(32)}` as Hex,
    paramsExpirationBlock: 100n,
    pricePerPixel: { num: 1n, den: 1n },
    sig: `0x${"33".repeat(64)}1b` as Hex,
    recipientRand: BigInt(nonce),
    ...fields,
  };
}

const txHash = (n: number) => `0x${n.toString(16).padStart(64, "0")}` as Hash;

/** The fakes: chain reads, a TxManager that mines at once (or as scripted), funds and rounds. */
function setup(options: { db?: SqliteDb } = {}) {
  const db = options.db ?? openDatabase("", { fileName: ":memory:" });
  if (!options.db) dbs.push(db);
  const store = TicketStore.open(db);
  const clock = new ManualClock();
  const chain = {
    used: new Set<Hash>(),
    gas: 1n,
    failReads: 0,
    receipts: new Map<Hash, MinedTx>(),
    mempool: new Set<Hash>(),
    redemptions: new Map<Hash, FoundRedemption>(),
    calls: [] as string[],
    read(what: string) {
      this.calls.push(what);
      if (this.failReads > 0) {
        this.failReads--;
        throw new EthError("ETH_RPC_UNAVAILABLE", "rpc down", { retryable: true });
      }
    },
  };
  const reads: RedemptionChain = {
    async isUsedTicket(hash) {
      chain.read("used");
      return chain.used.has(hash);
    },
    async gasPrice() {
      chain.read("gas");
      return chain.gas;
    },
    async receipt(h) {
      chain.read("receipt");
      return chain.receipts.get(h) ?? null;
    },
    async knowsTransaction(h) {
      chain.read("known");
      return chain.mempool.has(h) || chain.receipts.has(h);
    },
    async findRedemption(stored) {
      chain.read("find");
      return chain.redemptions.get(stored.hash) ?? null;
    },
  };
  let txCount = 0;
  type Script = (req: RedeemRequest, sent: (h: Hash) => void) => Promise<TxResult>;
  const tx = {
    address: ME,
    sent: [] as { sender: Address; nonce: number }[],
    script: null as Script | null,
    async writeContract(req: RedeemRequest): Promise<TxResult> {
      const [t] = req.args as unknown as [{ sender: Address; senderNonce: bigint }];
      this.sent.push({ sender: t.sender, nonce: Number(t.senderNonce) });
      const send = (h: Hash) => req.onSent?.(h, txCount);
      if (this.script) return this.script(req, send);
      const h = txHash(++txCount);
      send(h);
      return {
        hash: h,
        nonce: txCount,
        hashes: [h],
        receipt: { blockNumber: 500n, status: "success", transactionHash: h } as TransactionReceipt,
      };
    },
  };
  const funds = {
    available: new Map<Address, bigint>([
      [A, 100n * ETH],
      [B, 100n * ETH],
    ]),
    pending: 0n,
    async availableFunds(s: Address) {
      return (this.available.get(s) ?? 0n) - this.pending;
    },
    addPending(_: Address, v: bigint) {
      this.pending += v;
    },
    removePending(_: Address, v: bigint) {
      this.pending -= v;
    },
  };
  const rounds = {
    state: { currentRound: 10n, lastInitializedRound: 10n, lastSeenL1Block: 200n, initialized: true },
    subscribe: () => () => {},
  };
  const queue = new RedemptionQueue(
    { ticketBroker: BROKER, redeemGas: REDEEM_GAS, initialBackoffMs: 1_000, maxBackoffMs: 8_000 },
    { store, chain: reads, tx, funds, rounds, clock },
  );
  const run = async () => {
    queue.kick();
    await queue.idle();
  };
  return { db, store, clock, chain, tx, funds, rounds, queue, run };
}

const stateOf = (store: TicketStore, hash: Hash) => store.get(hash)?.state;

describe("RedemptionQueue", () => {
  it("redeems ripe tickets in order; one waiting for its params or round holds back no one", async () => {
    const q = setup();
    await q.queue.start(new AbortController().signal);
    const notRipe = await q.store.store(ticket(A, { paramsExpirationBlock: 300n }));
    const futureRound = await q.store.store(ticket(A, { creationRound: 11n }));
    const a1 = await q.store.store(ticket(A));
    const a2 = await q.store.store(ticket(A));
    const b1 = await q.store.store(ticket(B));
    await q.run();
    expect(q.tx.sent.map((s) => s.nonce).sort()).toEqual(
      [a1, a2, b1].map((x) => q.store.get(x.hash)!.ticket.senderNonce).sort(),
    );
    // Per sender, in the order stored.
    const aNonces = q.tx.sent.filter((s) => s.sender === A).map((s) => s.nonce);
    expect(aNonces).toEqual([...aNonces].sort((x, y) => x - y));
    for (const x of [a1, a2, b1])
      expect(q.store.get(x.hash)).toMatchObject({ state: "redeemed", redeemBlock: 500n });
    expect(q.queue.waitReason(notRipe.hash)).toBe("params not expired");
    expect(q.queue.waitReason(futureRound.hash)).toBe("creation round not initialized");

    q.rounds.state = {
      ...q.rounds.state,
      lastSeenL1Block: 300n,
      currentRound: 11n,
      lastInitializedRound: 11n,
    };
    await q.run();
    expect(stateOf(q.store, notRipe.hash)).toBe("redeemed");
    expect(stateOf(q.store, futureRound.hash)).toBe("redeemed");
    expect(q.tx.sent).toHaveLength(5);
    await q.run();
    expect(q.tx.sent).toHaveLength(5);
    await q.queue.stop();
  });

  it("add() stores durably and starts a pass; a duplicate is neither stored nor sent again", async () => {
    const q = setup();
    await q.queue.start(new AbortController().signal);
    const t = ticket(A);
    const first = await q.queue.add(t);
    expect(first.inserted).toBe(true);
    expect(q.store.get(first.hash)).not.toBeNull();
    await q.queue.idle();
    expect(stateOf(q.store, first.hash)).toBe("redeemed");
    expect((await q.queue.add({ ...t })).inserted).toBe(false);
    await q.queue.idle();
    expect(q.tx.sent).toHaveLength(1);
    expect(q.queue.status().redeemed).toEqual({ count: 1, faceValue: ETH });
    await q.queue.stop();
  });

  it("waits while an uninitialised current round makes the broker refuse redemptions", async () => {
    const q = setup();
    await q.queue.start(new AbortController().signal);
    const t = await q.store.store(ticket(A));
    q.rounds.state = { ...q.rounds.state, currentRound: 11n, initialized: false };
    await q.run();
    expect(q.queue.waitReason(t.hash)).toBe("current round not initialized");
    expect(q.tx.sent).toHaveLength(0);
    await q.queue.stop();
  });

  it("holds a sender's tickets while its funds do not cover the face value; others go; the last valid round takes what is there", async () => {
    const q = setup();
    await q.queue.start(new AbortController().signal);
    q.funds.available.set(A, ETH / 2n);
    const big = await q.store.store(ticket(A));
    const small = await q.store.store(ticket(A, { faceValue: ETH / 10n }));
    const other = await q.store.store(ticket(B));
    await q.run();
    expect(q.queue.waitReason(big.hash)).toBe("sender funds do not cover the face value");
    // The later, smaller ticket would take the funds the first waits for.
    expect(stateOf(q.store, small.hash)).toBe("pending");
    expect(stateOf(q.store, other.hash)).toBe("redeemed");

    // Its last valid round (created 10, valid 2 rounds): a partial payment beats expiry.
    q.rounds.state = { ...q.rounds.state, currentRound: 11n, lastInitializedRound: 11n };
    await q.run();
    expect(stateOf(q.store, big.hash)).toBe("redeemed");
    expect(stateOf(q.store, small.hash)).toBe("redeemed");
    await q.queue.stop();
  });

  it("funds at or below the transaction cost, or a face value not worth it, wait without sending", async () => {
    const q = setup();
    await q.queue.start(new AbortController().signal);
    q.chain.gas = ETH / REDEEM_GAS; // txCost = 1 ETH
    const t = await q.store.store(ticket(A)); // faceValue 1 ETH ≤ txCost
    await q.run();
    expect(q.queue.waitReason(t.hash)).toBe("insufficient ticket face value for redeem tx cost");
    expect(q.tx.sent).toHaveLength(0);
    q.chain.gas = 1n;
    q.funds.available.set(A, REDEEM_GAS);
    await q.run();
    expect(q.queue.waitReason(t.hash)).toBe("insufficient sender funds for redeem tx cost");
    expect(q.tx.sent).toHaveLength(0);
    q.funds.available.set(A, 10n * ETH);
    await q.run();
    expect(stateOf(q.store, t.hash)).toBe("redeemed");
    await q.queue.stop();
  });

  it("fails expired tickets with the reason and never sends them", async () => {
    const q = setup();
    await q.queue.start(new AbortController().signal);
    const t = await q.store.store(ticket(A, { creationRound: 8n }));
    const noAux = await q.store.store(
      ticket(A, { creationRound: 0n, creationRoundBlockHash: `0x${"00".repeat(32)}` as Hex }),
    );
    await q.run();
    expect(q.store.get(t.hash)).toMatchObject({
      state: "failed",
      reason: "ticket is expired: created in round 8, valid for 2 rounds, current round 10",
    });
    expect(q.store.get(noAux.hash)).toMatchObject({
      state: "failed",
      reason: "invalid length for ticket auxData: must be 64 bytes",
    });
    expect(q.tx.sent).toHaveLength(0);
    await q.queue.stop();
  });

  it("checks usedTickets first: used by someone else → failed; used by our own lost transaction → redeemed", async () => {
    const q = setup();
    await q.queue.start(new AbortController().signal);
    const theirs = await q.store.store(ticket(A));
    const ours = await q.store.store(ticket(A));
    q.chain.used.add(theirs.hash).add(ours.hash);
    q.chain.redemptions.set(theirs.hash, { txHash: txHash(901), blockNumber: 9n, from: STRANGER });
    q.chain.redemptions.set(ours.hash, { txHash: txHash(902), blockNumber: 9n, from: ME });
    await q.run();
    expect(q.store.get(theirs.hash)).toMatchObject({
      state: "failed",
      reason: `ticket already used by ${STRANGER} in ${txHash(901)}`,
    });
    expect(q.store.get(ours.hash)).toMatchObject({
      state: "redeemed",
      redeemTxHash: txHash(902),
      redeemBlock: 9n,
    });
    expect(q.tx.sent).toHaveLength(0);
    await q.queue.stop();
  });

  it("retries RPC failures with exponential backoff on the clock", async () => {
    const q = setup();
    await q.queue.start(new AbortController().signal);
    const t = await q.store.store(ticket(A));
    q.chain.failReads = 3;
    await q.run();
    expect(q.chain.calls).toEqual(["used"]);
    await q.clock.advance(999);
    await q.queue.idle();
    expect(q.chain.calls).toHaveLength(1);
    await q.clock.advance(1);
    await q.queue.idle();
    expect(q.chain.calls).toHaveLength(2);
    // Second failure: 2 s, third: 4 s.
    await q.clock.advance(1_999);
    await q.queue.idle();
    expect(q.chain.calls).toHaveLength(2);
    await q.clock.advance(1);
    await q.queue.idle();
    expect(q.chain.calls).toHaveLength(3);
    await q.clock.advance(4_000);
    await q.queue.idle();
    expect(stateOf(q.store, t.hash)).toBe("redeemed");
    expect(q.tx.sent).toHaveLength(1);
    await q.queue.stop();
  });

  it("a refused estimate sends nothing: a permanent reason fails the ticket, another retries it", async () => {
    const q = setup();
    await q.queue.start(new AbortController().signal);
    const lost = await q.store.store(ticket(A));
    const later = await q.store.store(ticket(B));
    q.tx.script = async (req) => {
      const [t] = req.args as unknown as [{ sender: Address }];
      throw new EthRevertError(
        "redeemWinningTicket",
        t.sender === A ? "ticket did not win" : "current round is not initialized",
      );
    };
    await q.run();
    expect(q.store.get(lost.hash)).toMatchObject({ state: "failed", reason: "ticket did not win" });
    expect(q.store.get(later.hash)).toMatchObject({ state: "pending", txHashes: [] });
    q.tx.script = null;
    await q.clock.advance(1_000);
    await q.queue.idle();
    expect(stateOf(q.store, later.hash)).toBe("redeemed");
    await q.queue.stop();
  });

  it("a mined revert of our own transaction is settled from the chain, not blindly retried", async () => {
    const q = setup();
    await q.queue.start(new AbortController().signal);
    const t = await q.store.store(ticket(A));
    q.tx.script = async (_req, sent) => {
      sent(txHash(77));
      q.chain.receipts.set(txHash(77), { status: "reverted", blockNumber: 5n });
      throw new EthRevertError("redeemWinningTicket", "ticket is expired", { txHash: txHash(77) });
    };
    await q.run();
    expect(q.store.get(t.hash)).toMatchObject({
      state: "failed",
      reason: "ticket is expired",
      txHashes: [txHash(77)],
    });
    await q.queue.stop();
  });

  it("keeps a ticket whose transaction went out but whose receipt is unknown 'submitted', and settles it by receipt", async () => {
    const q = setup();
    await q.queue.start(new AbortController().signal);
    const t = await q.store.store(ticket(A));
    q.tx.script = async (_req, sent) => {
      sent(txHash(1));
      // The TxManager replaced it (higher fees), then the RPC went away.
      sent(txHash(2));
      q.chain.mempool.add(txHash(1)).add(txHash(2));
      throw new EthTxNotMinedError("not mined", 0, [txHash(1), txHash(2)]);
    };
    await q.run();
    expect(q.store.get(t.hash)).toMatchObject({ state: "submitted", txHashes: [txHash(1), txHash(2)] });
    q.tx.script = null;
    // Still in the mempool: wait for it, never send another.
    await q.clock.advance(1_000);
    await q.queue.idle();
    expect(q.queue.waitReason(t.hash)).toBe("transaction in flight");
    expect(q.tx.sent).toHaveLength(1);
    // The replacement is mined.
    q.chain.receipts.set(txHash(2), { status: "success", blockNumber: 42n });
    await q.run();
    expect(q.store.get(t.hash)).toMatchObject({
      state: "redeemed",
      redeemTxHash: txHash(2),
      redeemBlock: 42n,
    });
    expect(q.tx.sent).toHaveLength(1);
    await q.queue.stop();
  });

  it("reconciles at start what a crashed run left submitted, then sends only what never went out", async () => {
    const db = openDatabase("", { fileName: ":memory:" });
    dbs.push(db);
    const before = TicketStore.open(db);
    const mined = await before.store(ticket(A));
    const neverSent = await before.store(ticket(A));
    const usedByUs = await before.store(ticket(B));
    for (const x of [mined, neverSent, usedByUs]) before.markSubmitted(x.hash);
    before.recordTx(mined.hash, txHash(10), 1);

    const q = setup({ db });
    q.chain.receipts.set(txHash(10), { status: "success", blockNumber: 77n });
    // The crash came after the broadcast but before its hash was stored.
    q.chain.used.add(usedByUs.hash);
    q.chain.redemptions.set(usedByUs.hash, { txHash: txHash(11), blockNumber: 78n, from: ME });
    await q.queue.start(new AbortController().signal);
    await q.queue.idle();
    await q.run();
    expect(q.store.get(mined.hash)).toMatchObject({ state: "redeemed", redeemTxHash: txHash(10) });
    expect(q.store.get(usedByUs.hash)).toMatchObject({ state: "redeemed", redeemTxHash: txHash(11) });
    expect(stateOf(q.store, neverSent.hash)).toBe("redeemed");
    expect(q.tx.sent.map((s) => s.nonce)).toEqual([q.store.get(neverSent.hash)!.ticket.senderNonce]);
    await q.queue.stop();
  });

  it("stop abandons the wait for a receipt: the ticket stays submitted with its transaction", async () => {
    const q = setup();
    await q.queue.start(new AbortController().signal);
    const t = await q.store.store(ticket(A));
    let aborted = false;
    q.tx.script = (req, sent) =>
      new Promise((_resolve, reject) => {
        sent(txHash(5));
        req.signal?.addEventListener("abort", () => {
          aborted = true;
          reject(new EthTxNotMinedError("aborted while waiting for the receipt", 0, [txHash(5)]));
        });
      });
    q.queue.kick();
    await new Promise((r) => setTimeout(r, 0));
    await q.queue.stop();
    expect(aborted).toBe(true);
    expect(q.store.get(t.hash)).toMatchObject({ state: "submitted", txHashes: [txHash(5)] });
    expect(q.funds.pending).toBe(0n);
  });
});
