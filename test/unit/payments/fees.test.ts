import type { Address, Hex } from "viem";
import { describe, expect, it } from "vitest";
import { Signer } from "../../../src/eth/signer.js";
import { PRESETS } from "../../../src/media/profiles.js";
import { AddressBalances, Balance } from "../../../src/payments/balances.js";
import {
  debitFees,
  estimateFee,
  estimateOutPixels,
  feeForPixels,
  SegmentPayment,
} from "../../../src/payments/fees.js";
import { PIXEL_ESTIMATE_MULTIPLIER, Rat } from "../../../src/payments/rat.js";
import { Sender } from "../../../src/payments/Sender.js";
import { batchTickets, MAX_WIN_PROB, ticketEV } from "../../../src/payments/ticket.js";

const O = "0x73AEd7b5dEb30222fa896f399d46cC99c7BEe57F" as Address;
const r = (n: bigint | number, d: bigint | number = 1n) => Rat.of(n, d);
const P240 = PRESETS.P240p30fps16x9!;
const P360 = PRESETS.P360p30fps16x9!;

describe("estimateOutPixels / estimateFee (reference 6.3)", () => {
  it("sums width x height x ceil(fps) x ceil(duration) over the profiles", () => {
    expect(estimateOutPixels([P240, P360], 2)).toBe(BigInt((426 * 240 * 30 + 640 * 360 * 30) * 2));
    expect(estimateOutPixels([P240], 1.1)).toBe(BigInt(426 * 240 * 30 * 2));
    expect(estimateOutPixels([P240], 0)).toBe(0n);
    expect(estimateOutPixels([], 2)).toBe(0n);
  });

  it("counts a passthrough rate as 60 fps, fpsDen 0 as 1, and rounds fractional rates up", () => {
    const base = { width: 100, height: 10 };
    expect(estimateOutPixels([{ ...base, fps: 0, fpsDen: 0 }], 1)).toBe(60000n);
    expect(estimateOutPixels([{ ...base, fps: 30, fpsDen: 0 }], 1)).toBe(30000n);
    expect(estimateOutPixels([{ ...base, fps: 30000, fpsDen: 1001 }], 1)).toBe(30000n);
    expect(estimateOutPixels([{ ...base, fps: 25, fpsDen: 2 }], 1)).toBe(13000n);
  });

  it("refuses negative, fractional and non-finite inputs", () => {
    expect(() => estimateOutPixels([P240], -1)).toThrow(/duration/);
    expect(() => estimateOutPixels([P240], Number.NaN)).toThrow(/duration/);
    expect(() => estimateOutPixels([P240], Number.POSITIVE_INFINITY)).toThrow(/duration/);
    expect(() => estimateOutPixels([{ ...P240, width: -2 }], 1)).toThrow(/width/);
    expect(() => estimateOutPixels([{ ...P240, fps: 29.97 }], 1)).toThrow(/fps/);
  });

  it("multiplies by Go's exact 1.02 and the price; no price gives no fee", () => {
    expect(PIXEL_ESTIMATE_MULTIPLIER.ratString()).toBe("2296835809958953/2251799813685248");
    const pixels = estimateOutPixels([P240, P360], 2);
    const fee = estimateFee([P240, P360], 2, r(3, 2))!;
    expect(fee.eq(r(pixels).mul(r(2296835809958953n, 2251799813685248n)).mul(r(3, 2)))).toBe(true);
    expect(fee.eq(r(pixels).mul(r(51, 50)).mul(r(3, 2)))).toBe(false);
    expect(estimateFee([P240], 2, null)).toBeNull();
    expect(estimateFee([P240], 2, r(0))!.sign()).toBe(0);
    expect(() => estimateFee([P240], 2, r(-1))).toThrow(/negative/);
  });

  it("stays exact for huge prices and durations", () => {
    const fee = estimateFee([P360], 3600, r(10n ** 30n))!;
    expect(fee.eq(r(640n * 360n * 30n * 3600n * 10n ** 30n).mul(PIXEL_ESTIMATE_MULTIPLIER))).toBe(true);
  });
});

describe("SegmentPayment (newBalanceUpdate / completeBalanceUpdate)", () => {
  it("pays ceil((max(fee, ev) - balance) / ev) tickets and settles with the returned pixels", () => {
    const balances = new AddressBalances();
    const bal = new Balance(O, "sess", balances);
    const pay = SegmentPayment.stage(bal, r(10), r(25));
    expect(pay.numTickets).toBe(3);
    expect(pay.newCredit.eq(30n)).toBe(true);
    expect(pay.existing.eq(0n)).toBe(true);
    pay.sent();
    pay.received([5n, 7n], r(2)); // 12 pixels at 2 wei = 24
    expect(pay.status).toBe("receivedChange");
    pay.complete();
    pay.complete(); // once only
    expect(bal.current()?.eq(6n)).toBe(true);

    // The 6 left over count against the next segment: 25 - 6 = 19 -> 2 tickets.
    const next = SegmentPayment.stage(bal, r(10), r(25));
    expect(next.existing.eq(6n)).toBe(true);
    expect(next.numTickets).toBe(2);
  });

  it("pays at least one ticket's EV even for a tiny fee", () => {
    const bal = new Balance(O, "s", new AddressBalances());
    const pay = SegmentPayment.stage(bal, r(10), r(1, 1000));
    expect(pay.numTickets).toBe(1);
    expect(pay.newCredit.eq(10n)).toBe(true);
  });

  it("puts the reserve back when nothing was sent, and keeps nothing when sent without an answer", () => {
    const balances = new AddressBalances();
    const bal = new Balance(O, "s", balances);
    bal.credit(r(40));
    const unsent = SegmentPayment.stage(bal, r(10), r(25));
    expect(unsent.numTickets).toBe(0);
    expect(bal.current()?.eq(0n)).toBe(true);
    unsent.complete();
    expect(bal.current()?.eq(40n)).toBe(true);

    const lost = SegmentPayment.stage(bal, r(10), r(50));
    expect(lost.numTickets).toBe(1);
    lost.sent();
    lost.complete();
    expect(bal.current()?.eq(0n)).toBe(true);
  });

  it("may leave a negative balance when the pixels cost more than was paid", () => {
    const bal = new Balance(O, "s", new AddressBalances());
    const pay = SegmentPayment.stage(bal, r(10), r(5));
    pay.sent();
    pay.received(100n, r(1));
    pay.complete();
    expect(bal.current()?.eq(-90n)).toBe(true);
  });

  it("pays nothing offchain or for a free orchestrator", () => {
    const bal = new Balance(O, "s", new AddressBalances());
    expect(SegmentPayment.stage(null, r(10), r(25)).numTickets).toBe(0);
    expect(SegmentPayment.stage(bal, null, r(25)).numTickets).toBe(0);
    const free = SegmentPayment.stage(bal, r(10), null);
    expect(free.numTickets).toBe(0);
    free.complete();
    expect(bal.current()).toBeNull();
    expect(() => SegmentPayment.stage(bal, r(10), r(-1))).toThrow(/negative/);
  });
});

describe("orchestrator debit (DebitFees)", () => {
  it("debits exact pixels x pricePerUnit / pixelsPerUnit from the (sender, session) balance", () => {
    const balances = new AddressBalances();
    balances.credit(O, "m", r(1000));
    const amount = debitFees(balances, O, "m", { pricePerUnit: 7n, pixelsPerUnit: 3n }, 100n);
    expect(amount.eq(r(700, 3))).toBe(true);
    expect(balances.balance(O, "m")?.eq(r(2300, 3))).toBe(true);
    expect(debitFees(null, O, "m", { pricePerUnit: 1n, pixelsPerUnit: 1n }, 5n).eq(5n)).toBe(true);
    expect(debitFees(balances, O, "z", { pricePerUnit: 0n, pixelsPerUnit: 1n }, 5n).sign()).toBe(0);
  });

  it("refuses 0 pixels per unit and negative pixels without touching the balance", () => {
    const balances = new AddressBalances();
    balances.credit(O, "m", r(10));
    expect(() => debitFees(balances, O, "m", { pricePerUnit: 1n, pixelsPerUnit: 0n }, 5n)).toThrow(
      "pixels per unit is 0",
    );
    expect(() => debitFees(balances, O, "m", { pricePerUnit: 1n, pixelsPerUnit: 1n }, -5n)).toThrow(/pixels/);
    expect(() => feeForPixels(1n, r(-1))).toThrow(/negative/);
    expect(balances.balance(O, "m")?.eq(10n)).toBe(true);
  });
});

describe("gateway and orchestrator agree on a segment's money", () => {
  it("the gateway's balance after settling equals the orchestrator's credit minus its debit", async () => {
    const signer = Signer.fromPrivateKey(`0x${"11".repeat(32)}` as Hex);
    const sender = new Sender(
      { maxEV: r(10n ** 15n), maxTotalEV: r(10n ** 18n), depositMultiplier: 1 },
      {
        signer,
        funds: {
          senderInfo: () => ({
            deposit: 10n ** 18n,
            withdrawRound: 0n,
            reserve: { fundsRemaining: 10n ** 18n, claimedInCurrentRound: 0n },
          }),
        },
        time: () => ({
          lastSeenL1Block: 10n,
          lastInitializedRound: 3n,
          lastInitializedBlockHash: `0x${"aa".repeat(32)}` as Hex,
        }),
      },
    );
    const price = r(1, 3); // wei per pixel
    const params = {
      recipient: O,
      faceValue: 10n ** 12n,
      winProb: MAX_WIN_PROB / 1000n,
      recipientRandHash: `0x${"cd".repeat(32)}` as Hex,
      seed: 1n,
      expirationBlock: 50n,
      pricePerPixel: price,
      expirationParams: { creationRound: 3n, creationRoundBlockHash: `0x${"aa".repeat(32)}` as Hex },
    };
    const pmSession = sender.startSession(params);
    const gateway = new AddressBalances();
    const orch = new AddressBalances();
    const gwBalance = new Balance(O, "auth-session", gateway);

    for (let seg = 0; seg < 3; seg++) {
      const fee = estimateFee([P240, P360], 2, price);
      const pay = SegmentPayment.stage(gwBalance, sender.ev(pmSession), fee);
      const batch = await sender.createTicketBatch(pmSession, pay.numTickets);
      // Orchestrator: credit each accepted ticket's EV, then debit the exact pixels.
      for (const { ticket } of batchTickets(batch)) {
        orch.credit(signer.address, "auth-session", ticketEV(ticket.faceValue, ticket.winProb));
      }
      pay.sent();
      const pixels = [426n * 240n * 60n, 640n * 360n * 60n];
      debitFees(
        orch,
        signer.address,
        "auth-session",
        { pricePerUnit: 1n, pixelsPerUnit: 3n },
        pixels[0]! + pixels[1]!,
      );
      pay.received(pixels, price);
      pay.complete();
      expect(gwBalance.current()!.eq(orch.balance(signer.address, "auth-session")!)).toBe(true);
      expect(gwBalance.current()!.sign()).toBeGreaterThanOrEqual(0);
    }
    expect(sender.nonce(pmSession)).toBeGreaterThan(0);
  });
});
