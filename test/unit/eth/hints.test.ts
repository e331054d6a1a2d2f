import { type Address, zeroAddress } from "viem";
import { describe, expect, it } from "vitest";
import {
  findTranscoderHints,
  type PoolEntry,
  poolUpdateHints,
  simulateTranscoderPool,
} from "../../../src/eth/hints.js";

// go-livepeer's TestSimulateTranscoderPool / TestFindTranscoderHints vectors.
const addr = (c: string) => `0x${c.repeat(40)}` as Address;
const [aaa, bbb, ccc, ddd, eee, fff] = ["a", "b", "c", "d", "e", "f"].map(addr) as [
  Address,
  Address,
  Address,
  Address,
  Address,
  Address,
];
const pool: PoolEntry[] = [
  { address: aaa, totalStake: 5n },
  { address: bbb, totalStake: 4n },
  { address: ccc, totalStake: 3n },
  { address: ddd, totalStake: 2n },
  { address: eee, totalStake: 1n },
];
const none = { prev: zeroAddress, next: zeroAddress };

describe("transcoder pool hints", () => {
  it.each([
    ["fff 1, full", fff, 1n, true, none],
    ["fff 2, full", fff, 2n, true, { prev: ddd, next: zeroAddress }],
    ["fff 1, not full", fff, 1n, false, { prev: eee, next: zeroAddress }],
    ["fff 100, not full", fff, 100n, false, { prev: zeroAddress, next: aaa }],
    ["fff 5, not full", fff, 5n, false, { prev: aaa, next: bbb }],
    ["eee 2", eee, 2n, false, { prev: ddd, next: zeroAddress }],
    ["eee 3", eee, 3n, false, { prev: ccc, next: ddd }],
    ["ccc 6", ccc, 6n, false, { prev: zeroAddress, next: aaa }],
    ["aaa 1, not full", aaa, 1n, false, { prev: eee, next: zeroAddress }],
    ["aaa 0, not full", aaa, 0n, false, { prev: eee, next: zeroAddress }],
    ["aaa 0, full", aaa, 0n, true, none],
  ] as const)("%s", (_name, self, stake, full, hints) => {
    expect(poolUpdateHints(pool, self, stake, full)).toEqual(hints);
  });

  it("evicts the lowest entry of a full pool", () => {
    expect(simulateTranscoderPool(pool, fff, 2n, true).map((p) => p.address)).toEqual([
      aaa,
      bbb,
      ccc,
      ddd,
      fff,
    ]);
    // The input is left as it was.
    expect(pool).toHaveLength(5);
  });

  it("finds the neighbours in a pool", () => {
    expect(findTranscoderHints(pool, aaa)).toEqual({ prev: zeroAddress, next: bbb });
    expect(findTranscoderHints(pool, eee)).toEqual({ prev: ddd, next: zeroAddress });
    expect(findTranscoderHints(pool, ccc)).toEqual({ prev: bbb, next: ddd });
    // Case does not matter; absent or alone means no hints.
    expect(findTranscoderHints(pool, ccc.toUpperCase().replace("0X", "0x") as Address)).toEqual({
      prev: bbb,
      next: ddd,
    });
    expect(findTranscoderHints(pool, fff)).toEqual(none);
    expect(findTranscoderHints([{ address: aaa, totalStake: 1n }], aaa)).toEqual(none);
  });
});
