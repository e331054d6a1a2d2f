import type { Address, Hex } from "viem";
import { describe, expect, it } from "vitest";
import { isLpError, LpError } from "../../../src/errors/LpError.js";
import { Rat } from "../../../src/payments/rat.js";
import { RecipientRandSource } from "../../../src/payments/recipientRand.js";
import { MAX_WIN_PROB, recipientRandHashOf } from "../../../src/payments/ticket.js";
import {
  AVG_GAS_PRICE,
  DEFAULT_TICKET_EV,
  EV_MULTIPLIER,
  PARAMS_EXPIRATION_BLOCKS,
  REDEEM_GAS_L1,
  REDEEM_GAS_L2,
  redeemGasForNetwork,
  selectFaceValue,
  selectWinProb,
  TicketParamsMaker,
} from "../../../src/payments/ticketParams.js";

const SECRET = new Uint8Array(32);
SECRET[0] = 3;
const RECIPIENT: Address = "0x73AEd7b5dEb30222fa896f399d46cC99c7BEe57F";
const SENDER: Address = "0xA69cdA26600c155cF2c150964Bdb5371ac3f606F";
const BLK: Hex = "0x7624778dedc75f8b322b9fa1632a610d40b85e106c7d9bf0e743a9ce291b9c6f";
const PRE_BLK: Hex = "0x41b1a0649752af1b28b3dc29a1556eee781e4a4c3a1f7f53f90fa834de098c4d";
const ZERO_HASH: Hex = `0x${"0".repeat(64)}`;

/** go-livepeer's recipient fixture: EV 5, RedeemGas 10000, multiplier 100, maxFloat 10^10, gasPrice 100. */
function fixture() {
  const env = {
    gasPrice: 100n as bigint | null,
    maxFloat: 10_000_000_000n,
    maxFloatErr: null as Error | null,
    state: {
      lastSeenL1Block: 1000n,
      lastInitializedRound: 7n,
      lastInitializedBlockHash: BLK,
      preLastInitializedBlockHash: PRE_BLK,
    },
  };
  const rand = new RecipientRandSource(SECRET);
  const maker = new TicketParamsMaker(
    { recipient: RECIPIENT, ev: 5n, redeemGas: 10_000n, txCostMultiplier: 100n },
    {
      clock: { state: env.state },
      gasPrice: () => env.gasPrice,
      maxFloat: async () => {
        if (env.maxFloatErr) throw env.maxFloatErr;
        return env.maxFloat;
      },
      rand,
    },
  );
  return { env, maker, rand };
}

async function errorOf(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  return undefined;
}

describe("TicketParams (vector 11.F, go-livepeer TestTicketParams)", () => {
  it("price 0 or negative: faceValue and winProb 0, no max float needed", async () => {
    const { env, maker } = fixture();
    env.maxFloatErr = new Error("MaxFloat error");
    for (const price of [Rat.ZERO, Rat.of(-1n)]) {
      const p = await maker.ticketParams(SENDER, price);
      expect([p.faceValue, p.winProb]).toEqual([0n, 0n]);
    }
  });

  it("passes the max float's error through", async () => {
    const { env, maker } = fixture();
    env.maxFloatErr = new LpError("SENDER_UNKNOWN", "MaxFloat error");
    const err = await errorOf(maker.ticketParams(SENDER, Rat.ONE));
    expect((err as Error).message).toBe("MaxFloat error");
  });

  it("gas price 100: faceValue 10^8 and go-livepeer's winProb, committed by the HMAC", async () => {
    const { maker, rand } = fixture();
    const p = await maker.ticketParams(SENDER, Rat.ONE);
    expect(p.recipient).toBe(RECIPIENT);
    expect(p.faceValue).toBe(100_000_000n);
    expect(p.winProb).toBe(5789604461865809771178549250434395392663499233282028201972879200395660n);
    const ev = (p.faceValue * p.winProb) / MAX_WIN_PROB;
    expect(ev >= 4n && ev <= 6n).toBe(true);
    expect(p.expirationBlock).toBe(1000n + PARAMS_EXPIRATION_BLOCKS);
    expect(p.expirationParams).toEqual({ creationRound: 7n, creationRoundBlockHash: BLK });
    expect(Rat.from(p.pricePerPixel).toString()).toBe("1/1");
    const r = rand.rand({
      seed: p.seed,
      sender: SENDER,
      faceValue: p.faceValue,
      winProb: p.winProb,
      expirationBlock: p.expirationBlock,
      pricePerPixel: p.pricePerPixel,
      expirationParams: p.expirationParams,
    });
    expect(p.recipientRandHash).toBe(recipientRandHashOf(r));
    const q = await maker.ticketParams(SENDER, Rat.ONE);
    expect(q.seed).not.toBe(p.seed);
    expect(q.recipientRandHash).not.toBe(p.recipientRandHash);
  });

  it("uses the previous round when the last round's block hash is zero", async () => {
    const { env, maker } = fixture();
    env.state.lastInitializedBlockHash = ZERO_HASH;
    const p = await maker.ticketParams(SENDER, Rat.ONE);
    expect(p.expirationParams).toEqual({ creationRound: 6n, creationRoundBlockHash: PRE_BLK });
  });

  it("gas price 777", async () => {
    const { env, maker } = fixture();
    env.gasPrice = 777n;
    const p = await maker.ticketParams(SENDER, Rat.ONE);
    expect(p.faceValue).toBe(777_000_000n);
    expect(p.winProb).toBe(745122839364969082519761808292714979750772102095499125093034646125570n);
  });

  it("caps at the max float", async () => {
    const { env, maker } = fixture();
    env.maxFloat = 10001n;
    env.gasPrice = 1n;
    const p = await maker.ticketParams(SENDER, Rat.ONE);
    expect(p.faceValue).toBe(10001n);
    expect(p.winProb).toBe(57890255593098787833002192285115442382396752657554526567072084795477017120n);
  });

  it("max float below EV: insufficient sender reserve", async () => {
    const { env, maker } = fixture();
    env.maxFloat = 4n;
    const err = await errorOf(maker.ticketParams(SENDER, Rat.ONE));
    expect(isLpError(err, "INSUFFICIENT_SENDER_RESERVE")).toBe(true);
    expect((err as Error).message).toBe("insufficient sender reserve");
  });

  it("the tx-cost check passes on either the current or the 3 gwei gas price (lazy)", async () => {
    const { env, maker } = fixture();
    const redeemGas = 10_000n;
    const avgCost = redeemGas * AVG_GAS_PRICE;
    env.gasPrice = AVG_GAS_PRICE + 1n;
    const cost = redeemGas * env.gasPrice;
    env.maxFloat = cost - 1n;
    await expect(maker.ticketParams(SENDER, Rat.ONE)).resolves.toBeDefined();
    env.maxFloat = avgCost;
    await expect(maker.ticketParams(SENDER, Rat.ONE)).resolves.toBeDefined();
    env.maxFloat = avgCost - 1n;
    expect(((await errorOf(maker.ticketParams(SENDER, Rat.ONE))) as Error).message).toBe(
      "insufficient sender reserve",
    );
    env.gasPrice = AVG_GAS_PRICE - 1n;
    const lowCost = redeemGas * env.gasPrice;
    env.maxFloat = lowCost + 1n;
    await expect(maker.ticketParams(SENDER, Rat.ONE)).resolves.toBeDefined();
    env.maxFloat = lowCost;
    await expect(maker.ticketParams(SENDER, Rat.ONE)).resolves.toBeDefined();
  });

  it("gas price 0 (or unknown): faceValue EV × 100, and refused when the max float is below EV", async () => {
    const { env, maker } = fixture();
    for (const gp of [0n, null]) {
      env.gasPrice = gp;
      env.maxFloat = MAX_WIN_PROB;
      const p = await maker.ticketParams(SENDER, Rat.ONE);
      expect(p.faceValue).toBe(5n * EV_MULTIPLIER);
      expect(p.winProb).toBe(1157920892373161954235709850086879078532699846656405640394575840079131296400n);
    }
    env.maxFloat = 0n;
    expect(((await errorOf(maker.ticketParams(SENDER, Rat.ONE))) as Error).message).toBe(
      "insufficient sender reserve",
    );
  });

  it("applies -maxFaceValue, and it can be changed at run time", async () => {
    const { maker } = fixture();
    maker.setMaxFaceValue(1_000_000n);
    expect((await maker.ticketParams(SENDER, Rat.ONE)).faceValue).toBe(1_000_000n);
    maker.setMaxFaceValue(4n);
    expect(((await errorOf(maker.ticketParams(SENDER, Rat.ONE))) as Error).message).toBe(
      "insufficient sender reserve",
    );
    maker.setMaxFaceValue(0n);
    expect((await maker.ticketParams(SENDER, Rat.ONE)).faceValue).toBe(100_000_000n);
    expect(() => maker.setMaxFaceValue(-1n)).toThrow(/>= 0/);
  });

  it("TxCostMultiplier: 100/1 by default, (txCost+1)/txCost when capped, 0/1 without gas price", async () => {
    const { env, maker } = fixture();
    expect((await maker.txCostMultiplier(SENDER)).toString()).toBe("100/1");
    env.maxFloat = 1_000_001n;
    expect((await maker.txCostMultiplier(SENDER)).toString()).toBe("1000001/1000000");
    env.gasPrice = 0n;
    env.maxFloat = MAX_WIN_PROB;
    expect((await maker.txCostMultiplier(SENDER)).toString()).toBe("0/1");
    expect(maker.ev().toString()).toBe("5/1");
  });
});

describe("faceValue and winProb functions", () => {
  it("winProb is 0 for faceValue 0, max when faceValue equals EV, rounded up otherwise", () => {
    expect(selectWinProb(0n, 5n)).toBe(0n);
    expect(selectWinProb(5n, 5n)).toBe(MAX_WIN_PROB);
    expect(selectWinProb(3n, 1n)).toBe(MAX_WIN_PROB / 3n); // (2^256-1) divisible by 3
    expect(selectWinProb(7n, 1n)).toBe(MAX_WIN_PROB / 7n + 1n);
  });

  it("the issued EV is never below the configured EV", () => {
    for (const fv of [7n, 1000n, 123456789n, 10n ** 20n + 3n, 2n ** 70n]) {
      const wp = selectWinProb(fv, 5n);
      expect(Rat.of(fv * wp, MAX_WIN_PROB).gte(5n)).toBe(true);
    }
  });

  it("selectFaceValue mirrors the steps", () => {
    const base = {
      ev: 5n,
      redeemGas: 10_000n,
      txCostMultiplier: 100n,
      gasPrice: 100n,
      maxFloat: 10n ** 10n,
      maxFaceValue: 0n,
    };
    expect(selectFaceValue(base)).toBe(100_000_000n);
    expect(selectFaceValue({ ...base, maxFaceValue: 7n, gasPrice: 0n })).toBe(7n);
    expect(selectFaceValue({ ...base, maxFloat: 10n ** 6n })).toBe(10n ** 6n);
    let err: unknown;
    try {
      selectFaceValue({ ...base, maxFaceValue: 7n });
    } catch (e) {
      err = e;
    }
    expect(isLpError(err, "INSUFFICIENT_SENDER_RESERVE")).toBe(true);
  });

  it("network presets and defaults", () => {
    expect(redeemGasForNetwork("arbitrum-one-mainnet")).toBe(REDEEM_GAS_L2);
    expect(redeemGasForNetwork("devnet")).toBe(REDEEM_GAS_L1);
    expect(redeemGasForNetwork("mainnet")).toBe(350_000n);
    expect(DEFAULT_TICKET_EV).toBe(8_000_000_000n);
  });

  it("refuses a negative configuration", () => {
    const deps = {
      clock: {
        state: {
          lastSeenL1Block: 0n,
          lastInitializedRound: 0n,
          lastInitializedBlockHash: BLK,
          preLastInitializedBlockHash: BLK,
        },
      },
      gasPrice: () => 0n,
      maxFloat: () => 0n,
      rand: new RecipientRandSource(),
    };
    expect(() => new TicketParamsMaker({ recipient: RECIPIENT, ev: -1n, redeemGas: 1n }, deps)).toThrow(/EV/);
    expect(
      () => new TicketParamsMaker({ recipient: RECIPIENT, ev: 1n, redeemGas: 1n, maxFaceValue: -1n }, deps),
    ).toThrow(/>= 0/);
  });
});
