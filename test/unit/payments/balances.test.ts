import type { Address } from "viem";
import { describe, expect, it, vi } from "vitest";
import { AddressBalances, Balance } from "../../../src/payments/balances.js";
import { Rat } from "../../../src/payments/rat.js";

const A = "0x73AEd7b5dEb30222fa896f399d46cC99c7BEe57F" as Address;
const B = "0xA69cdA26600c155cF2c150964Bdb5371ac3f606F" as Address;
const r = (n: bigint | number, d: bigint | number = 1n) => Rat.of(n, d);

describe("Balance.stageUpdate (reference 11.I)", () => {
  // (minCredit, ev) with existing -> (numTickets, newCredit, existing)
  const cases: [Rat, Rat | null, Rat, number, Rat][] = [
    [r(1), null, r(2), 0, r(0)],
    [r(2), null, r(2), 0, r(0)],
    [r(5), r(1), r(1), 4, r(4)],
    [r(2), r(1), r(1, 4), 2, r(2)],
    [r(2), r(1), r(-5), 7, r(7)],
    [r(2), r(1), r(0), 2, r(2)],
  ];
  for (const [minCredit, ev, existing, n, credit] of cases) {
    it(`(${minCredit.ratString()}, ${ev?.ratString() ?? "nil"}) with ${existing.ratString()}`, () => {
      const balances = new AddressBalances();
      balances.credit(B, "other", r(5));
      if (existing.sign() >= 0) balances.credit(A, "s", existing);
      else balances.debit(A, "s", existing.neg());
      const got = new Balance(A, "s", balances).stageUpdate(minCredit, ev);
      expect(got.numTickets).toBe(n);
      expect(got.newCredit.eq(credit)).toBe(true);
      expect(got.existing.eq(existing)).toBe(true);
      expect(balances.balance(A, "s")?.eq(0n)).toBe(true);
      expect(balances.balance(B, "other")?.eq(5n)).toBe(true);
    });
  }

  it("rounds a fractional ticket count up and pays nothing when ev is 0", () => {
    const balances = new AddressBalances();
    const bal = new Balance(A, "s", balances);
    const got = bal.stageUpdate(r(10), r(3));
    expect(got.numTickets).toBe(4);
    expect(got.newCredit.eq(12n)).toBe(true);
    expect(bal.stageUpdate(r(10), r(0)).numTickets).toBe(0);
  });

  it("works with huge values exactly", () => {
    const balances = new AddressBalances();
    const big = 10n ** 40n;
    const got = new Balance(A, "s", balances).stageUpdate(r(big + 1n), r(big, 3n));
    expect(got.numTickets).toBe(4);
  });

  it("refuses a negative ev and a ticket count it cannot represent, keeping the balance", () => {
    const balances = new AddressBalances();
    const bal = new Balance(A, "s", balances);
    bal.credit(r(3));
    expect(() => bal.stageUpdate(r(10), r(-1))).toThrow(/must not be negative/);
    expect(bal.current()?.eq(3n)).toBe(true);
    expect(() => bal.stageUpdate(r(10n ** 30n), r(1, 10n ** 10n))).toThrow(/tickets/);
    expect(bal.current()?.eq(3n)).toBe(true);
  });
});

describe("AddressBalances", () => {
  it("credits, debits (possibly below zero) and reserves per (address, session)", () => {
    const b = new AddressBalances();
    expect(b.balance(A, "x")).toBeNull();
    b.credit(A, "x", r(1, 3));
    b.credit(A, "x", r(1, 6));
    expect(b.balance(A, "x")?.eq(r(1, 2))).toBe(true);
    b.debit(A, "x", r(2));
    expect(b.balance(A, "x")?.eq(r(-3, 2))).toBe(true);
    // Keys are case-insensitive addresses.
    expect(b.balance(A.toLowerCase() as Address, "x")?.eq(r(-3, 2))).toBe(true);
    expect(b.balance(A, "y")).toBeNull();
    expect(b.reserve(A, "x").eq(r(-3, 2))).toBe(true);
    expect(b.balance(A, "x")?.eq(0n)).toBe(true);
  });

  it("refuses malformed amounts without changing the balance", () => {
    const b = new AddressBalances();
    b.credit(A, "x", r(1));
    expect(() => b.credit(A, "x", { num: 1n, den: 0n })).toThrow(/positive denominator/);
    expect(() => b.debit(A, "x", { num: 1n, den: -2n })).toThrow(/positive denominator/);
    expect(b.balance(A, "x")?.eq(1n)).toBe(true);
  });

  it("pins a session price once and keeps the first one", () => {
    const b = new AddressBalances();
    expect(b.fixedPrice(A, "s")).toBeNull();
    expect(b.pinPrice(A, "s", r(3, 2)).eq(r(3, 2))).toBe(true);
    expect(b.pinPrice(A, "s", r(9)).eq(r(3, 2))).toBe(true);
    expect(b.fixedPrice(A, "s")?.eq(r(3, 2))).toBe(true);
    b.setFixedPrice(A, "s", r(4));
    expect(b.fixedPrice(A, "s")?.eq(4n)).toBe(true);
    expect(b.fixedPrice(A, "t")).toBeNull();
  });

  it("drops entries untouched for longer than the TTL", () => {
    let now = 1_000_000;
    const b = new AddressBalances({ ttlMs: 1000 }, { now: () => now });
    b.credit(A, "old", r(1));
    now += 600;
    b.credit(B, "new", r(1));
    now += 600;
    expect(b.cleanup()).toBe(1);
    expect(b.balance(A, "old")).toBeNull();
    expect(b.balance(B, "new")?.eq(1n)).toBe(true);
    b.debit(B, "new", r(1)); // a write refreshes the age
    now += 900;
    expect(b.cleanup()).toBe(0);
    expect(b.size).toBe(1);
    b.remove(B, "new");
    expect(b.size).toBe(0);
  });

  it("sweeps on its own every TTL once started, and no more after stop", async () => {
    vi.useFakeTimers();
    try {
      let now = 0;
      const b = new AddressBalances({ ttlMs: 1000 }, { now: () => now });
      const ac = new AbortController();
      await b.start(ac.signal);
      await b.start(ac.signal); // idempotent
      b.credit(A, "x", r(1));
      now = 1500;
      vi.advanceTimersByTime(1000);
      expect(b.balance(A, "x")).toBeNull();
      ac.abort();
      b.credit(A, "y", r(1));
      now = 10_000;
      vi.advanceTimersByTime(5000);
      expect(b.balance(A, "y")?.eq(1n)).toBe(true);
      await b.stop();
    } finally {
      vi.useRealTimers();
    }
  });

  it("refuses a TTL that is not positive", () => {
    expect(() => new AddressBalances({ ttlMs: 0 })).toThrow(/TTL/);
    expect(() => new AddressBalances({ ttlMs: -5 })).toThrow(/TTL/);
  });
});
