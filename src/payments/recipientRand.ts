/**
 * The recipient's random numbers (go-livepeer's pm/recipient.go rand): recipientRand is an
 * HMAC-SHA256, under a secret that lives only in this process, of everything the recipient told
 * one sender (seed, sender, faceValue, winProb, expiration block, price, creation round). A ticket
 * that comes back with any of these changed fails the recipientRandHash check, so the recipient
 * needs no per-params state. A restart draws a new secret: outstanding params then fail, as in Go.
 */
import { createHmac, randomBytes } from "node:crypto";
import { inspect } from "node:util";
import { type Address, type Hex, hexToBytes } from "viem";
import { Rat } from "./rat.js";
import { auxData, bytesToBigint, minimalBytes, recipientRandHashOf, TicketEncodingError } from "./ticket.js";
import type { RatValue, TicketExpirationParams } from "./types.js";

/** What the HMAC covers, in go-livepeer's order. */
export interface RecipientRandInput {
  seed: bigint;
  sender: Address;
  faceValue: bigint;
  winProb: bigint;
  /** The params' expiration block (ParamsExpirationBlock of the tickets made from them). */
  expirationBlock: bigint;
  pricePerPixel: RatValue;
  expirationParams: TicketExpirationParams;
}

/**
 * The HMAC message: seed ‖ sender(20) ‖ faceValue ‖ winProb ‖ expirationBlock ‖ price num ‖ price den
 * ‖ auxData, every integer as minimal big-endian bytes (0 adds nothing) and the price reduced first,
 * as Go's big.Rat always is. No length prefixes: Go has none and only the recipient reads this.
 */
export function recipientRandMessage(input: RecipientRandInput): Uint8Array {
  if (typeof input.sender !== "string" || !/^0x[0-9a-fA-F]{40}$/.test(input.sender)) {
    throw new TicketEncodingError("sender must be 20 bytes of 0x-hex");
  }
  const price = Rat.from(input.pricePerPixel);
  const parts = [
    minimalBytes(input.seed),
    hexToBytes(input.sender),
    minimalBytes(input.faceValue),
    minimalBytes(input.winProb),
    minimalBytes(input.expirationBlock),
    minimalBytes(price.num),
    minimalBytes(price.den),
    auxData(input.expirationParams),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The recipient's per-process HMAC secret and the numbers made with it. The secret never leaves this object. */
export class RecipientRandSource {
  readonly #secret: Buffer;

  /** A fresh random secret; tests pass a fixed 32-byte one (Go's tests use 0x03 then 31 zeros). */
  constructor(secret?: Uint8Array) {
    if (secret !== undefined && secret.length !== 32) {
      throw new TicketEncodingError("recipientRand secret must be 32 bytes");
    }
    this.#secret = secret === undefined ? randomBytes(32) : Buffer.from(secret);
  }

  /** recipientRand: HMAC-SHA256(secret, message) read as a big-endian integer. */
  rand(input: RecipientRandInput): bigint {
    const mac = createHmac("sha256", this.#secret).update(recipientRandMessage(input)).digest();
    return bytesToBigint(mac);
  }

  /** keccak256(uint256(rand(input))): the commitment advertised in TicketParams. */
  randHash(input: RecipientRandInput): Hex {
    return recipientRandHashOf(this.rand(input));
  }

  /**
   * A new params seed: 32 random bytes as an integer. go-livepeer draws it from math/rand; we use
   * the OS CSPRNG, which no peer can tell apart and which cannot be predicted.
   */
  newSeed(): bigint {
    return bytesToBigint(randomBytes(32));
  }

  /** Never print the secret. */
  toJSON(): Record<string, never> {
    return {};
  }

  /** Never print the secret. */
  [inspect.custom](): string {
    return "RecipientRandSource {}";
  }
}

export { recipientRandHashOf as recipientRandHash };
