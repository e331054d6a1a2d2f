/**
 * What a segment costs and how it is paid (go-livepeer server/segment_rpc.go estimateFee,
 * newBalanceUpdate, completeBalanceUpdate; core/orchestrator.go DebitFees): the gateway estimates
 * the fee from its output profiles, pays just enough tickets to cover it on top of its balance at
 * the orchestrator, then settles against the pixels the orchestrator reports; the orchestrator
 * debits the exact pixels at the price it quoted.
 */
import type { Address } from "viem";
import { LpError } from "../errors/LpError.js";
import type { ProfileSpec } from "../protocol/profiles.js";
import type { AddressBalances, Balance } from "./balances.js";
import { PIXEL_ESTIMATE_MULTIPLIER, Rat } from "./rat.js";
import type { RatValue } from "./types.js";

/** Frame rate assumed for a profile that keeps the source rate (go-livepeer's estimate). */
export const PASSTHROUGH_FPS_ESTIMATE = 60n;

/** Bad input to a fee computation (negative pixels, a non-finite duration...). */
export class FeeError extends LpError {
  constructor(message: string) {
    super("INVALID_FEE_INPUT", message);
  }
}

function nonNegInt(v: number, what: string): bigint {
  if (!Number.isSafeInteger(v) || v < 0) throw new FeeError(`${what} must be a non-negative integer`);
  return BigInt(v);
}

/** The profile fields the estimate reads. */
export type FeeProfile = Pick<ProfileSpec, "width" | "height" | "fps" | "fpsDen">;

/**
 * Output pixels a segment is expected to produce: Σ width × height × ceil(fps / fpsDen) ×
 * ceil(duration) over the profiles, with fps 0 (keep the source rate) counted as 60 and fpsDen 0
 * as 1. Ceilings, because over-paying a little beats stalling on an unpaid balance.
 */
export function estimateOutPixels(profiles: readonly FeeProfile[], durationSec: number): bigint {
  if (!Number.isFinite(durationSec) || durationSec < 0) {
    throw new FeeError("segment duration must be a finite number >= 0");
  }
  const seconds = BigInt(Math.ceil(durationSec));
  let total = 0n;
  for (const p of profiles) {
    const w = nonNegInt(p.width, "profile width");
    const h = nonNegInt(p.height, "profile height");
    let fps = nonNegInt(p.fps, "profile fps");
    let den = nonNegInt(p.fpsDen, "profile fpsDen");
    if (fps === 0n) fps = PASSTHROUGH_FPS_ESTIMATE;
    if (den === 0n) den = 1n;
    const fpsCeil = (fps + den - 1n) / den;
    total += w * h * fpsCeil * seconds;
  }
  return total;
}

/**
 * The gateway's fee estimate for one segment: estimated pixels × 1.02 (Go's float constant, exact)
 * × price per pixel. Null when there is no price (offchain).
 */
export function estimateFee(
  profiles: readonly FeeProfile[],
  durationSec: number,
  pricePerPixel: RatValue | null,
): Rat | null {
  if (!pricePerPixel) return null;
  const price = Rat.from(pricePerPixel);
  if (price.sign() < 0) throw new FeeError("price must not be negative");
  return Rat.from(estimateOutPixels(profiles, durationSec)).mul(PIXEL_ESTIMATE_MULTIPLIER).mul(price);
}

/** pixels × price, exactly: the orchestrator's debit and the gateway's settled cost. */
export function feeForPixels(pixels: bigint, pricePerPixel: RatValue): Rat {
  if (typeof pixels !== "bigint" || pixels < 0n) throw new FeeError("pixels must be a non-negative integer");
  const price = Rat.from(pricePerPixel);
  if (price.sign() < 0) throw new FeeError("price must not be negative");
  return price.mul(pixels);
}

/** Where a staged payment stands (go-livepeer BalanceUpdateStatus). */
export type BalanceUpdateStatus = "staged" | "creditSpent" | "receivedChange";

/**
 * One segment's payment against the gateway's balance at an orchestrator (go-livepeer
 * BalanceUpdate). stage() reserves the balance and says how many tickets to send; after the
 * request is sent, sent(); when results arrive, received(pixels); complete() (always, e.g. in a
 * finally) puts back what is due: the reserve if nothing was sent, nothing if the request went out
 * with no answer (the credit is assumed spent), or existing + new credit − debit once the pixels
 * are known (possibly negative).
 */
export class SegmentPayment {
  status: BalanceUpdateStatus = "staged";
  debit: Rat = Rat.ZERO;
  private completed = false;

  private constructor(
    private readonly balance: Balance | null,
    readonly numTickets: number,
    readonly newCredit: Rat,
    readonly existing: Rat,
  ) {}

  /**
   * Stage the payment for a fee: minCredit = max(fee, ev), tickets = ceil((minCredit − balance) / ev).
   * With no balance, no EV or no fee (offchain or a free orchestrator) nothing is paid.
   */
  static stage(balance: Balance | null, ev: RatValue | null, fee: RatValue | null): SegmentPayment {
    if (!balance || !ev || !fee) return new SegmentPayment(null, 0, Rat.ZERO, Rat.ZERO);
    const e = Rat.from(ev);
    const f = Rat.from(fee);
    if (f.sign() < 0) throw new FeeError("fee must not be negative");
    const minCredit = f.lt(e) ? e : f;
    const staged = balance.stageUpdate(minCredit, e);
    return new SegmentPayment(balance, staged.numTickets, staged.newCredit, staged.existing);
  }

  /** The segment request carrying the tickets has been sent. */
  sent(): void {
    if (this.status === "staged") this.status = "creditSpent";
  }

  /** The orchestrator returned results: debit Σ pixels × price (the price the session was quoted). */
  received(pixels: bigint | readonly bigint[], pricePerPixel: RatValue): void {
    const total = typeof pixels === "bigint" ? pixels : pixels.reduce((a, b) => a + b, 0n);
    this.debit = feeForPixels(total, pricePerPixel);
    this.status = "receivedChange";
  }

  /** Settle against the balance; runs once, later calls do nothing. */
  complete(): void {
    if (this.completed || !this.balance) return;
    this.completed = true;
    if (this.status === "staged") this.balance.credit(this.existing);
    else if (this.status === "receivedChange") {
      this.balance.credit(this.existing.add(this.newCredit).sub(this.debit));
    }
  }
}

/**
 * The orchestrator's debit for a transcoded segment (go-livepeer DebitFees): pixels ×
 * pricePerUnit / pixelsPerUnit of the price the gateway sent with its payment. Does nothing
 * offchain (no balances). Returns the amount debited.
 */
export function debitFees(
  balances: AddressBalances | null,
  sender: Address,
  sessionId: string,
  price: { pricePerUnit: bigint; pixelsPerUnit: bigint },
  pixels: bigint,
): Rat {
  if (price.pixelsPerUnit === 0n) throw new FeeError("pixels per unit is 0");
  const amount = feeForPixels(pixels, Rat.of(price.pricePerUnit, price.pixelsPerUnit));
  balances?.debit(sender, sessionId, amount);
  return amount;
}
