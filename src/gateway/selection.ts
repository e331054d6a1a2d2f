import type { Logger } from "../logger/logger.js";
import { Rat } from "../payments/rat.js";

/** The weights of go-livepeer's ProbabilitySelectionAlgorithm (-select* flags). */
export interface SelectionWeights {
  /** -selectStakeWeight */
  stakeWeight: number;
  /** -selectPriceWeight */
  priceWeight: number;
  /** -selectRandFreq (go-livepeer's SelectRandWeight) */
  randWeight: number;
  /** -selectPriceExpFactor: F in exp(-price / F), price in wei per pixel. */
  priceExpFactor: number;
}

/**
 * go-livepeer's defaults: 0.7 stake, 0 price, 0.3 random, F = 100. The config layer refuses
 * weights that do not sum to 1 (within 0.0001) on a chain, with go-livepeer's text.
 */
export const DEFAULT_SELECTION_WEIGHTS: SelectionWeights = {
  stakeWeight: 0.7,
  priceWeight: 0,
  randWeight: 0.3,
  priceExpFactor: 100,
};

/** A price as an orchestrator quotes it: pricePerUnit wei per pixelsPerUnit pixels. */
export interface QuotedPrice {
  pricePerUnit: bigint;
  pixelsPerUnit: bigint;
}

/** One orchestrator the algorithm may choose: its ticket recipient address and quoted price. */
export interface SelectionCandidate {
  /** Lower-case 0x address (the key of the stake table). */
  address: string;
  /** null when it quoted none (then a price ceiling drops it). */
  price: QuotedPrice | null;
}

const pricePerPixel = (p: QuotedPrice): Rat => Rat.of(p.pricePerUnit, p.pixelsPerUnit);

/** `part / total` as a float, exact enough for wei-sized bigints. */
function ratio(part: bigint, total: bigint): number {
  const SCALE = 10n ** 18n;
  return Number((part * SCALE) / total) / 1e18;
}

/**
 * P(a) for each candidate, in candidate order (go-livepeer server/selection_algorithm.go
 * calculateProbabilities): priceWeight x exp(-price/F) normalised + stakeWeight x stake share +
 * randWeight / n. Where go-livepeer gives every address the whole term when a sum is 0 (all
 * stakes 0, or every exp underflowing), so that Go's random map order decides, the term is
 * shared equally here: the same uniform choice, and probabilities that sum to 1.
 */
export function selectionProbabilities(
  candidates: readonly SelectionCandidate[],
  stakes: ReadonlyMap<string, bigint>,
  w: SelectionWeights,
): number[] {
  const n = candidates.length;
  if (n === 0) return [];
  const priceNorm = candidates.map((c) => {
    if (!c.price || c.price.pixelsPerUnit <= 0n) return 0;
    return Math.exp(-Number(c.price.pricePerUnit) / Number(c.price.pixelsPerUnit) / w.priceExpFactor);
  });
  const priceSum = priceNorm.reduce((a, b) => a + b, 0);
  const stake = candidates.map((c) => {
    const s = stakes.get(c.address.toLowerCase()) ?? 0n;
    return s > 0n ? s : 0n;
  });
  const stakeSum = stake.reduce((a, b) => a + b, 0n);
  return candidates.map((_, i) => {
    const priceProb = priceSum > 0 ? priceNorm[i]! / priceSum : 1 / n;
    const stakeProb = stakeSum > 0n ? ratio(stake[i]!, stakeSum) : 1 / n;
    return w.priceWeight * priceProb + w.stakeWeight * stakeProb + w.randWeight / n;
  });
}

/** The filters of go-livepeer's ProbabilitySelectionAlgorithm besides the price ceiling. */
export interface SelectionFilters {
  /** -ignoreMaxPriceIfNeeded: when every candidate is above the ceiling, keep them all. */
  ignoreMaxPriceIfNeeded?: boolean;
  /** -minPerfScore: candidates scoring below it are dropped (0 = off). */
  minPerfScore?: number;
}

/**
 * go-livepeer's ProbabilitySelectionAlgorithm for a gateway on a chain (server/selection_algorithm.go):
 * with -minPerfScore and known scores, drops candidates scoring below it (all kept, with a
 * warning, when none pass); drops candidates priced above the ceiling (and those with no price,
 * when there is a ceiling), unless none is left and -ignoreMaxPriceIfNeeded keeps them all; then
 * draws one by stake, price and chance with one uniform number in [0, 1) over the cumulative
 * probabilities. The random source is injected so tests are deterministic.
 */
export class ProbabilitySelection {
  constructor(
    readonly weights: SelectionWeights,
    private readonly deps: { random?: () => number; logger?: Logger } = {},
    readonly filters: SelectionFilters = {},
  ) {}

  /**
   * The chosen candidate's address, or null when none is left after the price filter. `scores`
   * are the perf scores by lower-case address (null or empty: unknown, no perf filter).
   */
  select(
    candidates: readonly SelectionCandidate[],
    stakes: ReadonlyMap<string, bigint>,
    maxPrice: Rat | null,
    scores: ReadonlyMap<string, number> | null = null,
  ): string | null {
    let eligible = [...candidates];
    const minScore = this.filters.minPerfScore ?? 0;
    if (minScore > 0 && scores && scores.size > 0) {
      const passing = eligible.filter((c) => (scores.get(c.address.toLowerCase()) ?? 0) >= minScore);
      if (passing.length > 0) eligible = passing;
      else
        this.deps.logger?.warn(
          { candidates: eligible.length, minPerfScore: minScore },
          "no orchestrator has at least -minPerfScore; selecting among all of them",
        );
    }
    if (maxPrice && maxPrice.sign() > 0) {
      const underMax = eligible.filter((c) => c.price !== null && pricePerPixel(c.price).lte(maxPrice));
      if (underMax.length > 0 || !this.filters.ignoreMaxPriceIfNeeded) eligible = underMax;
      if (eligible.length === 0) {
        this.deps.logger?.debug(
          { candidates: candidates.length, maxPrice: maxPrice.ratString() },
          "no orchestrator priced at or under the maximum price",
        );
        return null;
      }
    }
    if (eligible.length === 0) return null;
    const probs = selectionProbabilities(eligible, stakes, this.weights);
    const r = (this.deps.random ?? Math.random)();
    let cum = 0;
    for (let i = 0; i < eligible.length; i++) {
      cum += probs[i]!;
      if (r <= cum) return eligible[i]!.address;
    }
    // Rounding can leave the sum a hair under r; go-livepeer falls back to the first address.
    return eligible[0]!.address;
  }
}

/**
 * Logs why an orchestrator was skipped once per orchestrator and reason (at warn), then at debug:
 * every stream's discovery meets the same overpriced orchestrators again.
 */
export class OnceLog {
  private readonly seen = new Set<string>();

  constructor(private readonly logger: Logger) {}

  /** Log that `uri` was skipped for `reason`. */
  skipped(uri: string, reason: string): void {
    const key = `${uri}\n${reason}`;
    if (this.seen.has(key)) {
      this.logger.debug({ orchestrator: uri, reason }, "skipping orchestrator");
      return;
    }
    // Bounded: a flood of distinct reasons (prices moving) cannot grow it forever.
    if (this.seen.size >= 10_000) this.seen.clear();
    this.seen.add(key);
    this.logger.warn({ orchestrator: uri, reason }, "skipping orchestrator");
  }
}
