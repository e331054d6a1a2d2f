/**
 * A Chainlink AggregatorV3 price feed (go-livepeer eth/pricefeed.go and
 * eth/watchers/pricefeedwatcher.go): the pair from description() ("BASE / QUOTE"), the price as
 * latestRoundData().answer / 10^decimals(). Polled only while someone listens, on whole hours, with
 * a failed read retried with a doubling delay; a reading is published only when it is newer.
 */
import type { Address } from "viem";
import { errorMessage, LpError } from "../errors/LpError.js";
import type { Logger } from "../logger/logger.js";
import type { PriceData, PriceFeed } from "../payments/pricing.js";
import { type Clock, type ClockTimer, systemClock } from "../utils/clock.js";

/** The three AggregatorV3Interface functions lp-node reads. */
export const aggregatorV3Abi = [
  {
    type: "function",
    name: "decimals",
    stateMutability: "view",
    inputs: [],
    outputs: [{ name: "", type: "uint8" }],
  },
  {
    type: "function",
    name: "description",
    stateMutability: "view",
    inputs: [],
    outputs: [{ name: "", type: "string" }],
  },
  {
    type: "function",
    name: "latestRoundData",
    stateMutability: "view",
    inputs: [],
    outputs: [
      { name: "roundId", type: "uint80" },
      { name: "answer", type: "int256" },
      { name: "startedAt", type: "uint256" },
      { name: "updatedAt", type: "uint256" },
      { name: "answeredInRound", type: "uint80" },
    ],
  },
] as const;

/** Prices are read on every whole hour while subscribed (go-livepeer priceUpdatePeriod). */
export const PRICE_UPDATE_PERIOD_MS = 60 * 60_000;
/** A failed hourly read is retried this many times... */
export const PRICE_FETCH_RETRIES = 5;
/** ...first after this delay, doubling each time (30 s, 1, 2, 4, 8 min). */
export const PRICE_FETCH_RETRY_DELAY_MS = 30_000;

/** What the watcher reads the feed with: a viem public client fits. */
export interface PriceFeedReader {
  readContract(args: {
    address: Address;
    abi: typeof aggregatorV3Abi;
    functionName: "decimals" | "description" | "latestRoundData";
  }): Promise<unknown>;
}

/** A feed that cannot be read or answers something unusable. */
export class PriceFeedError extends LpError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super("PRICE_FEED", message, options);
  }
}

/** Longest description() kept (a real one is "ETH / USD"); anything longer is refused. */
const MAX_DESCRIPTION = 64;
/** More decimals than this cannot be a real feed (10^77 is about uint256's range). */
const MAX_DECIMALS = 77;

/** "BASE / QUOTE" → { base, quote }, or a PriceFeedError. */
export function parseFeedDescription(text: unknown): { base: string; quote: string } {
  const shown = typeof text === "string" ? JSON.stringify(text.slice(0, MAX_DESCRIPTION)) : typeof text;
  if (typeof text !== "string" || text.length > MAX_DESCRIPTION) {
    throw new PriceFeedError(`price feed description ${shown} is not "BASE / QUOTE"`);
  }
  const parts = text.split("/").map((s) => s.trim());
  if (parts.length !== 2 || !/^[A-Za-z0-9]+$/.test(parts[0]!) || !/^[A-Za-z0-9]+$/.test(parts[1]!)) {
    throw new PriceFeedError(`price feed description ${shown} is not "BASE / QUOTE"`);
  }
  return { base: parts[0]!, quote: parts[1]! };
}

/**
 * The price feed at -priceFeedAddr, implementing the payments layer's PriceFeed. `updatedAt` is
 * the feed's own time in seconds since the epoch. Nothing is read until asked.
 */
export class PriceFeedWatcher implements PriceFeed {
  private pair: Promise<{ base: string; quote: string }> | null = null;
  private decimals: Promise<number> | null = null;
  private latest: PriceData | null = null;
  private readonly handlers = new Set<(data: PriceData) => void>();
  private timer: ClockTimer | null = null;
  private wake: (() => void) | null = null;
  /** Bumped whenever polling stops: a loop from an earlier generation ends at its next step. */
  private generation = 0;
  private readonly clock: Clock;

  constructor(
    private readonly options: { address: Address },
    private readonly deps: { reader: () => PriceFeedReader; clock?: Clock; logger?: Logger },
  ) {
    this.clock = deps.clock ?? systemClock;
  }

  /** The feed's address. */
  get address(): Address {
    return this.options.address;
  }

  /** The pair from description(), read once (again after a failure). */
  currencies(): Promise<{ base: string; quote: string }> {
    if (!this.pair) {
      this.pair = this.read("description").then(parseFeedDescription);
      this.pair.catch(() => {
        this.pair = null;
      });
    }
    return this.pair;
  }

  /** The latest price: the polled one while subscribed, else read now. */
  async current(): Promise<PriceData> {
    if (this.latest && this.handlers.size > 0) return this.latest;
    return this.update();
  }

  /** Hear every newer price; polling runs while at least one handler is subscribed. */
  subscribe(handler: (data: PriceData) => void): () => void {
    // A wrapper per call: the same function subscribed twice is heard twice and unsubscribed once.
    const h = (data: PriceData) => handler(data);
    this.handlers.add(h);
    if (this.handlers.size === 1) this.startPolling();
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.handlers.delete(h);
      if (this.handlers.size === 0) this.stopPolling();
    };
  }

  /** Whether the hourly poll is running (for /status and tests). */
  get polling(): boolean {
    return this.timer !== null || this.wake !== null;
  }

  /** Stop polling and forget every subscriber (the chain layer's stop). */
  stop(): void {
    this.handlers.clear();
    this.stopPolling();
  }

  private async read(functionName: "decimals" | "description" | "latestRoundData"): Promise<unknown> {
    try {
      return await this.deps
        .reader()
        .readContract({ address: this.options.address, abi: aggregatorV3Abi, functionName });
    } catch (err) {
      throw new PriceFeedError(
        `cannot read ${functionName}() of the price feed at ${this.options.address}: ${errorMessage(err)}`,
        { cause: err },
      );
    }
  }

  private getDecimals(): Promise<number> {
    if (!this.decimals) {
      this.decimals = this.read("decimals").then((d) => {
        const n = Number(d);
        if (!Number.isInteger(n) || n < 0 || n > MAX_DECIMALS)
          throw new PriceFeedError(`price feed decimals ${String(d)} out of range`);
        return n;
      });
      this.decimals.catch(() => {
        this.decimals = null;
      });
    }
    return this.decimals;
  }

  /** Read the feed once; publish and keep the reading when it is newer than the last one. */
  private async update(): Promise<PriceData> {
    const decimals = await this.getDecimals();
    const round = await this.read("latestRoundData");
    if (!Array.isArray(round) || round.length < 4)
      throw new PriceFeedError("price feed latestRoundData() answered an unexpected shape");
    const answer = BigInt(round[1] as bigint);
    const updatedAt = BigInt(round[3] as bigint);
    if (answer <= 0n) throw new PriceFeedError(`price feed answered a non-positive price (${answer})`);
    if (updatedAt > BigInt(Number.MAX_SAFE_INTEGER))
      throw new PriceFeedError(`price feed updatedAt ${updatedAt} out of range`);
    const data: PriceData = {
      price: { num: answer, den: 10n ** BigInt(decimals) },
      updatedAt: Number(updatedAt),
    };
    const latest = this.latest;
    if (latest && data.updatedAt <= latest.updatedAt) return latest;
    this.latest = data;
    for (const h of [...this.handlers]) {
      try {
        h(data);
      } catch (err) {
        this.deps.logger?.warn({ err: errorMessage(err) }, "price feed subscriber failed");
      }
    }
    return data;
  }

  private startPolling(): void {
    const gen = ++this.generation;
    void this.poll(gen);
  }

  private stopPolling(): void {
    this.generation++;
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  /** Resolves after `ms`, or early when polling stops (the caller then sees a newer generation). */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.timer = this.clock.setTimeout(() => {
        this.timer = null;
        this.wake = null;
        resolve();
      }, ms);
      // An hourly poll alone must not keep the process alive.
      this.timer.unref?.();
    });
  }

  private async poll(gen: number): Promise<void> {
    while (gen === this.generation) {
      const now = this.clock.now();
      await this.sleep(PRICE_UPDATE_PERIOD_MS - (now % PRICE_UPDATE_PERIOD_MS));
      if (gen !== this.generation) return;
      for (let attempt = 0; ; attempt++) {
        try {
          await this.update();
          break;
        } catch (err) {
          if (gen !== this.generation) return;
          if (attempt >= PRICE_FETCH_RETRIES) {
            this.deps.logger?.warn(
              { feed: this.options.address, err: errorMessage(err) },
              "price feed read failed; keeping the last price until the next hour",
            );
            break;
          }
          const delay = PRICE_FETCH_RETRY_DELAY_MS * 2 ** attempt;
          this.deps.logger?.debug(
            { feed: this.options.address, err: errorMessage(err), retryInMs: delay },
            "price feed read failed; retrying",
          );
          await this.sleep(delay);
          if (gen !== this.generation) return;
        }
      }
    }
  }
}
