import { randomBytes } from "node:crypto";
import { keccak_256 } from "@noble/hashes/sha3.js";
import { bytesToHex, stringToBytes } from "viem";
import { describe, expect, it } from "vitest";
import { keccak256Bytes } from "../../../src/payments/keccak.js";

describe("keccak256Bytes", () => {
  it("known vectors (Keccak padding, not SHA3)", () => {
    expect(bytesToHex(keccak256Bytes(new Uint8Array(0)))).toBe(
      "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470",
    );
    expect(bytesToHex(keccak256Bytes(stringToBytes("foo")))).toBe(
      "0x41b1a0649752af1b28b3dc29a1556eee781e4a4c3a1f7f53f90fa834de098c4d",
    );
  });

  it("equals @noble/hashes for every length across several blocks, including the rate boundaries", () => {
    for (let n = 0; n <= 700; n++) {
      const data = randomBytes(n);
      expect(bytesToHex(keccak256Bytes(data)), `length ${n}`).toBe(bytesToHex(keccak_256(data)));
    }
  });

  it("leaves its input untouched and returns a fresh array each time", () => {
    const data = randomBytes(300);
    const copy = Buffer.from(data);
    const a = keccak256Bytes(data);
    const b = keccak256Bytes(data);
    expect(Buffer.compare(data, copy)).toBe(0);
    expect(a).not.toBe(b);
    expect(bytesToHex(a)).toBe(bytesToHex(b));
  });
});
