import { type Address, getAddress, type Hex } from "viem";
import { describe, expect, it } from "vitest";
import { isLpError } from "../../../src/errors/LpError.js";
import type { SenderInfo } from "../../../src/eth/ChainClient.js";
import type { WatchedEvent } from "../../../src/eth/events.js";
import { SenderMonitor } from "../../../src/payments/SenderMonitor.js";
import { ManualClock } from "../../helpers/clock.js";

// What the sender monitor may be made to remember: anyone can name any address (a gateway's
// GetOrchestrator, a redeemer's MaxFloat), so only senders with funds on chain are kept, and at
// most maxSenders of them.

const ME = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266" as Address;
const addr = (n: number) => getAddress(`0x${n.toString(16).padStart(40, "0")}`);

/** A chain where each address has the deposit given in `deposits` (none: nothing on chain). */
function monitorOn(deposits: Map<Address, bigint>, maxSenders?: number) {
  const reads: Address[] = [];
  const chain = {
    async senderInfo(sender: Address): Promise<SenderInfo> {
      reads.push(sender);
      return {
        deposit: deposits.get(sender) ?? 0n,
        withdrawRound: 0n,
        reserve: { fundsRemaining: 0n, claimedInCurrentRound: 0n },
      } as SenderInfo;
    },
    claimedReserve: async () => 0n,
  };
  const rounds = {
    state: { lastInitializedRound: 5n, transcoderPoolSize: 1n },
    subscribe: () => () => undefined,
  };
  let onEvent: (e: WatchedEvent) => unknown = () => undefined;
  const events = {
    subscribe(h: (e: WatchedEvent) => unknown) {
      onEvent = h;
      return () => undefined;
    },
  };
  const clock = new ManualClock();
  const monitor = new SenderMonitor({ recipient: ME, maxSenders }, { chain, rounds, events, clock });
  const emit = (eventName: string, args: Record<string, unknown>) =>
    onEvent({
      contract: "TicketBroker",
      eventName,
      args,
      removed: false,
      blockNumber: 1n,
      blockHash: `0x${"00".repeat(32)}` as Hex,
    } as unknown as WatchedEvent);
  return { monitor, reads, emit, clock };
}

const settle = () => new Promise((r) => setTimeout(r, 0));

describe("SenderMonitor: what it keeps", () => {
  it("answers for an address with nothing on chain without keeping it", async () => {
    const { monitor, reads } = monitorOn(new Map());
    for (let i = 1; i <= 100; i++) expect(await monitor.maxFloat(addr(i))).toBe(0n);
    expect(monitor.knownSenders()).toEqual([]);
    // Not cached: asked again, read again.
    await monitor.maxFloat(addr(1));
    expect(reads).toHaveLength(101);
  });

  it("keeps at most maxSenders, forgetting the least recently used first", async () => {
    const funded = new Map([1, 2, 3].map((i) => [addr(i), 10n] as const));
    const { monitor, reads } = monitorOn(funded, 2);
    await monitor.sender(addr(1));
    await monitor.sender(addr(2));
    // Used again: now the most recent.
    await monitor.sender(addr(1));
    await monitor.sender(addr(3));
    expect(monitor.knownSenders().sort()).toEqual([addr(1), addr(3)].sort());
    expect(reads).toEqual([addr(1), addr(2), addr(3)]);
  });

  it("never forgets a sender in use, and refuses a new one with SENDER_LIMIT while all are in use", async () => {
    const funded = new Map([1, 2, 3].map((i) => [addr(i), 10n] as const));
    const { monitor } = monitorOn(funded, 2);
    await monitor.sender(addr(1));
    await monitor.sender(addr(2));
    const off = monitor.onMaxFloatChange(addr(1), () => undefined);
    monitor.addPending(addr(2), 1n);
    const err = await monitor.maxFloat(addr(3)).catch((e: unknown) => e);
    expect(isLpError(err, "SENDER_LIMIT")).toBe(true);
    expect((err as Error).message).toBe("too many senders monitored: all 2 are in use");
    // A made-up address is still answered: it needs no room.
    expect(await monitor.maxFloat(addr(99))).toBe(0n);
    off();
    expect(await monitor.availableFunds(addr(3))).toBe(10n);
    expect(monitor.knownSenders().sort()).toEqual([addr(2), addr(3)].sort());
  });

  it("tells a listener of an unfunded sender about its first deposit", async () => {
    const deposits = new Map<Address, bigint>();
    const { monitor, emit } = monitorOn(deposits);
    await monitor.start(new AbortController().signal);
    expect(await monitor.maxFloat(addr(7))).toBe(0n);
    let calls = 0;
    monitor.onMaxFloatChange(addr(7), () => calls++);
    deposits.set(addr(7), 5n);
    emit("DepositFunded", { sender: addr(7), amount: 5n });
    await settle();
    expect(calls).toBe(1);
    expect(monitor.knownSenders()).toEqual([addr(7)]);
    expect((await monitor.sender(addr(7))).deposit).toBe(5n);
    await monitor.stop();
  });

  it("forgets a sender whose funds are gone at the next cleanup, without waiting for the TTL", async () => {
    const { monitor, emit } = monitorOn(new Map([[addr(1), 10n]]));
    await monitor.start(new AbortController().signal);
    await monitor.sender(addr(1));
    emit("Withdrawal", { sender: addr(1), deposit: 10n, reserve: 0n });
    monitor.cleanup();
    expect(monitor.knownSenders()).toEqual([]);
    await monitor.stop();
  });
});
