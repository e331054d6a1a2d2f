import { createWalletClient, type Hex, http } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { foundry } from "viem/chains";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import mockAggregator from "../../../contracts/build/MockV3Aggregator.json" with { type: "json" };
import { resolveConfig } from "../../../src/config/resolve.js";
import { PRICE_UPDATE_PERIOD_MS, PriceFeedWatcher } from "../../../src/eth/PriceFeedWatcher.js";
import { gatewayRole } from "../../../src/gateway/role.js";
import { silentLogger } from "../../../src/logger/logger.js";
import { LpNode } from "../../../src/node/LpNode.js";
import { AutoConvertedPrice, filterByMaxPrice, maxPricesFromFlags } from "../../../src/payments/pricing.js";
import { Rat } from "../../../src/payments/rat.js";
import { ANVIL_KEYS } from "../../helpers/anvil.js";
import { ManualClock } from "../../helpers/clock.js";
import { GATEWAY_ON_PORT_0 } from "../../helpers/lpNode.js";
import { EchoTranscoder, startOrchestrator } from "../../helpers/orchestrator.js";
import { keystoreDataDir, startTestChain, type TestChain } from "../../helpers/testChain.js";
import { waitFor } from "../../helpers/waitFor.js";

// A settable Chainlink aggregator ("ETH / USD", 8 decimals) on anvil with the devnet contracts:
// prices written in USD become wei through it, on an orchestrator and on a gateway.

const [deployerKey, orchKey, gatewayKey] = ANVIL_KEYS;
const PASSWORD = "price feed test";
const USD = (n: number) => BigInt(n) * 10n ** 8n;
const WEI = (n: bigint) => Rat.of(n);

let chain: TestChain;
let feed: Hex;

const aggregatorAbi = mockAggregator.abi as never;
const wallet = () =>
  createWalletClient({
    chain: foundry,
    transport: http(chain.anvil.url),
    account: privateKeyToAccount(deployerKey),
  });

/** Set the feed's answer with an update time newer than the last (so watchers publish it). */
async function setEthUsd(dollars: number): Promise<void> {
  const round = (await chain.publicClient.readContract({
    address: feed,
    abi: aggregatorAbi,
    functionName: "latestRoundData",
  })) as readonly bigint[];
  const hash = await wallet().writeContract({
    address: feed,
    abi: aggregatorAbi,
    functionName: "updateRoundData",
    args: [USD(dollars), round[3]! + 60n],
  } as never);
  await chain.publicClient.waitForTransactionReceipt({ hash, pollingInterval: 50 });
}

beforeAll(async () => {
  chain = await startTestChain();
  const hash = await wallet().deployContract({
    abi: aggregatorAbi,
    bytecode: mockAggregator.bytecode as Hex,
    args: [8, "ETH / USD", USD(2000)],
  } as never);
  const receipt = await chain.publicClient.waitForTransactionReceipt({ hash, pollingInterval: 50 });
  feed = receipt.contractAddress!;
  // The orchestrator quotes ticket params only as an active transcoder, to a funded gateway.
  const lpt = 1000n * 10n ** 18n;
  const orch = privateKeyToAccount(orchKey).address;
  await chain.send(deployerKey, "LivepeerToken", "transfer", [orch, lpt]);
  await chain.send(orchKey, "LivepeerToken", "approve", [chain.dev.contracts.BondingManager, lpt]);
  await chain.send(orchKey, "BondingManager", "bond", [lpt, orch]);
  await chain.send(orchKey, "BondingManager", "transcoder", [0n, 1_000_000n]);
  const funds = 10n ** 18n;
  await chain.send(gatewayKey, "TicketBroker", "fundDepositAndReserve", [funds, funds], 2n * funds);
  await chain.nextRound();
}, 90_000);

afterAll(async () => {
  await chain?.stop();
});

describe("price feed on anvil", () => {
  it("converts USD prices and ceilings through the aggregator and follows its updates", async () => {
    await setEthUsd(2000);
    const clock = new ManualClock(Date.UTC(2026, 0, 5, 10, 20));
    const watcher = new PriceFeedWatcher({ address: feed }, { reader: () => chain.publicClient, clock });
    expect(await watcher.currencies()).toEqual({ base: "ETH", quote: "USD" });

    // 0.5 USD per pixel at 2000 USD/ETH: 0.5 / 2000 ETH = 2.5e14 wei.
    const orchPrice = await AutoConvertedPrice.create("USD", Rat.parse("0.5"), watcher);
    expect(orchPrice.value().eq(WEI(250_000_000_000_000n))).toBe(true);
    // A gateway ceiling of 0.6 USD per pixel: 3e14 wei. An orchestrator asking a fixed 2.5e14 wei passes.
    const max = await maxPricesFromFlags({ maxPricePerUnit: "0.6USD", pixelsPerUnit: "1" }, watcher);
    expect(max.maxPrice()!.eq(WEI(300_000_000_000_000n))).toBe(true);
    const asks = new Map([["orch", WEI(250_000_000_000_000n)]]);
    expect(filterByMaxPrice(asks, max.maxPrice())).toEqual(["orch"]);

    // ETH rises to 3000 USD: at the next whole hour both follow; the ceiling is now 2e14 wei.
    await setEthUsd(3000);
    await clock.advance(PRICE_UPDATE_PERIOD_MS);
    await waitFor(() => max.maxPrice()!.eq(WEI(200_000_000_000_000n)), { what: "ceiling follows the feed" });
    expect(orchPrice.value().eq(Rat.of(500_000_000_000_000n, 3n))).toBe(true);
    expect(filterByMaxPrice(asks, max.maxPrice())).toEqual([]);

    // Back to 1000 USD: the ceiling is 6e14 wei and the orchestrator passes again.
    await setEthUsd(1000);
    await clock.advance(PRICE_UPDATE_PERIOD_MS);
    await waitFor(() => max.maxPrice()!.eq(WEI(600_000_000_000_000n)), { what: "ceiling follows the feed" });
    expect(filterByMaxPrice(asks, max.maxPrice())).toEqual(["orch"]);

    orchPrice.stop();
    max.stop();
    expect(watcher.polling).toBe(false);
  }, 60_000);

  it("an orchestrator with -pricePerUnit 0.5USD quotes 2.5e14 wei per pixel", async () => {
    await setEthUsd(2000);
    const datadir = await keystoreDataDir(orchKey, PASSWORD, "lp-pricefeed-o-");
    const orch = privateKeyToAccount(orchKey);
    const flags = (addr: string) => [
      ...chain.flags(),
      "-ethAcctAddr",
      orch.address,
      "-ethPassword",
      PASSWORD,
      "-blockPollingInterval",
      "1",
      "-startupAvailabilityCheck=false",
      "-pricePerUnit",
      "0.5USD",
      "-autoAdjustPrice=false",
      "-priceFeedAddr",
      addr,
    ];
    const o = await startOrchestrator(new EchoTranscoder(), flags(feed), {}, { datadir });
    try {
      const quote = await o.orchestrator.recipient!.quote(privateKeyToAccount(gatewayKey).address);
      expect(quote.priceInfo.pricePerUnit).toBe(250_000_000_000_000n);
      expect(quote.priceInfo.pixelsPerUnit).toBe(1n);
    } finally {
      await o.stop();
    }
    // A feed address without a contract stops the node with the reason, not a silent zero price.
    await expect(
      startOrchestrator(
        new EchoTranscoder(),
        flags(privateKeyToAccount(gatewayKey).address),
        {},
        { datadir },
      ),
    ).rejects.toThrow(/Error converting price: .*description\(\)/);
  }, 60_000);

  it("a gateway with -maxPricePerUnit 0.6USD starts on a chain with the ceiling in wei", async () => {
    await setEthUsd(2000);
    const datadir = await keystoreDataDir(gatewayKey, PASSWORD, "lp-pricefeed-g-");
    const r = resolveConfig(
      [
        ...GATEWAY_ON_PORT_0,
        ...chain.flags(),
        "-datadir",
        datadir,
        "-ethAcctAddr",
        privateKeyToAccount(gatewayKey).address,
        "-ethPassword",
        PASSWORD,
        "-maxPricePerUnit",
        "0.6USD",
        "-priceFeedAddr",
        feed,
      ],
      { env: {}, readFile: () => null },
    );
    if (r.kind !== "ok") throw new Error(`bad config: ${JSON.stringify(r)}`);
    const node = new LpNode(r.config, {
      logger: silentLogger(),
      roles: { gateway: (config, ctx) => gatewayRole(config, ctx) },
    });
    await node.start();
    try {
      expect(node.status()["Sender"]).toMatchObject({ maxPricePerPixel: "300000000000000" });
    } finally {
      await node.stop();
    }
  }, 60_000);
});
