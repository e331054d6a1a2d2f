import { inspect } from "node:util";
import { type Address, bytesToHex, keccak256, stringToBytes } from "viem";
import { describe, expect, it } from "vitest";
import { isLpError } from "../../../src/errors/LpError.js";
import { Rat } from "../../../src/payments/rat.js";
import {
  type RecipientRandInput,
  RecipientRandSource,
  recipientRandHash,
  recipientRandMessage,
} from "../../../src/payments/recipientRand.js";

const SECRET = new Uint8Array(32);
SECRET[0] = 3;

// Section 11.N.
const input: RecipientRandInput = {
  seed: BigInt(keccak256(stringToBytes("seed"))),
  sender: "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
  faceValue: 1200000000000000n,
  winProb: 771947261582107969490473233391252719021799897770937093596383896000000000n,
  expirationBlock: 20000040n,
  pricePerPixel: Rat.of(101n, 100n),
  expirationParams: { creationRound: 3500n, creationRoundBlockHash: keccak256(stringToBytes("block")) },
};

describe("recipientRand HMAC (vectors 11.M / 11.N)", () => {
  it("builds the 159-byte message with minimal big-endian integers", () => {
    const msg = recipientRandMessage(input);
    expect(msg.length).toBe(159);
    expect(bytesToHex(msg)).toBe(
      `0x66a80b61b29ec044d14c4c8c613e762ba1fb8eeb0c454d1ee00ed6dedaa5b5c5` +
        `f39fd6e51aad88f6f4ce6ab8827279cfffb92266` +
        `044364c5bb0000` +
        `6fd91d84bcda58175fdfab3d77a168e2893e4958803b6b57ae84efcbf000` +
        `01312d28` +
        `65` +
        `64` +
        `${"0".repeat(61)}dac` +
        `20b53acf0daefc8c6ad68c861fb3b543ca541abd101abc1edfcbf6606b838ef4`,
    );
  });

  it("gives the vector's recipientRand and recipientRandHash with secret 0x03", () => {
    const src = new RecipientRandSource(SECRET);
    expect(src.rand(input)).toBe(0x2c4502db41b80ff79eb138d36940af26b26ddccb42dfd9dd50f9e12d41c65634n);
    expect(src.randHash(input)).toBe("0x087dbb67c2d1ef95d1b9621260af13030fea8777ef4e9912e5e33e4e64ec7c13");
    expect(recipientRandHash(src.rand(input))).toBe(src.randHash(input));
  });

  it("reduces the price before hashing: 202/200 gives the same rand as 101/100", () => {
    const src = new RecipientRandSource(SECRET);
    expect(src.rand({ ...input, pricePerPixel: { num: 202n, den: 200n } })).toBe(src.rand(input));
  });

  it("zero values add no bytes; price 0 is 0/1; both-zero auxData is empty", () => {
    const msg = recipientRandMessage({
      seed: 0n,
      sender: "0x0000000000000000000000000000000000000001",
      faceValue: 0n,
      winProb: 0n,
      expirationBlock: 0n,
      pricePerPixel: Rat.ZERO,
      expirationParams: { creationRound: 0n, creationRoundBlockHash: `0x${"0".repeat(64)}` },
    });
    expect(bytesToHex(msg)).toBe("0x000000000000000000000000000000000000000101");
  });

  it("changes with every field", () => {
    const src = new RecipientRandSource(SECRET);
    const base = src.rand(input);
    const variants: RecipientRandInput[] = [
      { ...input, seed: input.seed + 1n },
      { ...input, sender: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8" },
      { ...input, faceValue: input.faceValue + 1n },
      { ...input, winProb: input.winProb - 1n },
      { ...input, expirationBlock: input.expirationBlock + 1n },
      { ...input, pricePerPixel: Rat.of(102n, 100n) },
      { ...input, expirationParams: { ...input.expirationParams, creationRound: 3501n } },
    ];
    for (const v of variants) expect(src.rand(v)).not.toBe(base);
  });

  it("a fresh source has its own random secret and random seeds", () => {
    const a = new RecipientRandSource();
    const b = new RecipientRandSource();
    expect(a.rand(input)).not.toBe(b.rand(input));
    const seeds = new Set(Array.from({ length: 20 }, () => a.newSeed()));
    expect(seeds.size).toBe(20);
    for (const s of seeds) expect(s >= 0n && s < 1n << 256n).toBe(true);
  });

  it("never shows the secret", () => {
    const src = new RecipientRandSource(new Uint8Array(32).fill(0xab));
    expect(JSON.stringify({ src })).toBe('{"src":{}}');
    expect(inspect(src)).not.toMatch(/ab/i);
    expect(Object.keys(src)).toEqual([]);
  });

  it("refuses a bad secret or sender with a typed error", () => {
    expect(() => new RecipientRandSource(new Uint8Array(31))).toThrow(/32 bytes/);
    let err: unknown;
    try {
      recipientRandMessage({ ...input, sender: "0x1234" as Address });
    } catch (e) {
      err = e;
    }
    expect(isLpError(err, "TICKET_ENCODING")).toBe(true);
  });
});
