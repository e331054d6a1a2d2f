import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { jobCapabilities } from "../../../src/gateway/OrchestratorClient.js";
import { StaticOrchestrators } from "../../../src/gateway/OrchestratorList.js";
import { OrchestratorPool, type PoolSelection } from "../../../src/gateway/OrchestratorPool.js";
import {
  DEFAULT_SELECTION_WEIGHTS,
  OnceLog,
  ProbabilitySelection,
  type SelectionCandidate,
  selectionProbabilities,
} from "../../../src/gateway/selection.js";
import type { Logger } from "../../../src/logger/logger.js";
import { silentLogger } from "../../../src/logger/logger.js";
import { PRESETS } from "../../../src/media/profiles.js";
import { Rat } from "../../../src/payments/rat.js";
import { type OrchestratorInfo, OrchestratorInfoSchema } from "../../../src/protocol/gen/lp_rpc_pb.js";
import { ManualClock } from "../../helpers/clock.js";
import { ok, problems } from "../../helpers/config.js";

const A = "0x000000000000000000000000000000000000000a";
const B = "0x000000000000000000000000000000000000000b";
const C = "0x000000000000000000000000000000000000000c";
const LPT = 10n ** 18n;
const price = (pricePerUnit: bigint, pixelsPerUnit = 1n) => ({ pricePerUnit, pixelsPerUnit });
const cand = (address: string, p: SelectionCandidate["price"] = price(0n)): SelectionCandidate => ({
  address,
  price: p,
});

/** mulberry32: a seeded PRNG, so statistical checks give the same draws every run. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("-select* flags", () => {
  const onChain = [
    "-gateway",
    "-network",
    "devnet",
    "-ethUrl",
    "http://x",
    "-ethController",
    `0x${"0".repeat(39)}1`,
  ];

  it("reach the gateway's config on a chain, defaults and given values", () => {
    expect(ok(onChain).gateway?.selection).toEqual(DEFAULT_SELECTION_WEIGHTS);
    const given = ["-selectStakeWeight", "0.2", "-selectPriceWeight", "0.5", "-selectRandFreq", "0.3"];
    expect(ok([...onChain, ...given, "-selectPriceExpFactor", "1000"]).gateway?.selection).toEqual({
      stakeWeight: 0.2,
      priceWeight: 0.5,
      randWeight: 0.3,
      priceExpFactor: 1000,
    });
  });

  it("stop an on-chain gateway whose weights do not sum to 1 (go-livepeer's text); offchain they only warn", () => {
    expect(problems([...onChain, "-selectStakeWeight", "0.5"])).toContain(
      "Incorrect parameters for selection algorithm, err=sum of selection algorithm weights must be 1.0, stakeWeight=0.5, priceWeight=0, randWeight=0.3",
    );
    // Within go-livepeer's 0.0001 tolerance.
    expect(ok([...onChain, "-selectStakeWeight", "0.70005"]).gateway?.selection.stakeWeight).toBe(0.70005);
    expect(problems([...onChain, "-selectPriceExpFactor", "0"])).toContain(
      "-selectPriceExpFactor must be greater than 0, provided 0",
    );
    expect(ok(["-gateway", "-selectStakeWeight", "0.5"]).warnings).toContain(
      "-selectStakeWeight has no effect with -network offchain",
    );
  });
});

describe("selectionProbabilities (go-livepeer calculateProbabilities)", () => {
  it("weighs stake 0.7 and chance 0.3 by default", () => {
    const stakes = new Map([
      [A, 3000n * LPT],
      [B, 1000n * LPT],
    ]);
    const p = selectionProbabilities([cand(A), cand(B)], stakes, DEFAULT_SELECTION_WEIGHTS);
    expect(p[0]).toBeCloseTo(0.7 * 0.75 + 0.3 / 2, 12);
    expect(p[1]).toBeCloseTo(0.7 * 0.25 + 0.3 / 2, 12);
  });

  it("gives a candidate missing from the stake table no stake share", () => {
    const p = selectionProbabilities([cand(A), cand(C)], new Map([[A, 5n]]), {
      ...DEFAULT_SELECTION_WEIGHTS,
      stakeWeight: 1,
      randWeight: 0,
    });
    expect(p).toEqual([1, 0]);
  });

  it("weighs price by exp(-price / F): the exp factor sets how much cheaper wins", () => {
    const w = { stakeWeight: 0, priceWeight: 1, randWeight: 0, priceExpFactor: 100 };
    const cands = [cand(A, price(0n)), cand(B, price(100n))];
    const [a, b] = selectionProbabilities(cands, new Map(), w);
    expect(a).toBeCloseTo(1 / (1 + Math.exp(-1)), 12);
    expect(b).toBeCloseTo(Math.exp(-1) / (1 + Math.exp(-1)), 12);
    const [a2, b2] = selectionProbabilities(cands, new Map(), { ...w, priceExpFactor: 1000 });
    expect(a2).toBeCloseTo(1 / (1 + Math.exp(-0.1)), 12);
    expect(b2).toBeCloseTo(Math.exp(-0.1) / (1 + Math.exp(-0.1)), 12);
    // Price per pixel is pricePerUnit / pixelsPerUnit: 1000 wei per 10 pixels is 100 wei/pixel.
    const [, b3] = selectionProbabilities([cand(A, price(0n)), cand(B, price(1000n, 10n))], new Map(), w);
    expect(b3).toBeCloseTo(b!, 12);
  });

  it("shares a term equally when its sum is 0 (no stake at all, every price underflowing), so P sums to 1", () => {
    const w = { stakeWeight: 0.5, priceWeight: 0.5, randWeight: 0, priceExpFactor: 100 };
    const p = selectionProbabilities(
      [cand(A, price(1_000_000n)), cand(B, price(2_000_000n)), cand(C, price(3_000_000n))],
      new Map(),
      w,
    );
    for (const x of p) expect(x).toBeCloseTo(1 / 3, 12);
    expect(p.reduce((s, x) => s + x, 0)).toBeCloseTo(1, 12);
  });
});

describe("ProbabilitySelection", () => {
  const stakes = new Map([
    [A, 3000n * LPT],
    [B, 1000n * LPT],
  ]);

  it("walks the cumulative probabilities with the injected random number", () => {
    // P(A) = 0.675, P(B) = 0.325.
    const pick = (r: number) =>
      new ProbabilitySelection(DEFAULT_SELECTION_WEIGHTS, { random: () => r }).select(
        [cand(A), cand(B)],
        stakes,
        null,
      );
    expect(pick(0)).toBe(A);
    expect(pick(0.674)).toBe(A);
    expect(pick(0.676)).toBe(B);
    expect(pick(0.999999)).toBe(B);
  });

  it("draws in proportion to the probabilities (seeded random)", () => {
    const sel = new ProbabilitySelection(DEFAULT_SELECTION_WEIGHTS, { random: seeded(42) });
    const counts: Record<string, number> = { [A]: 0, [B]: 0 };
    for (let i = 0; i < 20_000; i++) counts[sel.select([cand(A), cand(B)], stakes, null)!]! += 1;
    expect(counts[A]! / 20_000).toBeGreaterThan(0.655);
    expect(counts[A]! / 20_000).toBeLessThan(0.695);
  });

  it("drops candidates priced above the ceiling or quoting no price; none left is no choice", () => {
    const sel = new ProbabilitySelection(DEFAULT_SELECTION_WEIGHTS, { random: () => 0 });
    const cands = [cand(A, price(200n)), cand(B, price(50n)), cand(C, null)];
    // Without the ceiling the first wins at r = 0; with 100 wei/pixel only B is left.
    expect(sel.select(cands, stakes, null)).toBe(A);
    expect(sel.select(cands, stakes, Rat.of(100n))).toBe(B);
    expect(sel.select(cands, stakes, Rat.of(10n))).toBeNull();
    // A ceiling of 0 means any price (-maxPricePerUnit 0).
    expect(sel.select(cands, stakes, Rat.ZERO)).toBe(A);
    expect(sel.select([], stakes, null)).toBeNull();
  });
});

describe("OnceLog", () => {
  it("warns once per orchestrator and reason, then logs at debug", () => {
    const calls: string[] = [];
    const logger = {
      warn: (o: { orchestrator: string }) => calls.push(`warn ${o.orchestrator}`),
      debug: (o: { orchestrator: string }) => calls.push(`debug ${o.orchestrator}`),
    } as unknown as Logger;
    const once = new OnceLog(logger);
    once.skipped("https://a:1", "too expensive");
    once.skipped("https://a:1", "too expensive");
    once.skipped("https://b:2", "too expensive");
    once.skipped("https://a:1", "no ticket params");
    expect(calls).toEqual(["warn https://a:1", "debug https://a:1", "warn https://b:2", "warn https://a:1"]);
  });
});

describe("OrchestratorPool with on-chain selection", () => {
  const caps = jobCapabilities([{ ...PRESETS["P240p30fps16x9"]! }]);
  const recipient = (uri: string) => (uri.includes("heavy") ? B : A);
  const info = (uri: string): OrchestratorInfo =>
    create(OrchestratorInfoSchema, {
      transcoder: uri,
      capabilities: caps,
      priceInfo: { pricePerUnit: 1n, pixelsPerUnit: 1n },
      ticketParams: { recipient: Buffer.from(recipient(uri).slice(2), "hex") },
      authToken: { token: new Uint8Array(32), sessionId: `s-${uri}`, expiration: 4_000_000_000n },
    });
  /** "light" answers first (lowest latency), "heavy" holds almost all the stake. */
  function pool(clock: ManualClock, selection: PoolSelection | null) {
    const client = {
      getInfo: (uri: string) =>
        new Promise<OrchestratorInfo>((resolve) =>
          clock.setTimeout(() => resolve(info(uri)), uri.includes("heavy") ? 300 : 100),
        ),
    };
    return new OrchestratorPool(
      {
        list: new StaticOrchestrators(["https://light:1", "https://heavy:2"]),
        caps,
        discoveryTimeoutMs: 500,
        selection,
      },
      { client, logger: silentLogger(), clock },
    );
  }
  async function selectTicking(clock: ManualClock, p: OrchestratorPool, exclude = new Set<string>()) {
    let done = false;
    const picked = p.select(exclude, null).finally(() => {
      done = true;
    });
    while (!done) await clock.advance(50);
    return picked;
  }

  it("offchain keeps the lowest latency; on a chain an unused orchestrator is drawn by stake", async () => {
    const clock = new ManualClock();
    expect((await selectTicking(clock, pool(clock, null)))?.uri).toBe("https://light:1");

    const seen: { candidates: SelectionCandidate[] }[] = [];
    const observed: string[] = [];
    const alg = new ProbabilitySelection(
      { stakeWeight: 1, priceWeight: 0, randWeight: 0, priceExpFactor: 100 },
      { random: () => 0.5 },
    );
    const stakes = new Map([
      [A, 1n],
      [B, 999n],
    ]);
    const selection: PoolSelection = {
      choose: (c) => {
        seen.push({ candidates: c });
        return alg.select(c, stakes, null);
      },
      skipped: () => {},
      observed: (uri) => observed.push(uri),
    };
    const p = pool(clock, selection);
    const first = await selectTicking(clock, p);
    expect(first?.uri).toBe("https://heavy:2");
    expect(seen[0]!.candidates.map((c) => c.address).sort()).toEqual([A, B]);
    expect(seen[0]!.candidates[0]!.price).toEqual({ pricePerUnit: 1n, pixelsPerUnit: 1n });
    expect(observed.sort()).toEqual(["https://heavy:2", "https://light:1"]);
    // Once used, a session is no longer drawn: excluded (a retry), the other unused one is taken.
    first!.ok += 1;
    expect((await selectTicking(clock, p, new Set(["https://heavy:2"])))?.uri).toBe("https://light:1");
  });
});
