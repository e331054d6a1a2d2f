import { type Address, zeroAddress } from "viem";

/** One transcoder pool entry: an address and its total stake. */
export interface PoolEntry {
  address: Address;
  totalStake: bigint;
}

/** Where an orchestrator sits in the pool after an update: its neighbours, zeroAddress for none. */
export interface PoolHints {
  prev: Address;
  next: Address;
}

/** No hint: the contract searches the pool itself. */
export const NO_HINTS: Readonly<PoolHints> = { prev: zeroAddress, next: zeroAddress };

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/**
 * The pool as it would be once `self` has `newStake`: self moved to its new place (after the
 * entries with an equal stake, as the contract inserts), and the lowest entry dropped when the
 * pool was full, which may be self.
 */
export function simulateTranscoderPool(
  pool: readonly PoolEntry[],
  self: Address,
  newStake: bigint,
  full: boolean,
): PoolEntry[] {
  const next = pool.filter((p) => !same(p.address, self));
  next.push({ address: self, totalStake: newStake });
  // Array.prototype.sort is stable, which keeps self after the equal stakes already there.
  next.sort((a, b) => (a.totalStake === b.totalStake ? 0 : a.totalStake > b.totalStake ? -1 : 1));
  if (full) next.pop();
  return next;
}

/** The neighbours of `self` in a pool ordered by stake; no hints when it is absent or alone. */
export function findTranscoderHints(pool: readonly PoolEntry[], self: Address): PoolHints {
  const i = pool.findIndex((p) => same(p.address, self));
  if (i < 0 || pool.length === 1) return { ...NO_HINTS };
  return {
    prev: i > 0 ? pool[i - 1]!.address : zeroAddress,
    next: i < pool.length - 1 ? pool[i + 1]!.address : zeroAddress,
  };
}

/** The hints for rewardWithHint (and bond, unbond, rebond): simulate the update, then find self. */
export function poolUpdateHints(
  pool: readonly PoolEntry[],
  self: Address,
  newStake: bigint,
  full: boolean,
): PoolHints {
  return findTranscoderHints(simulateTranscoderPool(pool, self, newStake, full), self);
}
