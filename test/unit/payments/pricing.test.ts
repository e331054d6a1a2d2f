import type { Address } from "viem";
import { describe, expect, it } from "vitest";
import { AddressBalances } from "../../../src/payments/balances.js";
import {
  AutoConvertedPrice,
  autoAdjustedPrice,
  filterByMaxPrice,
  fixedToPrice,
  gatewayPricesFromFlag,
  MaxPrices,
  maxPricesFromFlags,
  OrchestratorPricing,
  orchestratorBasePrice,
  type PriceData,
  type PriceFeed,
  parseMaxPricePerCapability,
  parseMaxPricePerUnitFlag,
  parsePixelsPerUnitFlag,
  parsePricePerGateway,
  parsePricePerUnitFlag,
  parsePriceWithCurrency,
  pipelineToCapability,
  priceInfoOf,
  priceToFixed,
  ratPriceInfo,
  validatePriceIncrease,
} from "../../../src/payments/pricing.js";
import { Rat } from "../../../src/payments/rat.js";

const G1 = "0x73AEd7b5dEb30222fa896f399d46cC99c7BEe57F" as Address;
const G2 = "0xA69cdA26600c155cF2c150964Bdb5371ac3f606F" as Address;
const r = (n: bigint | number, d: bigint | number = 1n) => Rat.of(n, d);

/** A price feed under the test's control. */
function fakeFeed(base: string, quote: string, price: Rat) {
  const handlers = new Set<(d: PriceData) => void>();
  const feed: PriceFeed & { push(p: Rat): void; subscribers(): number } = {
    currencies: async () => ({ base, quote }),
    current: async () => ({ price, updatedAt: 1 }),
    subscribe: (h) => {
      handlers.add(h);
      return () => handlers.delete(h);
    },
    push: (p) => {
      for (const h of handlers) h({ price: p, updatedAt: 2 });
    },
    subscribers: () => handlers.size,
  };
  return feed;
}

describe("price flags", () => {
  it("reads <number>[currency] as go-livepeer's pattern does", () => {
    expect(parsePriceWithCurrency("1000")).toEqual({ price: r(1000), currency: "" });
    const usd = parsePriceWithCurrency("0.50USD")!;
    expect(usd.price.eq(r(1, 2))).toBe(true);
    expect(usd.currency).toBe("USD");
    expect(parsePriceWithCurrency("2gwei")!.currency).toBe("gwei");
    expect(parsePriceWithCurrency("1.5eth")!.price.eq(r(3, 2))).toBe(true);
    // As in Go, "1e3" is the number 1 in a currency named "e3" (which no feed knows).
    expect(parsePriceWithCurrency("1e3")!.currency).toBe("e3");
    expect(parsePriceWithCurrency("0x10")!.currency).toBe("x10");
    for (const bad of ["-1", "1.", ".5", "abc", "1 USD", "", "1/2", "1USD!", "1.5.2"]) {
      expect(parsePriceWithCurrency(bad)).toBeNull();
    }
  });

  it("-pricePerUnit: go-livepeer's texts", () => {
    expect(parsePricePerUnitFlag("0").price.sign()).toBe(0);
    expect(() => parsePricePerUnitFlag(undefined)).toThrow("-pricePerUnit must be set");
    expect(() => parsePricePerUnitFlag("-5")).toThrow(
      "-pricePerUnit must be a valid integer with an optional currency, provided -5",
    );
  });

  it("-pixelsPerUnit: an integer > 0", () => {
    expect(parsePixelsPerUnitFlag("1").eq(1n)).toBe(true);
    expect(parsePixelsPerUnitFlag("1e3").eq(1000n)).toBe(true);
    expect(parsePixelsPerUnitFlag().eq(1n)).toBe(true);
    expect(() => parsePixelsPerUnitFlag("1.5")).toThrow(
      "-pixelsPerUnit must be a valid integer, provided 1.5",
    );
    expect(() => parsePixelsPerUnitFlag("abc")).toThrow(
      "-pixelsPerUnit must be a valid integer, provided abc",
    );
    expect(() => parsePixelsPerUnitFlag("0")).toThrow("-pixelsPerUnit must be > 0, provided 0");
    expect(() => parsePixelsPerUnitFlag("-3")).toThrow("-pixelsPerUnit must be > 0, provided -3");
  });

  it("-maxPricePerUnit: go-livepeer's text", () => {
    expect(parseMaxPricePerUnitFlag().price.sign()).toBe(0);
    expect(() => parseMaxPricePerUnitFlag("ten")).toThrow(
      "The maximum price per unit must be a valid integer with an optional currency, provided ten instead",
    );
  });
});

describe("AutoConvertedPrice", () => {
  it("keeps wei, multiplies eth by 1e18 and gwei by 1e9", async () => {
    const seen: Rat[] = [];
    expect((await AutoConvertedPrice.create("", r(7, 2), null)).value().eq(r(7, 2))).toBe(true);
    expect((await AutoConvertedPrice.create("WEI", r(3), null, (p) => seen.push(p))).value().eq(3n)).toBe(
      true,
    );
    expect(seen.map((p) => p.ratString())).toEqual(["3"]);
    expect((await AutoConvertedPrice.create("eth", r(1, 1000), null)).value().eq(10n ** 15n)).toBe(true);
    expect((await AutoConvertedPrice.create("Gwei", r(2), null)).value().eq(2n * 10n ** 9n)).toBe(true);
  });

  it("converts a currency through an ETH / USD feed and follows its updates until stopped", async () => {
    const feed = fakeFeed("ETH", "USD", r(2000));
    const seen: string[] = [];
    const p = await AutoConvertedPrice.create("usd", r(1), feed, (v) => seen.push(v.ratString()));
    // 1 USD at 2000 USD/ETH = 1e18 / 2000 wei.
    expect(p.value().eq(r(10n ** 18n, 2000n))).toBe(true);
    feed.push(r(4000));
    expect(p.value().eq(r(10n ** 18n, 4000n))).toBe(true);
    feed.push(r(0)); // a bad reading keeps the last good price
    expect(p.value().eq(r(10n ** 18n, 4000n))).toBe(true);
    expect(seen).toEqual(["500000000000000", "250000000000000"]);
    p.stop();
    p.stop();
    expect(feed.subscribers()).toBe(0);
  });

  it("converts through a feed quoted in ETH", async () => {
    const feed = fakeFeed("LPT", "ETH", r(1, 200));
    const p = await AutoConvertedPrice.create("LPT", r(2), feed);
    expect(p.value().eq(r(10n ** 16n))).toBe(true);
    p.stop();
  });

  it("refuses without a feed, with a feed lacking ETH or the currency", async () => {
    await expect(AutoConvertedPrice.create("USD", r(1), null)).rejects.toThrow(
      "PriceFeedWatcher is not initialized",
    );
    await expect(AutoConvertedPrice.create("USD", r(1), fakeFeed("BTC", "USD", r(1)))).rejects.toThrow(
      "price feed does not have ETH as a currency (BTC/USD)",
    );
    await expect(AutoConvertedPrice.create("EUR", r(1), fakeFeed("ETH", "USD", r(1)))).rejects.toThrow(
      "price feed does not have EUR as a currency (ETH/USD)",
    );
  });
});

describe("-pricePerGateway", () => {
  it("reads gateways (and the deprecated broadcasters key) with exact numbers", () => {
    const list = parsePricePerGateway(
      JSON.stringify({ gateways: [{ ethaddress: G1, priceperunit: 0, pixelsperunit: 1 }] }).replace(
        '"priceperunit":0',
        '"priceperunit":0.1',
      ),
    );
    expect(list).toHaveLength(1);
    expect(list[0]!.pricePerUnit.eq(r(1, 10))).toBe(true);
    const big = parsePricePerGateway(
      `{"broadcasters":[{"ethaddress":"${G2}","priceperunit":123456789012345678901234567890,"currency":"USD","pixelsperunit":3}]}`,
    );
    expect(big[0]!.pricePerUnit.eq(123456789012345678901234567890n)).toBe(true);
    expect(big[0]!.pixelsPerUnit.eq(3n)).toBe(true);
    expect(big[0]!.currency).toBe("USD");
    expect(parsePricePerGateway("")).toEqual([]);
  });

  it("refuses bad JSON, bad addresses, negative prices and missing pixels", () => {
    expect(() => parsePricePerGateway("{")).toThrow(/not valid JSON/);
    expect(() =>
      parsePricePerGateway(`{"gateways":[{"ethaddress":"0x12","priceperunit":1,"pixelsperunit":1}]}`),
    ).toThrow(/invalid ethaddress/);
    expect(() =>
      parsePricePerGateway(`{"gateways":[{"ethaddress":"${G1}","priceperunit":-1,"pixelsperunit":1}]}`),
    ).toThrow(/priceperunit must be >= 0/);
    expect(() => parsePricePerGateway(`{"gateways":[{"ethaddress":"${G1}","priceperunit":1}]}`)).toThrow(
      /pixelsperunit must be > 0/,
    );
    expect(() =>
      parsePricePerGateway(`{"gateways":[{"ethaddress":"${G1}","priceperunit":true,"pixelsperunit":1}]}`),
    ).toThrow(/not a number/);
  });

  it("converts each gateway's price and keys it by lowercase address", async () => {
    const prices = await gatewayPricesFromFlag(
      `{"gateways":[{"ethaddress":"${G1}","priceperunit":10,"pixelsperunit":4},{"ethaddress":"${G2}","priceperunit":1,"pixelsperunit":1,"currency":"eth"}]}`,
      null,
    );
    expect(prices.get(G1.toLowerCase())!.value().eq(r(5, 2))).toBe(true);
    expect(
      prices
        .get(G2.toLowerCase())!
        .value()
        .eq(10n ** 18n),
    ).toBe(true);
    await expect(
      gatewayPricesFromFlag(
        `{"gateways":[{"ethaddress":"${G1}","priceperunit":1,"pixelsperunit":1,"currency":"USD"}]}`,
        null,
      ),
    ).rejects.toThrow(`Error converting price for gateway ${G1}: PriceFeedWatcher is not initialized`);
  });
});

describe("-maxPricePerCapability", () => {
  const defaults = { maxPricePerUnit: r(0), pixelsPerUnit: r(1) };

  it("maps pipelines to capabilities with go-livepeer's defaults", () => {
    expect(pipelineToCapability("text-to-image")).toBe(27);
    expect(pipelineToCapability("llm")).toBe(33);
    expect(pipelineToCapability("live-video-to-video")).toBe(35);
    expect(pipelineToCapability("byoc")).toBeNull();
    expect(pipelineToCapability("")).toBeNull();
    expect(pipelineToCapability("constructor")).toBeNull();
    const list = parseMaxPricePerCapability(
      `{"capabilities_prices":[{"pipeline":"text-to-image","model_id":"m1","price_per_unit":1000,"pixels_per_unit":3},{"pipeline":"upscale","price_per_unit":5,"pixels_per_unit":0},{"pipeline":"llm","price_per_unit":0}]}`,
      defaults,
    );
    // llm has no price and no global maximum: skipped (any price).
    expect(
      list.map((c) => [c.capability, c.modelId, c.pricePerUnit.ratString(), c.pixelsPerUnit.ratString()]),
    ).toEqual([
      [27, "m1", "1000", "3"],
      [30, "default", "5", "1"],
    ]);
    const withGlobal = parseMaxPricePerCapability(`{"capabilities_prices":[{"pipeline":"llm"}]}`, {
      maxPricePerUnit: r(7),
      pixelsPerUnit: r(2),
    });
    expect(withGlobal[0]!.pricePerUnit.eq(7n)).toBe(true);
    expect(withGlobal[0]!.pixelsPerUnit.eq(2n)).toBe(true);
  });

  it("refuses an unknown pipeline with go-livepeer's text", () => {
    expect(() =>
      parseMaxPricePerCapability(
        `{"capabilities_prices":[{"pipeline":"teleport","price_per_unit":1}]}`,
        defaults,
      ),
    ).toThrow("Pipeline in 'maxPricePerCapability' config is not valid capability: teleport");
  });
});

describe("fixed-point prices and PriceInfo", () => {
  it("PriceToFixed / FixedToPrice (common/util_test.go)", () => {
    expect(priceToFixed(r(1, 10))).toBe(100n);
    expect(priceToFixed(r(500))).toBe(500000n);
    expect(priceToFixed(r(125, 100))).toBe(1250n);
    expect(priceToFixed(r(1, 5000))).toBe(0n);
    expect(priceToFixed(r(0))).toBe(0n);
    expect(priceToFixed(r(-1, 3))).toBe(-333n);
    expect(priceToFixed(r(10n ** 30n))).toBe((1n << 63n) - 1n);
    expect(fixedToPrice(1010n).eq(r(101, 100))).toBe(true);
  });

  it("RatPriceInfo refuses 0 pixels per unit", () => {
    expect(ratPriceInfo({ pricePerUnit: 7n, pixelsPerUnit: 2n }).eq(r(7, 2))).toBe(true);
    expect(() => ratPriceInfo({ pricePerUnit: 0n, pixelsPerUnit: 0n })).toThrow("pixels per unit is 0");
  });

  it("a price as PriceInfo: the reduced fraction, integerised when it overflows int64", () => {
    expect(priceInfoOf(r(10, 4))).toEqual({ pricePerUnit: 5n, pixelsPerUnit: 2n });
    expect(priceInfoOf(r(0))).toEqual({ pricePerUnit: 0n, pixelsPerUnit: 1n });
    const over = (1n << 63n) + 1n;
    expect(priceInfoOf(r(over, 5n))).toEqual({ pricePerUnit: over / 5n, pixelsPerUnit: 1n });
    expect(() => priceInfoOf(r(10n ** 30n))).toThrow("price cannot be converted to int64");
  });
});

describe("auto-adjusted price (reference 6.2, 11.J)", () => {
  const table: [Rat, Rat, Rat][] = [
    [r(1), r(100), r(101, 100)],
    [r(10), r(100), r(101, 10)],
    [r(1, 10), r(100), r(101, 1000)],
    [r(25, 10), r(100), r(101, 40)],
    [r(10), r(10), r(11)],
    [r(10), r(1, 10), r(110)],
    [r(10), r(1), r(20)],
  ];
  for (const [base, m, want] of table) {
    it(`base ${base.ratString()} with multiplier ${m.ratString()} -> ${want.ratString()}`, () => {
      expect(autoAdjustedPrice(base, m).ratString()).toBe(want.ratString());
    });
  }

  it("base 0 gives 0/1 whatever the multiplier; a multiplier of 0 adds no overhead", () => {
    expect(priceInfoOf(autoAdjustedPrice(r(0), r(100)))).toEqual({ pricePerUnit: 0n, pixelsPerUnit: 1n });
    expect(autoAdjustedPrice(r(7), r(0)).eq(7n)).toBe(true);
    expect(autoAdjustedPrice(r(7), null).eq(7n)).toBe(true);
  });

  it("truncates a price whose exact value overflows int64 to 3 decimals", () => {
    const m = r(22245599237119512n, 100000n * 7500000000n);
    const exact = r(25000).mul(Rat.ONE.add(Rat.ONE.div(m)));
    expect(exact.ratString()).toBe("23953749205332825000/926899968213313");
    const got = autoAdjustedPrice(r(25000), m);
    expect(got.eq(exact)).toBe(false);
    expect(got.eq(r(exact.mul(1000n).floor(), 1000n))).toBe(true);
    const info = priceInfoOf(got);
    expect(info.pixelsPerUnit <= 1000n).toBe(true);
  });
});

describe("OrchestratorPricing", () => {
  it("quotes the gateway's own price or the default, auto-adjusted, and the pinned price of a session", async () => {
    const balances = new AddressBalances();
    const calls: string[] = [];
    const pricing = new OrchestratorPricing(
      {
        defaultPrice: AutoConvertedPrice.fixed(r(1)),
        gatewayPrices: [[G2.toLowerCase(), AutoConvertedPrice.fixed(r(10))]],
      },
      {
        txCostMultiplier: (s) => {
          calls.push(s);
          return r(100);
        },
        balances,
      },
    );
    expect((await pricing.price(G1)).ratString()).toBe("101/100");
    expect((await pricing.priceInfo(G2)).pricePerUnit).toBe(101n);
    expect(await pricing.priceInfo(G2)).toEqual({ pricePerUnit: 101n, pixelsPerUnit: 10n });
    balances.pinPrice(G1, "sess", r(3));
    expect((await pricing.price(G1, "sess")).eq(3n)).toBe(true);
    expect((await pricing.price(G1, "other")).ratString()).toBe("101/100");
    expect(calls.length).toBe(4);
  });

  it("returns the base as is without auto-adjust, and asks no multiplier for a zero price", async () => {
    let asked = 0;
    const deps = {
      txCostMultiplier: () => {
        asked++;
        return r(100);
      },
      balances: null,
    };
    const plain = new OrchestratorPricing(
      { defaultPrice: AutoConvertedPrice.fixed(r(1, 3000)), autoAdjustPrice: false },
      deps,
    );
    expect((await plain.price(G1)).eq(r(1, 3000))).toBe(true);
    const free = new OrchestratorPricing({ defaultPrice: AutoConvertedPrice.fixed(r(0)) }, deps);
    expect(await free.priceInfo(G1)).toEqual({ pricePerUnit: 0n, pixelsPerUnit: 1n });
    expect(asked).toBe(0);
    const none = new OrchestratorPricing({ defaultPrice: null }, deps);
    await expect(none.price(G1)).rejects.toThrow("no price is set");
    none.setGatewayPrice(G1, AutoConvertedPrice.fixed(r(2)));
    expect((await none.price(G1)).ratString()).toBe("101/50");
  });

  it("builds the default price from the flags", async () => {
    const p = await orchestratorBasePrice({ pricePerUnit: "1000", pixelsPerUnit: "3" }, null);
    expect(p.value().eq(r(1000, 3))).toBe(true);
    await expect(orchestratorBasePrice({ pricePerUnit: "1USD" }, null)).rejects.toThrow(
      "Error converting price: PriceFeedWatcher is not initialized",
    );
    await expect(orchestratorBasePrice({ pricePerUnit: undefined }, null)).rejects.toThrow(
      "-pricePerUnit must be set",
    );
  });
});

describe("gateway price limits", () => {
  it("filters orchestrators above the ceiling, dropping those without a price", () => {
    const prices = new Map<string, Rat | null>([
      ["a", r(1)],
      ["b", r(3, 2)],
      ["c", r(2)],
      ["d", null],
    ]);
    expect(filterByMaxPrice(prices, r(3, 2))).toEqual(["a", "b"]);
    expect(filterByMaxPrice(prices, null)).toEqual(["a", "b", "c", "d"]);
    expect(filterByMaxPrice(prices, r(1, 2))).toEqual([]);
    expect(filterByMaxPrice(prices, r(1, 2), true)).toEqual(["a", "b", "c", "d"]);
    expect(filterByMaxPrice(new Map(), r(1))).toEqual([]);
  });

  it("sums per-capability ceilings for a job and falls back to the global one", async () => {
    const max = await maxPricesFromFlags(
      {
        maxPricePerUnit: "10",
        pixelsPerUnit: "2",
        maxPricePerCapability: `{"capabilities_prices":[{"pipeline":"text-to-image","model_id":"m1","price_per_unit":6,"pixels_per_unit":1},{"pipeline":"upscale","price_per_unit":4,"pixels_per_unit":1}]}`,
      },
      null,
    );
    expect(max.maxPrice()!.eq(5n)).toBe(true);
    expect(max.capabilitiesMaxPrice(null)!.eq(5n)).toBe(true);
    expect(max.capabilityMaxPrice(27, "m1")!.eq(6n)).toBe(true);
    expect(max.capabilityMaxPrice(27, "m2")).toBeNull();
    expect(max.capabilityMaxPrice(30, "any")!.eq(4n)).toBe(true);
    expect(
      max
        .capabilitiesMaxPrice(
          new Map([
            [27, ["m1"]],
            [30, ["x"]],
          ]),
        )!
        .eq(10n),
    ).toBe(true);
    expect(max.capabilitiesMaxPrice(new Map([[28, ["m"]]]))!.eq(5n)).toBe(true);
    const any = await maxPricesFromFlags({}, null);
    expect(any.maxPrice()).toBeNull();
    const m = new MaxPrices();
    m.setMaxPrice(AutoConvertedPrice.fixed(r(1)));
    m.setMaxPrice(null);
    expect(m.maxPrice()).toBeNull();
  });

  it("refuses a price that more than doubled since the session started", () => {
    const initial = { pricePerUnit: 10n, pixelsPerUnit: 4n };
    validatePriceIncrease({ pricePerUnit: 5n, pixelsPerUnit: 1n }, initial); // exactly 2x
    validatePriceIncrease({ pricePerUnit: 1n, pixelsPerUnit: 1n }, initial);
    validatePriceIncrease({ pricePerUnit: 1n, pixelsPerUnit: 1n }, null);
    expect(() => validatePriceIncrease({ pricePerUnit: 51n, pixelsPerUnit: 10n }, initial)).toThrow(
      "Orchestrator price has more than doubled, Orchestrator price: 51/10, Orchestrator initial price: 5/2",
    );
    expect(() => validatePriceIncrease(null, initial)).toThrow("missing orchestrator price");
    expect(() => validatePriceIncrease({ pricePerUnit: 1n, pixelsPerUnit: 0n }, initial)).toThrow(
      "pixels per unit is 0",
    );
  });
});
