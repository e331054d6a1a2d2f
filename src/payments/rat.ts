/**
 * Exact rationals over bigint with Go's math/big.Rat semantics: always reduced by the gcd, the
 * denominator positive, zero as 0/1. Balances, EVs and prices are kept this way because
 * go-livepeer does (pm/ticket.go, core/accounting.go) and a float would drift from its numbers.
 */
import { LpError } from "../errors/LpError.js";
import type { RatValue } from "./types.js";

/** Stable codes of rational-number errors. */
export type RatErrorCode = "RAT_DIVISION_BY_ZERO" | "RAT_INVALID";

/** A division by zero or a string that is not a rational number. */
export class RatError extends LpError {
  declare readonly code: RatErrorCode;

  constructor(code: RatErrorCode, message: string) {
    super(code, message);
  }
}

/** Longest string {@link Rat.parse} reads: the strings come from peers and files, not from users typing. */
export const MAX_RAT_STRING = 1024;
/** Largest decimal exponent {@link Rat.parse} accepts (1e1000000 would build a million-digit bigint). */
export const MAX_RAT_EXPONENT = 1000;

function abs(v: bigint): bigint {
  return v < 0n ? -v : v;
}

function gcd(a: bigint, b: bigint): bigint {
  let x = abs(a);
  let y = abs(b);
  while (y !== 0n) {
    const t = x % y;
    x = y;
    y = t;
  }
  return x;
}

function toBig(v: bigint | number): bigint {
  if (typeof v === "bigint") return v;
  if (!Number.isSafeInteger(v)) throw new RatError("RAT_INVALID", `not an integer: ${v}`);
  return BigInt(v);
}

/** An immutable exact fraction (go's *big.Rat), normalised at construction. */
export class Rat implements RatValue {
  readonly num: bigint;
  readonly den: bigint;

  private constructor(num: bigint, den: bigint) {
    this.num = num;
    this.den = den;
  }

  /** 0/1. */
  static readonly ZERO = new Rat(0n, 1n);
  /** 1/1. */
  static readonly ONE = new Rat(1n, 1n);

  /** num/den reduced (big.Rat.SetFrac); throws RAT_DIVISION_BY_ZERO when den is 0, as Go panics. */
  static of(num: bigint | number, den: bigint | number = 1n): Rat {
    let n = toBig(num);
    let d = toBig(den);
    if (d === 0n) throw new RatError("RAT_DIVISION_BY_ZERO", "division by zero");
    if (d < 0n) {
      n = -n;
      d = -d;
    }
    if (n === 0n) return Rat.ZERO;
    const g = gcd(n, d);
    return g === 1n ? new Rat(n, d) : new Rat(n / g, d / g);
  }

  /** A Rat from any {num, den} (normalised again: a RatValue from JSON or a peer may not be). */
  static from(value: RatValue | bigint | number): Rat {
    if (value instanceof Rat) return value;
    if (typeof value === "bigint" || typeof value === "number") return Rat.of(value, 1n);
    return Rat.of(value.num, value.den);
  }

  /**
   * The exact binary value of a float64 (big.Rat.SetFloat64): 1.02 is
   * 2296835809958953/2251799813685248, not 51/50. Throws for NaN and infinities, as Go returns nil.
   */
  static fromFloat64(x: number): Rat {
    if (!Number.isFinite(x)) throw new RatError("RAT_INVALID", `not a finite number: ${x}`);
    if (x === 0) return Rat.ZERO;
    const view = new DataView(new ArrayBuffer(8));
    view.setFloat64(0, x);
    const bits = view.getBigUint64(0);
    const negative = bits >> 63n === 1n;
    const exponentBits = Number((bits >> 52n) & 0x7ffn);
    let mantissa = bits & ((1n << 52n) - 1n);
    let exponent: number;
    if (exponentBits === 0) {
      exponent = -1074; // subnormal: no implicit leading bit
    } else {
      mantissa |= 1n << 52n;
      exponent = exponentBits - 1075;
    }
    const signed = negative ? -mantissa : mantissa;
    return exponent >= 0 ? Rat.of(signed << BigInt(exponent), 1n) : Rat.of(signed, 1n << BigInt(-exponent));
  }

  /**
   * Parse what big.Rat.SetString reads in practice: an integer, "num/den" (den unsigned), or a
   * decimal with an optional exponent ("1.5", "-.25", "2e-3"). Throws RAT_INVALID otherwise and
   * RAT_DIVISION_BY_ZERO for "x/0".
   */
  static parse(text: string): Rat {
    if (typeof text !== "string" || text.length === 0 || text.length > MAX_RAT_STRING) {
      throw new RatError("RAT_INVALID", "invalid rational number");
    }
    const slash = text.indexOf("/");
    if (slash >= 0) {
      const n = text.slice(0, slash);
      const d = text.slice(slash + 1);
      if (!/^[+-]?\d+$/.test(n) || !/^\d+$/.test(d)) {
        throw new RatError("RAT_INVALID", `invalid rational number: ${text.slice(0, 64)}`);
      }
      return Rat.of(BigInt(n), BigInt(d));
    }
    const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(text);
    const intPart = m?.[2] ?? "";
    const fracPart = m?.[3] ?? "";
    if (!m || intPart.length + fracPart.length === 0) {
      throw new RatError("RAT_INVALID", `invalid rational number: ${text.slice(0, 64)}`);
    }
    const exp = m[4] === undefined ? 0 : Number(m[4]);
    if (!Number.isSafeInteger(exp) || Math.abs(exp) > MAX_RAT_EXPONENT) {
      throw new RatError("RAT_INVALID", `exponent out of range: ${text.slice(0, 64)}`);
    }
    let num = BigInt(`${intPart}${fracPart}` || "0");
    if (m[1] === "-") num = -num;
    const scale = exp - fracPart.length;
    return scale >= 0 ? Rat.of(num * 10n ** BigInt(scale), 1n) : Rat.of(num, 10n ** BigInt(-scale));
  }

  /** this + other. */
  add(other: RatValue | bigint): Rat {
    const o = Rat.from(other);
    return Rat.of(this.num * o.den + o.num * this.den, this.den * o.den);
  }

  /** this − other. */
  sub(other: RatValue | bigint): Rat {
    const o = Rat.from(other);
    return Rat.of(this.num * o.den - o.num * this.den, this.den * o.den);
  }

  /** this × other. */
  mul(other: RatValue | bigint): Rat {
    const o = Rat.from(other);
    return Rat.of(this.num * o.num, this.den * o.den);
  }

  /** this ÷ other; throws RAT_DIVISION_BY_ZERO when other is 0. */
  div(other: RatValue | bigint): Rat {
    const o = Rat.from(other);
    if (o.num === 0n) throw new RatError("RAT_DIVISION_BY_ZERO", "division by zero");
    return Rat.of(this.num * o.den, this.den * o.num);
  }

  /** −this. */
  neg(): Rat {
    return this.num === 0n ? this : new Rat(-this.num, this.den);
  }

  /** |this|. */
  abs(): Rat {
    return this.num < 0n ? new Rat(-this.num, this.den) : this;
  }

  /** −1, 0 or +1 as this is negative, zero or positive (big.Rat.Sign). */
  sign(): -1 | 0 | 1 {
    return this.num < 0n ? -1 : this.num === 0n ? 0 : 1;
  }

  /** −1, 0 or +1 as this is less than, equal to or greater than other (big.Rat.Cmp). */
  cmp(other: RatValue | bigint): -1 | 0 | 1 {
    const o = Rat.from(other);
    const l = this.num * o.den;
    const r = o.num * this.den;
    return l < r ? -1 : l === r ? 0 : 1;
  }

  /** this == other. */
  eq(other: RatValue | bigint): boolean {
    return this.cmp(other) === 0;
  }

  /** this < other. */
  lt(other: RatValue | bigint): boolean {
    return this.cmp(other) < 0;
  }

  /** this <= other. */
  lte(other: RatValue | bigint): boolean {
    return this.cmp(other) <= 0;
  }

  /** this > other. */
  gt(other: RatValue | bigint): boolean {
    return this.cmp(other) > 0;
  }

  /** this >= other. */
  gte(other: RatValue | bigint): boolean {
    return this.cmp(other) >= 0;
  }

  /** Whether the denominator is 1 (big.Rat.IsInt). */
  isInt(): boolean {
    return this.den === 1n;
  }

  /** Largest integer <= this. */
  floor(): bigint {
    const q = this.num / this.den;
    return this.num < 0n && q * this.den !== this.num ? q - 1n : q;
  }

  /** Smallest integer >= this. */
  ceil(): bigint {
    const q = this.num / this.den;
    return this.num > 0n && q * this.den !== this.num ? q + 1n : q;
  }

  /**
   * Decimal with `prec` digits after the point, rounded half away from zero (big.Rat.FloatString).
   * As in Go, a negative value that rounds to zero keeps its sign ("-0").
   */
  floatString(prec: number): string {
    if (!Number.isInteger(prec) || prec < 0) throw new RatError("RAT_INVALID", "precision must be >= 0");
    if (this.den === 1n) return prec > 0 ? `${this.num}.${"0".repeat(prec)}` : `${this.num}`;
    const a = abs(this.num);
    let q = a / this.den;
    let r = a % this.den;
    const p = 10n ** BigInt(prec);
    r *= p;
    let frac = r / this.den;
    const r2 = (r % this.den) * 2n;
    if (this.den <= r2) {
      frac += 1n;
      if (frac >= p) {
        q += 1n;
        frac -= p;
      }
    }
    const sign = this.num < 0n ? "-" : "";
    return prec > 0 ? `${sign}${q}.${frac.toString().padStart(prec, "0")}` : `${sign}${q}`;
  }

  /** "num" when an integer, "num/den" otherwise (big.Rat.RatString). */
  ratString(): string {
    return this.den === 1n ? `${this.num}` : `${this.num}/${this.den}`;
  }

  /** Always "num/den", as Go's big.Rat.String and fmt's %v print it. */
  toString(): string {
    return `${this.num}/${this.den}`;
  }

  /** JSON carries the exact value as a RatString (bigints are not JSON). */
  toJSON(): string {
    return this.ratString();
  }
}

/**
 * go-livepeer's `pixelEstimateMultiplier` (server/segment_rpc.go) as Go turns it into a Rat with
 * SetFloat64(1.02): the exact binary value of the float, 2296835809958953/2251799813685248. The
 * gateway's fee estimate multiplies by this, so ticket counts only match Go's when it is this exact value.
 */
export const PIXEL_ESTIMATE_MULTIPLIER: Rat = Rat.fromFloat64(1.02);
