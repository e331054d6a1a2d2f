import type { Address, Hex } from "viem";
import { describe, expect, it } from "vitest";
import { isLpError } from "../../../src/errors/LpError.js";
import type { SenderInfo } from "../../../src/eth/ChainClient.js";
import type { WatchedEvent } from "../../../src/eth/events.js";
import {
  DEFAULT_SENDER_CLEANUP_INTERVAL_MS,
  DEFAULT_SENDER_TTL_MS,
  maxFloatOf,
  reserveAllocOf,
  SenderMonitor,
} from "../../../src/payments/SenderMonitor.js";
import { ManualClock } from "../../helpers/clock.js";

const ME = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266" as Address;
const OTHER_ORCH = "0x90F79bf6EB2c4f870365E785982E1f101E93b906" as Address;
const SENDER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8" as Address;

interface RoundsState {
  lastInitializedRound: bigint;
  transcoderPoolSize: bigint;
}

/** Fake chain reads and round source; counts the reads. */
function setup(
  info: Partial<SenderInfo> & { fundsRemaining?: bigint; claimedInCurrentRound?: bigint } = {},
  options: { claimed?: bigint; pool?: bigint; round?: bigint } = {},
) {
  const chain = {
    info: {
      deposit: info.deposit ?? 0n,
      withdrawRound: info.withdrawRound ?? 0n,
      reserve: {
        fundsRemaining: info.fundsRemaining ?? 0n,
        claimedInCurrentRound: info.claimedInCurrentRound ?? 0n,
      },
    } as SenderInfo,
    claimed: options.claimed ?? 0n,
    reads: 0,
    fail: null as Error | null,
    async senderInfo(_: Address): Promise<SenderInfo> {
      this.reads++;
      await Promise.resolve();
      if (this.fail) throw this.fail;
      return structuredClone(this.info);
    },
    async claimedReserve(_holder: Address, claimant: Address): Promise<bigint> {
      expect(claimant).toBe(ME);
      return this.claimed;
    },
  };
  const handlers = new Set<(s: RoundsState, p: RoundsState | null) => unknown>();
  const rounds = {
    state: {
      lastInitializedRound: options.round ?? 5n,
      transcoderPoolSize: options.pool ?? 1n,
    } as RoundsState,
    subscribe(h: (s: RoundsState, p: RoundsState | null) => unknown) {
      handlers.add(h);
      return () => handlers.delete(h);
    },
    set(next: Partial<RoundsState>) {
      const prev = this.state;
      this.state = { ...prev, ...next };
      for (const h of handlers) h(this.state, prev);
    },
  };
  const eventHandlers = new Set<(e: WatchedEvent) => unknown>();
  const events = {
    subscribe(h: (e: WatchedEvent) => unknown) {
      eventHandlers.add(h);
      return () => eventHandlers.delete(h);
    },
    emit(e: Record<string, unknown>, removed = false) {
      const full = {
        contract: "TicketBroker",
        address: ME,
        blockNumber: 1n,
        blockHash: `0x${"00".repeat(32)}` as Hex,
        transactionHash: `0x${"00".repeat(32)}` as Hex,
        transactionIndex: 0,
        logIndex: 0,
        removed,
        ...e,
      } as unknown as WatchedEvent;
      for (const h of eventHandlers) h(full);
    },
  };
  const clock = new ManualClock();
  const monitor = new SenderMonitor({ recipient: ME }, { chain, rounds, events, clock });
  return { chain, rounds, events, clock, monitor };
}

describe("SenderMonitor: go-livepeer's vectors (pm/sendermonitor_test.go)", () => {
  it("TestMaxFloat: deposit 500, reserve 500, claimed 100, pool 50 → −90", async () => {
    const { monitor } = setup({ deposit: 500n, fundsRemaining: 500n }, { claimed: 100n, pool: 50n });
    expect(await monitor.maxFloat(SENDER)).toBe(-90n);
    expect(
      maxFloatOf(
        { deposit: 500n, reserve: 500n, claimedInCurrentRound: 0n, claimedReserve: 100n, pending: 0n },
        50n,
      ),
    ).toBe(-90n);
  });

  it("TestMaxFloat_MinDepositPendingRatio: pending lowers the max float unless deposit ≥ 3 × pending", async () => {
    const base = { reserve: 500n, claimedInCurrentRound: 0n, claimedReserve: 0n, pending: 100n };
    expect(maxFloatOf({ ...base, deposit: 400n }, 1n)).toBe(500n);
    expect(maxFloatOf({ ...base, deposit: 300n }, 1n)).toBe(500n);
    expect(maxFloatOf({ ...base, deposit: 200n }, 1n)).toBe(400n);
    expect(maxFloatOf({ ...base, deposit: 0n }, 1n)).toBe(400n);
    expect(maxFloatOf({ ...base, deposit: 0n, pending: 0n }, 1n)).toBe(500n);

    const { monitor } = setup({ deposit: 200n, fundsRemaining: 500n });
    await monitor.sender(SENDER);
    monitor.addPending(SENDER, 100n);
    expect(await monitor.maxFloat(SENDER)).toBe(400n);
    monitor.removePending(SENDER, 100n);
    expect(await monitor.maxFloat(SENDER)).toBe(500n);
  });

  it("TestAvailableFunds: deposit 500, reserve 1000, pool 1 → 1500, then 1400 with 100 pending", async () => {
    const { monitor } = setup({ deposit: 500n, fundsRemaining: 1000n });
    expect(await monitor.availableFunds(SENDER)).toBe(1500n);
    monitor.addPending(SENDER, 100n);
    expect(await monitor.availableFunds(SENDER)).toBe(1400n);
  });

  it("TestReserveAlloc: reserve 5000, claimed 100, pool 5 → 900; an empty pool allocates nothing", async () => {
    const { monitor, rounds } = setup({ fundsRemaining: 5000n }, { claimed: 100n, pool: 5n });
    expect(await monitor.reserveAlloc(SENDER)).toBe(900n);
    rounds.set({ transcoderPoolSize: 0n });
    expect(await monitor.reserveAlloc(SENDER)).toBe(0n);
    // Reserve already claimed by others this round counts toward the pool's share.
    expect(reserveAllocOf({ reserve: 400n, claimedInCurrentRound: 100n, claimedReserve: 0n }, 5n)).toBe(100n);
  });
});

describe("SenderMonitor: chain reads and events", () => {
  it("reads a sender once, even for concurrent first uses", async () => {
    const { monitor, chain } = setup({ deposit: 1n });
    await Promise.all([monitor.sender(SENDER), monitor.maxFloat(SENDER), monitor.availableFunds(SENDER)]);
    await monitor.sender(SENDER.toLowerCase() as Address);
    expect(chain.reads).toBe(1);
  });

  it("applies DepositFunded, ReserveFunded, Unlock, UnlockCancelled and Withdrawal", async () => {
    const { monitor, events } = setup({ deposit: 100n, fundsRemaining: 50n });
    await monitor.start(new AbortController().signal);
    await monitor.sender(SENDER);
    events.emit({ eventName: "DepositFunded", args: { sender: SENDER, amount: 10n } });
    events.emit({ eventName: "ReserveFunded", args: { reserveHolder: SENDER, amount: 5n } });
    expect(await monitor.sender(SENDER)).toMatchObject({ deposit: 110n, reserve: 55n });
    events.emit({ eventName: "Unlock", args: { sender: SENDER, startRound: 5n, endRound: 7n } });
    expect((await monitor.sender(SENDER)).withdrawRound).toBe(7n);
    events.emit({ eventName: "UnlockCancelled", args: { sender: SENDER } });
    expect((await monitor.sender(SENDER)).withdrawRound).toBe(0n);
    events.emit({ eventName: "Withdrawal", args: { sender: SENDER, deposit: 110n, reserve: 55n } });
    expect(await monitor.sender(SENDER)).toMatchObject({ deposit: 0n, reserve: 0n, claimedReserve: 0n });
    await monitor.stop();
  });

  it("WinningTicketTransfer takes from the deposit, then from the reserve, counting what this recipient claimed", async () => {
    const { monitor, events } = setup({ deposit: 100n, fundsRemaining: 1000n }, { pool: 2n });
    await monitor.start(new AbortController().signal);
    await monitor.sender(SENDER);
    events.emit({ eventName: "WinningTicketTransfer", args: { sender: SENDER, recipient: ME, amount: 60n } });
    expect(await monitor.sender(SENDER)).toMatchObject({ deposit: 40n, reserve: 1000n, claimedReserve: 0n });
    events.emit({
      eventName: "WinningTicketTransfer",
      args: { sender: SENDER, recipient: ME, amount: 140n },
    });
    expect(await monitor.sender(SENDER)).toMatchObject({
      deposit: 0n,
      reserve: 900n,
      claimedInCurrentRound: 100n,
      claimedReserve: 100n,
    });
    // (900 + 100) / 2 − 100
    expect(await monitor.reserveAlloc(SENDER)).toBe(400n);
    events.emit({
      eventName: "WinningTicketTransfer",
      args: { sender: SENDER, recipient: OTHER_ORCH, amount: 50n },
    });
    expect(await monitor.sender(SENDER)).toMatchObject({
      reserve: 850n,
      claimedInCurrentRound: 150n,
      claimedReserve: 100n,
    });
    await monitor.stop();
  });

  it("a new round clears the claims; a new pool size and reserve events notify max-float listeners", async () => {
    const { monitor, events, rounds } = setup({ fundsRemaining: 1000n }, { claimed: 100n, pool: 2n });
    await monitor.start(new AbortController().signal);
    let calls = 0;
    const off = monitor.onMaxFloatChange(SENDER, () => calls++);
    expect(await monitor.maxFloat(SENDER)).toBe(400n);
    rounds.set({ lastInitializedRound: 6n });
    expect(await monitor.maxFloat(SENDER)).toBe(500n);
    expect(calls).toBe(1);
    rounds.set({ transcoderPoolSize: 4n });
    expect(calls).toBe(2);
    expect(await monitor.maxFloat(SENDER)).toBe(250n);
    events.emit({ eventName: "ReserveFunded", args: { reserveHolder: SENDER, amount: 4n } });
    expect(calls).toBe(3);
    off();
    events.emit({ eventName: "ReserveFunded", args: { reserveHolder: SENDER, amount: 4n } });
    expect(calls).toBe(3);
    await monitor.stop();
  });

  it("an event undone by a reorg re-reads the sender from the chain", async () => {
    const { monitor, events, chain } = setup({ deposit: 100n });
    await monitor.start(new AbortController().signal);
    await monitor.sender(SENDER);
    events.emit({ eventName: "DepositFunded", args: { sender: SENDER, amount: 10n } });
    chain.info.deposit = 100n;
    events.emit({ eventName: "DepositFunded", args: { sender: SENDER, amount: 10n } }, true);
    await new Promise((r) => setTimeout(r, 0));
    await new Promise((r) => setTimeout(r, 0));
    expect((await monitor.sender(SENDER)).deposit).toBe(100n);
    expect(chain.reads).toBe(2);
    await monitor.stop();
  });

  it("ignores events of senders it does not keep (they are read fresh on first use)", async () => {
    const { monitor, events, chain } = setup({ deposit: 7n });
    await monitor.start(new AbortController().signal);
    events.emit({ eventName: "DepositFunded", args: { sender: SENDER, amount: 10n } });
    expect(monitor.knownSenders()).toEqual([]);
    expect((await monitor.sender(SENDER)).deposit).toBe(7n);
    expect(chain.reads).toBe(1);
    await monitor.stop();
  });
});

describe("SenderMonitor: validateSender and cleanup", () => {
  it("refuses a sender unlocking at or before the next round (vector 11.G, round 5)", async () => {
    for (const [withdrawRound, ok] of [
      [4n, false],
      [2n, false],
      [6n, false],
      [7n, true],
      [0n, true],
      [100n, true],
    ] as const) {
      const { monitor } = setup({ deposit: 1n, fundsRemaining: 1n, withdrawRound }, { round: 5n });
      const result = await monitor.validateSender(SENDER).then(
        () => null,
        (e: unknown) => e,
      );
      if (ok) expect(result).toBeNull();
      else {
        expect(isLpError(result, "SENDER_UNLOCKING")).toBe(true);
        expect((result as Error).message).toBe(
          `deposit and reserve for sender ${SENDER} is set to unlock soon`,
        );
      }
    }
  });

  it("a sender whose info cannot be read is refused with the reason", async () => {
    const { monitor, chain } = setup();
    chain.fail = new Error("rpc down");
    const err = await monitor.validateSender(SENDER).catch((e: unknown) => e);
    expect(isLpError(err, "SENDER_INFO_UNAVAILABLE")).toBe(true);
    expect((err as Error).message).toBe(`could not get sender info for ${SENDER}: rpc down`);
    // A failed read is not cached: the next use reads again.
    chain.fail = null;
    await monitor.validateSender(SENDER);
    expect(chain.reads).toBe(2);
  });

  it("forgets senders idle past the TTL, unless someone listens or redemptions are pending", async () => {
    const { monitor, clock, chain } = setup({ deposit: 1n });
    await monitor.start(new AbortController().signal);
    const LISTENED = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC" as Address;
    const PENDING = "0x90F79bf6EB2c4f870365E785982E1f101E93b906" as Address;
    await monitor.sender(SENDER);
    await monitor.sender(LISTENED);
    await monitor.sender(PENDING);
    monitor.onMaxFloatChange(LISTENED, () => {});
    monitor.addPending(PENDING, 1n);
    await clock.advance(DEFAULT_SENDER_TTL_MS - DEFAULT_SENDER_CLEANUP_INTERVAL_MS);
    expect(monitor.knownSenders()).toHaveLength(3);
    await clock.advance(2 * DEFAULT_SENDER_CLEANUP_INTERVAL_MS);
    expect(monitor.knownSenders().sort()).toEqual([LISTENED, PENDING].sort());
    await monitor.sender(SENDER);
    expect(chain.reads).toBe(4);
    await monitor.stop();
    expect(clock.pending).toBe(0);
  });
});
