import { randomBytes } from "node:crypto";
import { secp256k1 } from "@noble/curves/secp256k1";
import { type Address, bytesToHex, type Hex, hexToBytes, keccak256, stringToBytes } from "viem";
import { describe, expect, it } from "vitest";
import { isLpError } from "../../../src/errors/LpError.js";
import { Signer } from "../../../src/eth/signer.js";
import { loadNativeSecp256k1, personalDigest, SigVerifier } from "../../../src/payments/sig.js";

const native = new SigVerifier();
const noble = new SigVerifier({ prefer: "noble" });
const both = [native, noble];

// 11.D: go-livepeer crypto/verify_test.go.
const D_ADDR: Address = "0x3BadDb1eeE2105893136A3F96c8a963E9C6309d6";
const D_MSG = hexToBytes("0xb7da355477356fc4c47fcabcf232dc77a6db9b07b7e48b76261cc55cc8fbabb3");
const D_SIG = hexToBytes(
  "0x206443228e8f784bc3a122de0d85eb3ebff82d6a79cca26c7eeb907099a6404f6dff57bc6828f28bd6cd073c89d94cf3364204679ed8365fa45b5ee6af19a9841c",
);
const HIGH_S = hexToBytes(
  "0xe742ff452d41413616a5bf43fe15dd88294e983d3d36206c2712f39083d638bde0a0fc89be718fbc1033e1d30d78be1c68081562ed2e97af876f286f3453231d1b",
);

function codeOf(fn: () => unknown): { code?: string; message?: string } {
  try {
    fn();
  } catch (err) {
    return isLpError(err) ? { code: err.code, message: err.message } : { code: "untyped" };
  }
  return {};
}

describe("SigVerifier backends", () => {
  it("loads the native addon here and says so", () => {
    expect(loadNativeSecp256k1()).not.toBeNull();
    expect(native.backend).toBe("native");
    expect(noble.backend).toBe("noble");
  });
});

describe("recovery vectors 11.D", () => {
  for (const v of both) {
    it(`${v.backend}: recovers the address over the EIP-191 digest`, () => {
      expect(v.recoverAddress(D_MSG, D_SIG)).toBe(D_ADDR);
      expect(v.verify(D_ADDR, D_MSG, D_SIG)).toBe(true);
      expect(v.verify(D_ADDR, bytesToHex(D_MSG), bytesToHex(D_SIG))).toBe(true);
    });

    it(`${v.backend}: refuses with go-livepeer's texts`, () => {
      expect(codeOf(() => v.recoverAddressBytes(D_MSG, HIGH_S))).toEqual({
        code: "SIGNATURE_HIGH_S",
        message: "signature s value too high",
      });
      expect(codeOf(() => v.recoverAddressBytes(D_MSG, D_SIG.subarray(0, 64)))).toEqual({
        code: "SIGNATURE_LENGTH",
        message: "invalid signature length",
      });
      const v0 = Uint8Array.from(D_SIG);
      v0[64] = 0;
      expect(codeOf(() => v.recoverAddressBytes(D_MSG, v0))).toEqual({
        code: "SIGNATURE_V",
        message: "signature v value must be 27 or 28",
      });
      expect(v.verify(D_ADDR, D_MSG, HIGH_S)).toBe(false);
      expect(v.verify(D_ADDR, D_MSG, v0)).toBe(false);
    });
  }

  it("the raw message (no EIP-191 prefix) recovers a different address", () => {
    const sig = secp256k1.Signature.fromCompact(D_SIG.subarray(0, 64)).addRecoveryBit(1);
    const pub = sig.recoverPublicKey(D_MSG).toRawBytes(false);
    const raw = bytesToHex(hexToBytes(keccak256(pub.subarray(1))).subarray(12));
    expect(raw).toBe("0x38c68c9d0f0a4889d839a4f5eebe7dc7714f95e5");
    for (const v of both) expect(v.verify(raw as Address, D_MSG, D_SIG)).toBe(false);
  });
});

describe("11.N ticket signatures", () => {
  const sender: Address = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
  const cases: Array<[Hex, Hex, Hex]> = [
    [
      "0x730a17849744bcc5c2e0dce8dca95b98d92232e92cafdf67bfb5d80d461ccc13",
      "0x0380d202233c820f98adb9cb2cd88e13e86d5ea3734a96800f72d77772662857",
      "0xa2465d1ee49145e7fb38e30cb6d16d34d9ba214645b55ae3c602b3fef7bfc1470e03ce5834ff1616baacc1e6a9c0811c794ec0e7a64681f782b1b42d0eac96341b",
    ],
    [
      "0x27377e1f23ed724e0b2b2c9bd869d0e49b412b5678269974151a8a88dd36a09b",
      "0x0ccf035b8047c84ecbd4896e45f94eebda2a898feab8d2fdb3651b13ea0bcaf6",
      "0x717188fc603f082d1af106ca6d2324a7e55180bbba8eed2ee7b695207184aa7e2431bdebcbbb9f1572fcebd50bc38cc29fab5bc11e4c1b1c3e1b82f4015537801b",
    ],
  ];
  it("digests and recovers the sender on both backends", async () => {
    const signer = Signer.fromPrivateKey(
      "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    );
    for (const [hash, digest, sig] of cases) {
      expect(bytesToHex(personalDigest(hexToBytes(hash)))).toBe(digest);
      expect(bytesToHex(await signer.signHash(hexToBytes(hash)))).toBe(sig);
      for (const v of both) expect(v.recoverAddress(hash, sig)).toBe(sender);
    }
  });
});

describe("random signatures from src/eth/signer.ts", () => {
  it("both backends recover the signer, and refuse a changed hash or a foreign address", async () => {
    for (let i = 0; i < 25; i++) {
      const signer = Signer.fromPrivateKey(secp256k1.utils.randomPrivateKey());
      const hash = randomBytes(32);
      const sig = await signer.signHash(hash);
      const addrs = both.map((v) => v.recoverAddress(hash, sig));
      expect(addrs).toEqual([signer.address, signer.address]);
      const other = Uint8Array.from(hash);
      other[i % 32]! ^= 1;
      for (const v of both) {
        expect(v.verify(signer.address, hash, sig)).toBe(true);
        expect(v.verify(signer.address, other, sig)).toBe(false);
        expect(v.verify("0x3BadDb1eeE2105893136A3F96c8a963E9C6309d6", hash, sig)).toBe(false);
      }
    }
  });

  it("both backends agree on garbage: false from verify, typed errors from recover", () => {
    const hash = keccak256(stringToBytes("x"));
    const n = secp256k1.CURVE.n;
    const word = (x: bigint) => x.toString(16).padStart(64, "0");
    const bad: Hex[] = [
      "0x",
      `0x${"00".repeat(65)}`,
      `0x${word(n)}${word(1n)}1b`, // r = N
      `0x${word(1n)}${word(0n)}1b`, // s = 0
      `0x${"ff".repeat(32)}${word(1n)}1c`,
      `0x${"ab".repeat(66)}`,
    ];
    for (const sig of bad) {
      for (const v of both) {
        expect(v.verify("0x3BadDb1eeE2105893136A3F96c8a963E9C6309d6", hash, sig), sig).toBe(false);
        const res = codeOf(() => v.recoverAddress(hash, sig));
        expect(res.code, sig).toMatch(/^SIGNATURE_/);
      }
    }
    for (const v of both) {
      expect(v.verify("0x3BadDb1eeE2105893136A3F96c8a963E9C6309d6", "0xzz" as Hex, D_SIG)).toBe(false);
      expect(v.verify("nope" as Address, D_MSG, D_SIG)).toBe(false);
      expect(codeOf(() => v.recoverAddressBytes(new Uint8Array(31), D_SIG)).code).toBe(
        "SIGNATURE_HASH_LENGTH",
      );
    }
  });

  it("a random 65-byte signature with valid v and low s either recovers the same address on both or fails on both", () => {
    const hash = randomBytes(32);
    for (let i = 0; i < 50; i++) {
      const sig = randomBytes(65);
      sig[32] = sig[32]! & 0x7f; // low s
      sig[64] = 27 + (i % 2);
      const results = both.map((v) => {
        try {
          return v.recoverAddress(hash, sig);
        } catch (err) {
          return isLpError(err) ? err.code : "untyped";
        }
      });
      expect(results[0]).toBe(results[1]);
    }
  });
});
