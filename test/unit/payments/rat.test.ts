import { describe, expect, it } from "vitest";
import { isLpError } from "../../../src/errors/LpError.js";
import { PIXEL_ESTIMATE_MULTIPLIER, Rat, RatError } from "../../../src/payments/rat.js";

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isLpError(err) ? err.code : "untyped";
  }
  return undefined;
}

describe("Rat normalisation (big.Rat)", () => {
  it("reduces by the gcd and keeps the denominator positive", () => {
    expect(Rat.of(1010n, 100n)).toMatchObject({ num: 101n, den: 10n });
    expect(Rat.of(2525n, 1000n)).toMatchObject({ num: 101n, den: 40n });
    expect(Rat.of(3n, -6n)).toMatchObject({ num: -1n, den: 2n });
    expect(Rat.of(-3n, -6n)).toMatchObject({ num: 1n, den: 2n });
    expect(Rat.of(0n, -7n)).toMatchObject({ num: 0n, den: 1n });
    expect(Rat.from({ num: 4n, den: 8n })).toMatchObject({ num: 1n, den: 2n });
  });

  it("refuses a zero denominator with a typed error", () => {
    expect(code(() => Rat.of(1n, 0n))).toBe("RAT_DIVISION_BY_ZERO");
    expect(code(() => Rat.ONE.div(0n))).toBe("RAT_DIVISION_BY_ZERO");
    expect(() => Rat.of(1n, 0n)).toThrow(RatError);
    expect(code(() => Rat.of(0.5, 1))).toBe("RAT_INVALID");
  });

  it("adds, subtracts, multiplies, divides and compares exactly", () => {
    const a = Rat.of(1n, 3n);
    const b = Rat.of(1n, 6n);
    expect(a.add(b).toString()).toBe("1/2");
    expect(a.sub(b).toString()).toBe("1/6");
    expect(b.sub(a).toString()).toBe("-1/6");
    expect(a.mul(b).toString()).toBe("1/18");
    expect(a.div(b).toString()).toBe("2/1");
    expect(a.add(5n).ratString()).toBe("16/3");
    expect(a.cmp(b)).toBe(1);
    expect(b.cmp(a)).toBe(-1);
    expect(a.cmp(Rat.of(2n, 6n))).toBe(0);
    expect(a.gt(b) && b.lt(a) && a.gte(a) && a.lte(a) && a.eq(Rat.of(5n, 15n))).toBe(true);
    expect(Rat.of(-7n, 2n).neg().toString()).toBe("7/2");
    expect(Rat.of(-7n, 2n).abs().toString()).toBe("7/2");
    expect([Rat.of(-1n, 2n).sign(), Rat.ZERO.sign(), Rat.ONE.sign()]).toEqual([-1, 0, 1]);
  });

  it("floors and ceils towards the right infinity", () => {
    expect([Rat.of(7n, 2n).floor(), Rat.of(7n, 2n).ceil()]).toEqual([3n, 4n]);
    expect([Rat.of(-7n, 2n).floor(), Rat.of(-7n, 2n).ceil()]).toEqual([-4n, -3n]);
    expect([Rat.of(6n, 2n).floor(), Rat.of(6n, 2n).ceil()]).toEqual([3n, 3n]);
  });
});

describe("Rat parsing (big.Rat.SetString)", () => {
  it("reads integers, fractions and decimals", () => {
    expect(Rat.parse("42").toString()).toBe("42/1");
    expect(Rat.parse("-42").toString()).toBe("-42/1");
    expect(Rat.parse("6/4").toString()).toBe("3/2");
    expect(Rat.parse("-6/4").toString()).toBe("-3/2");
    expect(Rat.parse("1.02").toString()).toBe("51/50");
    expect(Rat.parse("0.001").toString()).toBe("1/1000");
    expect(Rat.parse(".5").toString()).toBe("1/2");
    expect(Rat.parse("5.").toString()).toBe("5/1");
    expect(Rat.parse("2.5e3").toString()).toBe("2500/1");
    expect(Rat.parse("25e-1").toString()).toBe("5/2");
    expect(Rat.parse("8000000000").toString()).toBe("8000000000/1");
  });

  it("refuses anything else with a typed error and no huge allocation", () => {
    for (const bad of ["", ".", "abc", "1/", "/2", "1/-2", "1.2.3", "0x10", "1e", " 1", "1e1000000000"]) {
      expect(
        code(() => Rat.parse(bad)),
        bad,
      ).toBe("RAT_INVALID");
    }
    expect(code(() => Rat.parse("1/0"))).toBe("RAT_DIVISION_BY_ZERO");
    expect(code(() => Rat.parse("1".repeat(2000)))).toBe("RAT_INVALID");
  });
});

describe("Rat formatting (FloatString, RatString, String)", () => {
  it("rounds half away from zero like Go's FloatString", () => {
    expect(Rat.of(1n, 2n).floatString(0)).toBe("1");
    expect(Rat.of(-1n, 2n).floatString(0)).toBe("-1");
    expect(Rat.of(1n, 3n).floatString(0)).toBe("0");
    expect(Rat.of(2n, 3n).floatString(5)).toBe("0.66667");
    expect(Rat.of(1n, 8n).floatString(2)).toBe("0.13");
    expect(Rat.of(-1n, 8n).floatString(2)).toBe("-0.13");
    expect(Rat.of(999n, 1000n).floatString(2)).toBe("1.00");
    expect(Rat.of(1n, 1000n).floatString(3)).toBe("0.001");
    expect(Rat.of(101n, 1n).floatString(5)).toBe("101.00000");
    expect(Rat.of(-5n, 1n).floatString(0)).toBe("-5");
  });

  it("keeps Go's sign on a negative value that rounds to zero", () => {
    expect(Rat.of(-1n, 1000n).floatString(0)).toBe("-0");
    expect(Rat.of(-1n, 1000n).floatString(2)).toBe("-0.00");
  });

  it("prints RatString without /1 and String always with it", () => {
    expect(Rat.of(4n, 2n).ratString()).toBe("2");
    expect(Rat.of(1n, 2n).ratString()).toBe("1/2");
    expect(Rat.of(4n, 2n).toString()).toBe("2/1");
    expect(JSON.stringify({ p: Rat.of(3n, 9n) })).toBe('{"p":"1/3"}');
  });

  it("formats go-livepeer's sender EV error values", () => {
    // pm/sender.go: ev.FloatString(5) for faceValue 202 and winProb floor(M/2) is 101 - 101/M.
    const M = (1n << 256n) - 1n;
    const ev = Rat.of(202n * (M / 2n), M);
    expect(`ticket EV ${ev.floatString(5)} > max ticket EV ${Rat.of(1n).floatString(5)}`).toBe(
      "ticket EV 101.00000 > max ticket EV 1.00000",
    );
  });
});

describe("float64 constants (big.Rat.SetFloat64)", () => {
  it("1.02 is the exact binary value, not 51/50", () => {
    expect(PIXEL_ESTIMATE_MULTIPLIER.num).toBe(2296835809958953n);
    expect(PIXEL_ESTIMATE_MULTIPLIER.den).toBe(2251799813685248n);
    expect(PIXEL_ESTIMATE_MULTIPLIER.den).toBe(1n << 51n);
    expect(PIXEL_ESTIMATE_MULTIPLIER.eq(Rat.of(51n, 50n))).toBe(false);
    // The fee for 1 pixel at 1 wei differs from 51/50 in the 17th digit.
    expect(PIXEL_ESTIMATE_MULTIPLIER.floatString(20)).toBe("1.02000000000000001776");
  });

  it("converts other floats exactly", () => {
    expect(Rat.fromFloat64(0.5).toString()).toBe("1/2");
    expect(Rat.fromFloat64(-3).toString()).toBe("-3/1");
    expect(Rat.fromFloat64(0.1).toString()).toBe("3602879701896397/36028797018963968");
    expect(Rat.fromFloat64(2 ** 60).toString()).toBe(`${2n ** 60n}/1`);
    expect(Rat.fromFloat64(Number.MIN_VALUE).toString()).toBe(`1/${2n ** 1074n}`);
    expect(Rat.fromFloat64(0).toString()).toBe("0/1");
    expect(code(() => Rat.fromFloat64(Number.NaN))).toBe("RAT_INVALID");
    expect(code(() => Rat.fromFloat64(Number.POSITIVE_INFINITY))).toBe("RAT_INVALID");
  });
});
