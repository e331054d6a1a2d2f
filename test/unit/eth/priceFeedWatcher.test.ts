import { describe, expect, it } from "vitest";
import {
  PRICE_FETCH_RETRIES,
  PRICE_FETCH_RETRY_DELAY_MS,
  PRICE_UPDATE_PERIOD_MS,
  type PriceFeedReader,
  PriceFeedWatcher,
  parseFeedDescription,
} from "../../../src/eth/PriceFeedWatcher.js";
import { AutoConvertedPrice, type PriceData } from "../../../src/payments/pricing.js";
import { Rat } from "../../../src/payments/rat.js";
import { ManualClock } from "../../helpers/clock.js";
import { ok, problems } from "../../helpers/config.js";

const FEED = "0x639Fe6ab55C921f74e7fac1ee960C0B6293ba612";
const HOUR = PRICE_UPDATE_PERIOD_MS;
// 10:20 UTC on some day: the next whole hour is 40 minutes away.
const START = Date.UTC(2026, 0, 5, 10, 20, 0);

/** An aggregator whose answer, time and failures the test sets; it counts latestRoundData reads. */
class FakeAggregator implements PriceFeedReader {
  description: unknown = "ETH / USD";
  decimals = 8;
  answer = 2000n * 10n ** 8n;
  updatedAt = 1000n;
  /** The next this-many latestRoundData reads fail. */
  failures = 0;
  rounds = 0;
  readonly readAt: number[] = [];

  constructor(private readonly clock: ManualClock) {}

  async readContract(args: { functionName: string }): Promise<unknown> {
    if (args.functionName === "description") return this.description;
    if (args.functionName === "decimals") return this.decimals;
    this.rounds++;
    this.readAt.push(this.clock.now());
    if (this.failures > 0) {
      this.failures--;
      throw new Error("rpc down");
    }
    return [7n, this.answer, this.updatedAt, this.updatedAt, 7n];
  }
}

function setup() {
  const clock = new ManualClock(START);
  const agg = new FakeAggregator(clock);
  const watcher = new PriceFeedWatcher({ address: FEED }, { reader: () => agg, clock });
  return { clock, agg, watcher };
}

describe("parseFeedDescription", () => {
  it("reads BASE / QUOTE", () => {
    expect(parseFeedDescription("ETH / USD")).toEqual({ base: "ETH", quote: "USD" });
    expect(parseFeedDescription("LPT/ETH")).toEqual({ base: "LPT", quote: "ETH" });
  });

  it.each([["ETH USD"], ["ETH / USD / EUR"], [" / USD"], ["x".repeat(100)], [42]])("refuses %s", (d) => {
    expect(() => parseFeedDescription(d)).toThrow(/is not "BASE \/ QUOTE"/);
  });
});

describe("PriceFeedWatcher", () => {
  it("reads the pair and the price as answer / 10^decimals", async () => {
    const { agg, watcher } = setup();
    agg.answer = 123_456_789n;
    agg.decimals = 6;
    expect(await watcher.currencies()).toEqual({ base: "ETH", quote: "USD" });
    const data = await watcher.current();
    expect(Rat.from(data.price).eq(Rat.of(123_456_789n, 1_000_000n))).toBe(true);
    expect(data.updatedAt).toBe(1000);
  });

  it("refuses a non-positive answer and a malformed description", async () => {
    const { agg, watcher } = setup();
    agg.answer = 0n;
    await expect(watcher.current()).rejects.toThrow("non-positive price");
    agg.description = "garbage";
    await expect(watcher.currencies()).rejects.toThrow('is not "BASE / QUOTE"');
    // A failed description read is not cached: the next call reads again.
    agg.description = "ETH / EUR";
    expect(await watcher.currencies()).toEqual({ base: "ETH", quote: "EUR" });
  });

  it("does not poll without subscribers", async () => {
    const { clock, agg, watcher } = setup();
    await watcher.current();
    expect(agg.rounds).toBe(1);
    await clock.advance(5 * HOUR);
    expect(agg.rounds).toBe(1);
    expect(watcher.polling).toBe(false);
    expect(clock.pending).toBe(0);
  });

  it("polls on whole hours while subscribed and stops when the last subscriber leaves", async () => {
    const { clock, agg, watcher } = setup();
    const heard: PriceData[] = [];
    const off1 = watcher.subscribe((d) => heard.push(d));
    const off2 = watcher.subscribe(() => {});
    expect(watcher.polling).toBe(true);
    await clock.advance(2 * HOUR + 30 * 60_000);
    // 11:00, 12:00: aligned to the hour, not to the subscription time (10:20).
    expect(agg.readAt).toEqual([Date.UTC(2026, 0, 5, 11), Date.UTC(2026, 0, 5, 12)]);
    off1();
    off1(); // idempotent: the other subscriber keeps the poll alive
    await clock.advance(HOUR);
    expect(agg.rounds).toBe(3);
    off2();
    expect(watcher.polling).toBe(false);
    await clock.advance(3 * HOUR);
    expect(agg.rounds).toBe(3);
    expect(clock.pending).toBe(0);
    // Only the first reading was new (updatedAt never moved): heard once.
    expect(heard.map((d) => d.updatedAt)).toEqual([1000]);
  });

  it("publishes only readings with a newer updatedAt", async () => {
    const { clock, agg, watcher } = setup();
    await watcher.current();
    const heard: PriceData[] = [];
    watcher.subscribe((d) => heard.push(d));
    await clock.advance(HOUR); // same updatedAt: nothing
    agg.answer = 2500n * 10n ** 8n;
    agg.updatedAt = 2000n;
    await clock.advance(HOUR);
    agg.answer = 1n * 10n ** 8n;
    agg.updatedAt = 1500n; // older than what was published: ignored
    await clock.advance(HOUR);
    expect(heard.map((d) => [d.updatedAt, Rat.from(d.price).toString()])).toEqual([
      [2000, Rat.of(2500n).toString()],
    ]);
    expect((await watcher.current()).updatedAt).toBe(2000);
  });

  it("retries a failed read up to 5 times from 30 s, doubling, then waits for the next hour", async () => {
    const { clock, agg, watcher } = setup();
    watcher.subscribe(() => {});
    agg.failures = 100;
    await clock.advance(40 * 60_000); // 11:00
    await clock.advance(HOUR - 1); // up to 11:59:59.999
    const t0 = Date.UTC(2026, 0, 5, 11);
    const delays = [0];
    for (let i = 0; i < PRICE_FETCH_RETRIES; i++)
      delays.push(delays[i]! + PRICE_FETCH_RETRY_DELAY_MS * 2 ** i);
    expect(delays).toEqual([0, 30_000, 90_000, 210_000, 450_000, 930_000]);
    expect(agg.readAt).toEqual(delays.map((d) => t0 + d));
    // The next hour tries again, and a retry that succeeds publishes.
    agg.failures = 2;
    agg.updatedAt = 5000n;
    const heard: number[] = [];
    watcher.subscribe((d) => heard.push(d.updatedAt));
    await clock.advance(1 + 30_000 + 60_000);
    expect(agg.readAt.slice(6)).toEqual([t0 + HOUR, t0 + HOUR + 30_000, t0 + HOUR + 90_000]);
    expect(heard).toEqual([5000]);
  });

  it("stopping during a retry wait ends the loop", async () => {
    const { clock, agg, watcher } = setup();
    const off = watcher.subscribe(() => {});
    agg.failures = 100;
    await clock.advance(40 * 60_000 + 1);
    expect(agg.rounds).toBe(1);
    off();
    expect(clock.pending).toBe(0);
    await clock.advance(10 * HOUR);
    expect(agg.rounds).toBe(1);
  });

  it("drives an AutoConvertedPrice: 0.5 USD at 2000 USD/ETH is 2.5e14 wei, and follows the feed", async () => {
    const { clock, agg, watcher } = setup();
    const price = await AutoConvertedPrice.create("USD", Rat.parse("0.5"), watcher);
    expect(price.value().eq(Rat.of(25n * 10n ** 13n))).toBe(true);
    agg.answer = 4000n * 10n ** 8n;
    agg.updatedAt = 2000n;
    await clock.advance(HOUR);
    expect(price.value().eq(Rat.of(125n * 10n ** 12n))).toBe(true);
    price.stop();
    expect(watcher.polling).toBe(false);
  });
});

describe("-priceFeedAddr", () => {
  const onChain = [
    "-network",
    "devnet",
    "-ethUrl",
    "http://127.0.0.1:8545",
    "-ethController",
    `0x${"11".repeat(20)}`,
  ];
  const other = `0x${"ab".repeat(20)}`;

  it("is supported on both roles and reaches the chain config", () => {
    expect(ok(["-gateway", ...onChain, "-priceFeedAddr", other]).chain!.chain.priceFeedAddr).toBe(other);
    const orch = ["-orchestrator", "-orchSecret", "s", "-serviceAddr", "127.0.0.1:8935"];
    const o = ok([...orch, ...onChain, "-pricePerUnit", "0.5USD", "-priceFeedAddr", other]);
    expect(o.chain!.chain.priceFeedAddr).toBe(other);
    expect(ok(["-gateway", ...onChain, "-maxPricePerUnit", "0.5USD"]).chain!.chain.priceFeedAddr).toBe(FEED);
  });

  it("refuses a value that is not an address", () => {
    expect(problems(["-gateway", ...onChain, "-priceFeedAddr", "0x12"])).toContain(
      '-priceFeedAddr: "0x12" is not an Ethereum address',
    );
  });
});
