/**
 * Prices in wei per pixel as exact rationals: the orchestrator's flags (-pricePerUnit,
 * -pixelsPerUnit, -pricePerGateway, -autoAdjustPrice), currency conversion through a price feed,
 * the PriceInfo message both sides exchange, and the gateway's limits (-maxPricePerUnit,
 * -maxPricePerCapability, the "price more than doubled" guard). Mirrors go-livepeer's
 * cmd/livepeer/starter/starter.go, core/autoconvertedprice.go, core/orchestrator.go priceInfo,
 * common/util.go and server/broadcast.go BroadcastConfig.
 */
import { type Address, isAddress } from "viem";
import { errorMessage, LpError } from "../errors/LpError.js";
import type { AddressBalances } from "./balances.js";
import { Rat } from "./rat.js";
import type { RatValue } from "./types.js";

/** Stable codes of pricing errors; messages are go-livepeer's texts where it has one. */
export type PricingErrorCode =
  | "INVALID_PRICE_FLAG"
  | "INVALID_PRICE_INFO"
  | "PRICE_CONVERSION"
  | "PRICE_OUT_OF_RANGE"
  | "PRICE_INCREASED"
  | "PRICE_MISSING";

/** A price that cannot be parsed, converted or accepted. */
export class PricingError extends LpError {
  declare readonly code: PricingErrorCode;

  constructor(code: PricingErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
  }
}

/** Wei in one ether. */
export const WEI_PER_ETH = 10n ** 18n;
/** Wei in one gwei. */
export const WEI_PER_GWEI = 10n ** 9n;
/** PriceToFixed's scale: prices keep 3 decimals (common/util.go priceScalingFactor). */
export const PRICE_SCALING_FACTOR = 1000n;
/** The gateway refuses an orchestrator whose price rose above this multiple of the session's first price. */
export const PRICE_INCREASE_THRESHOLD = 2n;

const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN = -(1n << 63n);

// go-livepeer's own pattern, [A-z] (which also admits [\]^_` ) included.
const PRICE_WITH_CURRENCY = /^(\d+(\.\d+)?)([A-z][A-z0-9]*)?$/;

/** A price with the currency it is written in ("" or "wei", "eth", or a feed currency such as "USD"). */
export interface PriceWithCurrency {
  price: Rat;
  currency: string;
}

/**
 * "<number>[currency]" as go-livepeer's parsePricePerUnit reads it: a non-negative decimal and an
 * optional currency name. Returns null when the text does not match.
 */
export function parsePriceWithCurrency(text: string): PriceWithCurrency | null {
  if (typeof text !== "string" || text.length > 256) return null;
  const m = PRICE_WITH_CURRENCY.exec(text);
  if (!m) return null;
  return { price: Rat.parse(m[1]!), currency: m[3] ?? "" };
}

/** -pixelsPerUnit: an integer > 0 (a rational that is an integer, such as "1e3", passes as in Go). */
export function parsePixelsPerUnitFlag(text: string = "1"): Rat {
  let r: Rat | null = null;
  try {
    r = Rat.parse(String(text).trim());
  } catch {
    r = null;
  }
  if (!r?.isInt()) {
    throw new PricingError("INVALID_PRICE_FLAG", `-pixelsPerUnit must be a valid integer, provided ${text}`);
  }
  if (r.sign() <= 0)
    throw new PricingError("INVALID_PRICE_FLAG", `-pixelsPerUnit must be > 0, provided ${text}`);
  return r;
}

/** -pricePerUnit: "<number>[currency]", >= 0. `undefined` is refused with "-pricePerUnit must be set". */
export function parsePricePerUnitFlag(text: string | undefined): PriceWithCurrency {
  if (text === undefined) throw new PricingError("INVALID_PRICE_FLAG", "-pricePerUnit must be set");
  const parsed = parsePriceWithCurrency(text);
  if (!parsed) {
    throw new PricingError(
      "INVALID_PRICE_FLAG",
      `-pricePerUnit must be a valid integer with an optional currency, provided ${text}`,
    );
  }
  return parsed;
}

/** -maxPricePerUnit: "<number>[currency]"; 0 means any price. */
export function parseMaxPricePerUnitFlag(text: string = "0"): PriceWithCurrency {
  const parsed = parsePriceWithCurrency(text);
  if (!parsed) {
    throw new PricingError(
      "INVALID_PRICE_FLAG",
      `The maximum price per unit must be a valid integer with an optional currency, provided ${text} instead`,
    );
  }
  return parsed;
}

/** One reading of a price feed: `price` is quote currency per base currency (Chainlink answer / 10^decimals). */
export interface PriceData {
  price: RatValue;
  updatedAt: number;
}

/** A currency price feed (a Chainlink aggregator watcher, wired later). */
export interface PriceFeed {
  /** The feed's pair, e.g. { base: "ETH", quote: "USD" } for "ETH / USD". */
  currencies(): Promise<{ base: string; quote: string }>;
  /** The latest price. */
  current(): Promise<PriceData>;
  /** Hear every new price; returns the unsubscribe function. */
  subscribe(handler: (data: PriceData) => void): () => void;
}

/** Wei per unit of the feed's non-ETH currency (go-livepeer currencyToWeiMultiplier). */
function weiMultiplier(data: PriceData, base: string): Rat {
  const price = Rat.from(data.price);
  if (price.sign() <= 0)
    throw new PricingError("PRICE_CONVERSION", "price feed returned a non-positive price");
  return (base === "ETH" ? Rat.ONE.div(price) : price).mul(WEI_PER_ETH);
}

/**
 * A price per pixel written in a currency, kept in wei (go-livepeer core.AutoConvertedPrice):
 * wei and eth are fixed; another currency follows the price feed until stop().
 */
export class AutoConvertedPrice {
  private current: Rat;
  private unsubscribe: (() => void) | null = null;

  private constructor(value: Rat) {
    this.current = value;
  }

  /** A fixed price in wei per pixel. */
  static fixed(pricePerPixel: RatValue): AutoConvertedPrice {
    return new AutoConvertedPrice(Rat.from(pricePerPixel));
  }

  /**
   * Convert `basePrice` (per pixel, in `currency`) to wei: "" and "wei" as is, "eth" × 10^18,
   * "gwei" × 10^9 (an lp-node extension; go-livepeer would look gwei up in the price feed), all
   * case-insensitive; anything else through `feed`, whose pair must be ETH and that currency.
   * `onUpdate` hears the first value and every later one.
   */
  static async create(
    currency: string,
    basePrice: RatValue,
    feed: PriceFeed | null,
    onUpdate: (price: Rat) => void = () => {},
  ): Promise<AutoConvertedPrice> {
    const base = Rat.from(basePrice);
    const lc = currency.toLowerCase();
    if (lc === "" || lc === "wei" || lc === "eth" || lc === "gwei") {
      const unit = lc === "eth" ? WEI_PER_ETH : lc === "gwei" ? WEI_PER_GWEI : 1n;
      const p = AutoConvertedPrice.fixed(base.mul(unit));
      onUpdate(p.current);
      return p;
    }
    if (!feed) throw new PricingError("PRICE_CONVERSION", "PriceFeedWatcher is not initialized");
    let pair: { base: string; quote: string };
    try {
      pair = await feed.currencies();
    } catch (err) {
      throw new PricingError(
        "PRICE_CONVERSION",
        `error getting price feed currencies: ${errorMessage(err)}`,
        {
          cause: err,
        },
      );
    }
    const fb = pair.base.toUpperCase();
    const fq = pair.quote.toUpperCase();
    const cur = currency.toUpperCase();
    if (fb !== "ETH" && fq !== "ETH") {
      throw new PricingError("PRICE_CONVERSION", `price feed does not have ETH as a currency (${fb}/${fq})`);
    }
    if (fb !== cur && fq !== cur) {
      throw new PricingError(
        "PRICE_CONVERSION",
        `price feed does not have ${cur} as a currency (${fb}/${fq})`,
      );
    }
    let data: PriceData;
    try {
      data = await feed.current();
    } catch (err) {
      throw new PricingError("PRICE_CONVERSION", `error getting current price data: ${errorMessage(err)}`, {
        cause: err,
      });
    }
    const p = new AutoConvertedPrice(base.mul(weiMultiplier(data, fb)));
    onUpdate(p.current);
    p.unsubscribe = feed.subscribe((next) => {
      try {
        p.current = base.mul(weiMultiplier(next, fb));
      } catch {
        return; // keep the last good price: a bad feed reading must not zero the price
      }
      onUpdate(p.current);
    });
    return p;
  }

  /** The current price in wei per pixel. */
  value(): Rat {
    return this.current;
  }

  /** Stop following the feed; idempotent. */
  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
  }
}

/**
 * JSON where every number is kept as its exact source text (Go's JSONRat reads the raw token;
 * JSON.parse would round 0.1 or 2^60 to a double first).
 */
const NUM_MARK = "\u0000num:";
function parseJsonExact(text: string): unknown {
  let out = "";
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else if (c === "-" || (c >= "0" && c <= "9")) {
      const m = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
      if (!m) throw new SyntaxError(`bad number at ${i}`);
      out += JSON.stringify(NUM_MARK + m[0]);
      i += m[0].length;
    } else {
      out += c;
      i++;
    }
  }
  return JSON.parse(out);
}

function jsonRat(v: unknown, what: string): Rat | null {
  if (v === undefined || v === null) return null;
  if (typeof v === "string") {
    const s = v.startsWith(NUM_MARK) ? v.slice(NUM_MARK.length) : v;
    try {
      return Rat.parse(s);
    } catch {
      throw new PricingError("INVALID_PRICE_FLAG", `${what} is not a number: ${s.slice(0, 64)}`);
    }
  }
  throw new PricingError("INVALID_PRICE_FLAG", `${what} is not a number`);
}

function jsonString(v: unknown): string {
  return typeof v === "string" && !v.startsWith(NUM_MARK) ? v : "";
}

/** One -pricePerGateway entry. */
export interface GatewayPrice {
  ethAddress: Address;
  pricePerUnit: Rat;
  pixelsPerUnit: Rat;
  currency: string;
}

/** Longest -pricePerGateway / -maxPricePerCapability JSON read (they are operator files, not network input). */
export const MAX_PRICE_JSON = 1 << 20;

/**
 * -pricePerGateway (the config layer has already read a file path): {"gateways":[{"ethaddress",
 * "priceperunit", "pixelsperunit", "currency"}]}, or the deprecated "broadcasters" key. go-livepeer
 * logs and ignores a file it cannot parse and panics on a missing pixelsperunit; here every problem
 * is an error, and addresses must be valid (they are matched case-insensitively, where Go needs the
 * checksummed spelling).
 */
export function parsePricePerGateway(text: string): GatewayPrice[] {
  if (!text || text.trim() === "") return [];
  if (text.length > MAX_PRICE_JSON)
    throw new PricingError("INVALID_PRICE_FLAG", "-pricePerGateway is too long");
  let doc: unknown;
  try {
    doc = parseJsonExact(text);
  } catch (err) {
    throw new PricingError("INVALID_PRICE_FLAG", `-pricePerGateway is not valid JSON: ${errorMessage(err)}`);
  }
  const obj = (doc ?? {}) as Record<string, unknown>;
  const list = obj.gateways ?? obj.broadcasters ?? [];
  if (!Array.isArray(list))
    throw new PricingError("INVALID_PRICE_FLAG", "-pricePerGateway: gateways must be a list");
  return list.map((raw, i) => {
    const e = (raw ?? {}) as Record<string, unknown>;
    const addr = jsonString(e.ethaddress);
    if (!isAddress(addr, { strict: false })) {
      throw new PricingError("INVALID_PRICE_FLAG", `-pricePerGateway entry ${i}: invalid ethaddress ${addr}`);
    }
    const price = jsonRat(e.priceperunit, `-pricePerGateway entry ${i} priceperunit`);
    const pixels = jsonRat(e.pixelsperunit, `-pricePerGateway entry ${i} pixelsperunit`);
    if (!price || price.sign() < 0) {
      throw new PricingError("INVALID_PRICE_FLAG", `-pricePerGateway entry ${i}: priceperunit must be >= 0`);
    }
    if (!pixels || pixels.sign() <= 0) {
      throw new PricingError("INVALID_PRICE_FLAG", `-pricePerGateway entry ${i}: pixelsperunit must be > 0`);
    }
    return { ethAddress: addr, pricePerUnit: price, pixelsPerUnit: pixels, currency: jsonString(e.currency) };
  });
}

/** go-livepeer's capability names (core.CapabilityNameLookup) for the capabilities a pipeline name can give. */
const CAPABILITY_NAMES: Readonly<Record<string, number>> = {
  "H.264": 0,
  MPEGTS: 1,
  MP4: 2,
  "Fractional framerates": 3,
  "Storage direct": 4,
  "Storage S3": 5,
  "Storage GCS": 6,
  "H264 Baseline profile": 7,
  "H264 Main profile": 8,
  "H264 High profile": 9,
  "H264 Constrained, Contained High profile": 10,
  GOP: 11,
  "Auth token": 12,
  "MPEG7 signature": 14,
  "HEVC decode": 15,
  "HEVC encode": 16,
  "VP8 decode": 17,
  "VP9 decode": 18,
  "VP8 encode": 19,
  "VP9 encode": 20,
  "H264 Decode YUV444 8-bit": 21,
  "H264 Decode YUV422 8-bit": 22,
  "H264 Decode YUV444 10-bit": 23,
  "H264 Decode YUV422 10-bit": 24,
  "H264 Decode YUV420 10-bit": 25,
  "Segment slicing": 26,
  "Text to image": 27,
  "Image to image": 28,
  "Image to video": 29,
  Upscale: 30,
  "Audio to text": 31,
  "Segment anything 2": 32,
  Llm: 33,
  "Image to text": 34,
  "Live video to video": 35,
  "Text to speech": 36,
};

/** A pipeline name ("text-to-image") to its capability number (go-livepeer PipelineToCapability), or null. */
export function pipelineToCapability(pipeline: string): number | null {
  if (!pipeline) return null;
  const name = pipeline[0]!.toUpperCase() + pipeline.slice(1).replaceAll("-", " ");
  return Object.hasOwn(CAPABILITY_NAMES, name) ? CAPABILITY_NAMES[name]! : null;
}

/** One usable -maxPricePerCapability entry: the price per pixel ceiling for (capability, model). */
export interface CapabilityMaxPrice {
  pipeline: string;
  capability: number;
  modelId: string;
  pricePerUnit: Rat;
  pixelsPerUnit: Rat;
  currency: string;
}

/**
 * -maxPricePerCapability: {"capabilities_prices":[{"pipeline","model_id","price_per_unit",
 * "pixels_per_unit","currency"}]} with go-livepeer's defaults: model_id "default"; pixels_per_unit
 * missing or <= 0 → -pixelsPerUnit; price missing or <= 0 → -maxPricePerUnit, and the entry is
 * skipped (any price) when that is 0 too. An unknown pipeline is refused with Go's text.
 */
export function parseMaxPricePerCapability(
  text: string,
  defaults: { maxPricePerUnit: RatValue; pixelsPerUnit: RatValue },
): CapabilityMaxPrice[] {
  if (!text || text.trim() === "") return [];
  if (text.length > MAX_PRICE_JSON) {
    throw new PricingError("INVALID_PRICE_FLAG", "-maxPricePerCapability is too long");
  }
  let doc: unknown;
  try {
    doc = parseJsonExact(text);
  } catch (err) {
    throw new PricingError(
      "INVALID_PRICE_FLAG",
      `-maxPricePerCapability is not valid JSON: ${errorMessage(err)}`,
    );
  }
  const list = ((doc ?? {}) as Record<string, unknown>).capabilities_prices ?? [];
  if (!Array.isArray(list)) {
    throw new PricingError(
      "INVALID_PRICE_FLAG",
      "-maxPricePerCapability: capabilities_prices must be a list",
    );
  }
  const globalMax = Rat.from(defaults.maxPricePerUnit);
  const out: CapabilityMaxPrice[] = [];
  list.forEach((raw, i) => {
    const e = (raw ?? {}) as Record<string, unknown>;
    const pipeline = jsonString(e.pipeline);
    const modelId = jsonString(e.model_id) || "default";
    let pixels = jsonRat(e.pixels_per_unit, `-maxPricePerCapability entry ${i} pixels_per_unit`);
    if (!pixels || pixels.sign() <= 0) pixels = Rat.from(defaults.pixelsPerUnit);
    let price = jsonRat(e.price_per_unit, `-maxPricePerCapability entry ${i} price_per_unit`);
    if (!price || price.sign() <= 0) {
      if (globalMax.sign() <= 0) return;
      price = globalMax;
    }
    const capability = pipelineToCapability(pipeline);
    if (capability === null) {
      throw new PricingError(
        "INVALID_PRICE_FLAG",
        `Pipeline in 'maxPricePerCapability' config is not valid capability: ${pipeline}`,
      );
    }
    out.push({
      pipeline,
      capability,
      modelId,
      pricePerUnit: price,
      pixelsPerUnit: pixels,
      currency: jsonString(e.currency),
    });
  });
  return out;
}

function bitLen(v: bigint): number {
  return v === 0n ? 0 : v.toString(2).length;
}

/**
 * A rational to int64 the way go-livepeer's PriceToFixed does it: through a big.Float with
 * precision max(64, bits of num, bits of den), rounded to nearest-even, then truncated toward
 * zero and saturated at the int64 bounds (big.Float.Int64).
 */
function ratToInt64ViaFloat(r: Rat): bigint {
  if (r.num === 0n) return 0n;
  const neg = r.num < 0n;
  const a = neg ? -r.num : r.num;
  const b = r.den;
  const prec = Math.max(64, bitLen(a), bitLen(b));
  // Scale so that the quotient has exactly `prec` significant bits.
  let s = prec - (bitLen(a) - bitLen(b));
  const quot = (shift: number) => {
    const n = shift >= 0 ? a << BigInt(shift) : a;
    const d = shift >= 0 ? b : b << BigInt(-shift);
    return [n / d, n % d, d] as const;
  };
  let [q, rem, d] = quot(s);
  if (q >= 1n << BigInt(prec)) {
    s -= 1;
    [q, rem, d] = quot(s);
  }
  if (rem * 2n > d || (rem * 2n === d && (q & 1n) === 1n)) q += 1n;
  let int = s >= 0 ? q >> BigInt(s) : q << BigInt(-s);
  if (neg) int = -int;
  return int > INT64_MAX ? INT64_MAX : int < INT64_MIN ? INT64_MIN : int;
}

/** price × 1000 as an int64 (go-livepeer common.PriceToFixed): keeps 3 decimals, truncating. */
export function priceToFixed(price: RatValue): bigint {
  return ratToInt64ViaFloat(Rat.from(price).mul(PRICE_SCALING_FACTOR));
}

/** fixed / 1000 (go-livepeer common.FixedToPrice). */
export function fixedToPrice(fixed: bigint): Rat {
  return Rat.of(fixed, PRICE_SCALING_FACTOR);
}

/** The wire PriceInfo's two numbers (int64 on the wire). */
export interface PriceInfoValue {
  pricePerUnit: bigint;
  pixelsPerUnit: bigint;
}

/** A PriceInfo as a price per pixel (common.RatPriceInfo); pixelsPerUnit 0 → "pixels per unit is 0". */
export function ratPriceInfo(info: PriceInfoValue): Rat {
  if (info.pixelsPerUnit === 0n) throw new PricingError("INVALID_PRICE_INFO", "pixels per unit is 0");
  return Rat.of(info.pricePerUnit, info.pixelsPerUnit);
}

/**
 * A price per pixel as the PriceInfo an orchestrator sends: the reduced fraction's numerator and
 * denominator. When either does not fit int64 the price is cut to its integer part first
 * (go-livepeer PriceToInt64); a price whose integer part does not fit either is refused.
 */
export function priceInfoOf(price: RatValue): PriceInfoValue {
  const p = Rat.from(price);
  const fits = (v: bigint) => v >= INT64_MIN && v <= INT64_MAX;
  if (fits(p.num) && fits(p.den)) return { pricePerUnit: p.num, pixelsPerUnit: p.den };
  const int = p.num / p.den;
  if (!fits(int)) throw new PricingError("PRICE_OUT_OF_RANGE", "price cannot be converted to int64");
  return { pricePerUnit: int, pixelsPerUnit: 1n };
}

/**
 * The orchestrator's auto-adjusted price (go-livepeer priceInfo with -autoAdjustPrice):
 * base × (1 + 1/txCostMultiplier) truncated to 3 decimals; the overhead is 1 when the base is 0 or
 * the multiplier is not positive (no redemption cost known).
 */
export function autoAdjustedPrice(base: RatValue, txCostMultiplier: RatValue | null): Rat {
  const b = Rat.from(base);
  let overhead = Rat.ONE;
  if (b.sign() > 0 && txCostMultiplier) {
    const m = Rat.from(txCostMultiplier);
    if (m.sign() > 0) overhead = overhead.add(Rat.ONE.div(m));
  }
  return fixedToPrice(priceToFixed(b.mul(overhead)));
}

/** Options of OrchestratorPricing. */
export interface OrchestratorPricingOptions {
  /** The -pricePerUnit/-pixelsPerUnit price; null only where no price is set (an AI worker). */
  defaultPrice: AutoConvertedPrice | null;
  /** -pricePerGateway prices by gateway address. */
  gatewayPrices?: ReadonlyMap<string, AutoConvertedPrice> | Iterable<[string, AutoConvertedPrice]>;
  /** -autoAdjustPrice (default true). */
  autoAdjustPrice?: boolean;
}

/** Collaborators of OrchestratorPricing. */
export interface OrchestratorPricingDeps {
  /** faceValue / txCost for this sender (the recipient's TxCostMultiplier); 0 when txCost is 0. */
  txCostMultiplier(sender: Address): Promise<RatValue> | RatValue;
  /** Where a session's price is pinned by its first payment; null offchain. */
  balances: AddressBalances | null;
}

/**
 * The price an orchestrator quotes a gateway (go-livepeer orchestrator.priceInfo): the session's
 * pinned price if it has one, else the gateway's own price or the default, auto-adjusted for the
 * redemption cost.
 */
export class OrchestratorPricing {
  readonly autoAdjust: boolean;
  private defaultPrice: AutoConvertedPrice | null;
  private readonly gatewayPrices = new Map<string, AutoConvertedPrice>();

  constructor(
    options: OrchestratorPricingOptions,
    private readonly deps: OrchestratorPricingDeps,
  ) {
    this.defaultPrice = options.defaultPrice;
    this.autoAdjust = options.autoAdjustPrice ?? true;
    for (const [addr, price] of options.gatewayPrices ?? [])
      this.gatewayPrices.set(addr.toLowerCase(), price);
  }

  /** Replace the default price (the CLI's price update); the old one stops following the feed. */
  setDefaultPrice(price: AutoConvertedPrice): void {
    if (this.defaultPrice !== price) this.defaultPrice?.stop();
    this.defaultPrice = price;
  }

  /** Set one gateway's price (the CLI's /setPriceForBroadcaster). */
  setGatewayPrice(gateway: Address, price: AutoConvertedPrice): void {
    const k = gateway.toLowerCase();
    const old = this.gatewayPrices.get(k);
    if (old && old !== price) old.stop();
    this.gatewayPrices.set(k, price);
  }

  /** The base price for a gateway before any adjustment, or null when none is set. */
  basePrice(sender: Address): Rat | null {
    return (this.gatewayPrices.get(sender.toLowerCase()) ?? this.defaultPrice)?.value() ?? null;
  }

  /** The price per pixel quoted to `sender` for session `sessionId` ("" for no session). */
  async price(sender: Address, sessionId = ""): Promise<Rat> {
    if (sessionId && this.deps.balances) {
      const pinned = this.deps.balances.fixedPrice(sender, sessionId);
      if (pinned) return pinned;
    }
    const base = this.basePrice(sender);
    if (!base) throw new PricingError("PRICE_MISSING", "no price is set");
    if (!this.autoAdjust) return base;
    const m = base.sign() > 0 ? await this.deps.txCostMultiplier(sender) : null;
    return autoAdjustedPrice(base, m);
  }

  /** The price as the PriceInfo message carries it. */
  async priceInfo(sender: Address, sessionId = ""): Promise<PriceInfoValue> {
    return priceInfoOf(await this.price(sender, sessionId));
  }

  /** Stop every price that follows a feed. */
  stop(): void {
    this.defaultPrice?.stop();
    for (const p of this.gatewayPrices.values()) p.stop();
  }
}

/** A job's capability constraints as the max-price lookup needs them: capability → model ids. */
export type JobModels = ReadonlyMap<number, readonly string[]> | null;

/**
 * The gateway's price ceilings (go-livepeer BroadcastConfig): -maxPricePerUnit/-pixelsPerUnit and
 * the per-(capability, model) ceilings of -maxPricePerCapability.
 */
export class MaxPrices {
  private global: AutoConvertedPrice | null = null;
  private readonly perCapability = new Map<number, Map<string, AutoConvertedPrice>>();

  /** Set (or clear with null) the global ceiling; the old one stops following the feed. */
  setMaxPrice(price: AutoConvertedPrice | null): void {
    if (this.global && this.global !== price) this.global.stop();
    this.global = price;
  }

  /** The global ceiling in wei per pixel, or null for "any price". */
  maxPrice(): Rat | null {
    return this.global?.value() ?? null;
  }

  /** Set the ceiling for (capability, model); model "default" covers the capability's other models. */
  setCapabilityMaxPrice(capability: number, modelId: string, price: AutoConvertedPrice): void {
    let models = this.perCapability.get(capability);
    if (!models) {
      models = new Map();
      this.perCapability.set(capability, models);
    }
    const old = models.get(modelId);
    if (old && old !== price) old.stop();
    models.set(modelId, price);
  }

  /** The ceiling for one (capability, model): the model's, else the capability's "default", else null. */
  capabilityMaxPrice(capability: number, modelId: string): Rat | null {
    const models = this.perCapability.get(capability);
    return (models?.get(modelId) ?? models?.get("default"))?.value() ?? null;
  }

  /**
   * The ceiling for a job (GetCapabilitiesMaxPrice): the sum of the ceilings set for the job's
   * (capability, model) pairs, or the global ceiling when none is set or the job has no constraints.
   */
  capabilitiesMaxPrice(job: JobModels): Rat | null {
    if (!job) return this.maxPrice();
    let sum = Rat.ZERO;
    for (const [capability, models] of job) {
      for (const model of models) {
        const p = this.capabilityMaxPrice(capability, model);
        if (p) sum = sum.add(p);
      }
    }
    return sum.sign() === 0 ? this.maxPrice() : sum;
  }

  /** Stop every ceiling that follows a feed. */
  stop(): void {
    this.global?.stop();
    for (const models of this.perCapability.values()) for (const p of models.values()) p.stop();
  }
}

/**
 * The orchestrators whose price per pixel is at most `maxPrice` (selection's price filter). An
 * orchestrator without a price is dropped. With no ceiling nothing is filtered; when none passes and
 * `ignoreMaxPriceIfNeeded` is set, all are kept.
 */
export function filterByMaxPrice<K>(
  prices: ReadonlyMap<K, RatValue | null>,
  maxPrice: RatValue | null,
  ignoreMaxPriceIfNeeded = false,
): K[] {
  const all = [...prices.keys()];
  if (!maxPrice || prices.size === 0) return all;
  const max = Rat.from(maxPrice);
  const kept = all.filter((k) => {
    const p = prices.get(k);
    return p != null && Rat.from(p).lte(max);
  });
  return kept.length === 0 && ignoreMaxPriceIfNeeded ? all : kept;
}

/**
 * The gateway's check on every payment (go-livepeer validatePrice): the orchestrator's current
 * price must not exceed twice the session's first price.
 */
export function validatePriceIncrease(current: PriceInfoValue | null, initial: PriceInfoValue | null): void {
  if (!current) throw new PricingError("PRICE_MISSING", "missing orchestrator price");
  const now = ratPriceInfo(current);
  if (!initial || initial.pixelsPerUnit === 0n) return;
  const first = ratPriceInfo(initial);
  if (now.gt(first.mul(PRICE_INCREASE_THRESHOLD))) {
    throw new PricingError(
      "PRICE_INCREASED",
      `Orchestrator price has more than doubled, Orchestrator price: ${now.ratString()}, Orchestrator initial price: ${first.ratString()}`,
    );
  }
}

/**
 * The orchestrator's default price from -pricePerUnit and -pixelsPerUnit: pricePerUnit /
 * pixelsPerUnit per pixel, converted from its currency.
 */
export async function orchestratorBasePrice(
  flags: { pricePerUnit: string | undefined; pixelsPerUnit?: string },
  feed: PriceFeed | null,
): Promise<AutoConvertedPrice> {
  const pixels = parsePixelsPerUnitFlag(flags.pixelsPerUnit);
  const { price, currency } = parsePricePerUnitFlag(flags.pricePerUnit);
  try {
    return await AutoConvertedPrice.create(currency, price.div(pixels), feed);
  } catch (err) {
    throw new PricingError("PRICE_CONVERSION", `Error converting price: ${errorMessage(err)}`, {
      cause: err,
    });
  }
}

/** The -pricePerGateway prices, converted, keyed by lowercase gateway address. */
export async function gatewayPricesFromFlag(
  text: string,
  feed: PriceFeed | null,
): Promise<Map<string, AutoConvertedPrice>> {
  const out = new Map<string, AutoConvertedPrice>();
  try {
    for (const p of parsePricePerGateway(text)) {
      try {
        out.set(
          p.ethAddress.toLowerCase(),
          await AutoConvertedPrice.create(p.currency, p.pricePerUnit.div(p.pixelsPerUnit), feed),
        );
      } catch (err) {
        if (err instanceof PricingError && err.code === "INVALID_PRICE_FLAG") throw err;
        throw new PricingError(
          "PRICE_CONVERSION",
          `Error converting price for gateway ${p.ethAddress}: ${errorMessage(err)}`,
          { cause: err },
        );
      }
    }
  } catch (err) {
    for (const p of out.values()) p.stop();
    throw err;
  }
  return out;
}

/**
 * The gateway's ceilings from -maxPricePerUnit, -pixelsPerUnit and -maxPricePerCapability
 * (a -maxPricePerUnit of 0 means any price), set into `into` (a new MaxPrices by default).
 */
export async function maxPricesFromFlags(
  flags: { maxPricePerUnit?: string; pixelsPerUnit?: string; maxPricePerCapability?: string },
  feed: PriceFeed | null,
  into: MaxPrices = new MaxPrices(),
): Promise<MaxPrices> {
  const pixels = parsePixelsPerUnitFlag(flags.pixelsPerUnit);
  const max = parseMaxPricePerUnitFlag(flags.maxPricePerUnit);
  const caps = parseMaxPricePerCapability(flags.maxPricePerCapability ?? "", {
    maxPricePerUnit: max.price,
    pixelsPerUnit: pixels,
  });
  const prices = into;
  try {
    if (max.price.sign() > 0) {
      prices.setMaxPrice(await AutoConvertedPrice.create(max.currency, max.price.div(pixels), feed));
    }
    for (const c of caps) {
      const currency = c.pricePerUnit === max.price && c.currency === "" ? max.currency : c.currency;
      prices.setCapabilityMaxPrice(
        c.capability,
        c.modelId,
        await AutoConvertedPrice.create(currency, c.pricePerUnit.div(c.pixelsPerUnit), feed),
      );
    }
  } catch (err) {
    prices.stop();
    throw new PricingError("PRICE_CONVERSION", `Error converting price: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  return prices;
}
