import { inspect } from "node:util";
import { secp256k1 } from "@noble/curves/secp256k1";
import { keccak_256 } from "@noble/hashes/sha3.js";
import { hexToBytes, parseEther, recoverAddress, recoverTransactionAddress } from "viem";
import { describe, expect, it } from "vitest";
import { checkSignature, recoverHashSigner, SignatureError, Signer } from "../../../src/eth/signer.js";

// The Web3 Secret Storage test key; its address is 0x008AeEda4D805471dF9b2A5B0f38A0C3bCBA786b.
const KEY_HEX = "7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d";
const ADDRESS = "0x008AeEda4D805471dF9b2A5B0f38A0C3bCBA786b";
const N = secp256k1.CURVE.n;

const hash = keccak_256(new TextEncoder().encode("a ticket"));

/** personal_sign digest computed here by hand, independent of viem's hashMessage. */
function personalDigest(h: Uint8Array): Uint8Array {
  const prefix = new TextEncoder().encode("\x19Ethereum Signed Message:\n32");
  const body = new Uint8Array(prefix.length + h.length);
  body.set(prefix, 0);
  body.set(h, prefix.length);
  return keccak_256(body);
}

function toBig(b: Uint8Array): bigint {
  return BigInt(`0x${Buffer.from(b).toString("hex")}`);
}

function to32(v: bigint): Uint8Array {
  return hexToBytes(`0x${v.toString(16).padStart(64, "0")}`);
}

function signatureError(fn: () => unknown): SignatureError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SignatureError);
    return err as SignatureError;
  }
  throw new Error("did not throw");
}

async function rejection(p: Promise<unknown>): Promise<SignatureError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SignatureError);
  return err as SignatureError;
}

describe("Signer.signHash", () => {
  const signer = Signer.fromPrivateKey(hexToBytes(`0x${KEY_HEX}`));

  it("has the key's checksummed address", () => {
    expect(signer.address).toBe(ADDRESS);
    expect(Signer.fromPrivateKey(`0x${KEY_HEX}`).address).toBe(ADDRESS);
  });

  it("personal-signs the 32-byte hash: 65 bytes r‖s‖v, v 27/28, low s, deterministic", async () => {
    const sig = await signer.signHash(hash);
    expect(sig).toBeInstanceOf(Uint8Array);
    expect(sig.length).toBe(65);
    expect([27, 28]).toContain(sig[64]);
    expect(toBig(sig.subarray(32, 64)) <= N / 2n).toBe(true);
    expect(Buffer.from(await signer.signHash(hash)).equals(Buffer.from(sig))).toBe(true);
    // The same bytes as RFC 6979 low-s signing of the personal_sign digest done by hand.
    const ref = secp256k1.sign(personalDigest(hash), hexToBytes(`0x${KEY_HEX}`), { lowS: true });
    expect(Buffer.from(sig.subarray(0, 64)).toString("hex")).toBe(ref.toCompactHex());
    expect(sig[64]).toBe(27 + ref.recovery);
  });

  it("round-trips through recoverHashSigner and an independent ecrecover", async () => {
    const sig = await signer.signHash(hash);
    expect(await recoverHashSigner(hash, sig)).toBe(ADDRESS);
    expect(await recoverAddress({ hash: personalDigest(hash), signature: sig })).toBe(ADDRESS);
    const other = keccak_256(new TextEncoder().encode("another ticket"));
    expect(await recoverHashSigner(other, sig)).not.toBe(ADDRESS);
  });

  it("refuses a hash that is not 32 bytes", async () => {
    expect((await rejection(signer.signHash(new Uint8Array(31)))).code).toBe("SIGNATURE_HASH_LENGTH");
  });

  it("signMessage prefixes the message's own length, as accounts.TextHash", async () => {
    const msg = new TextEncoder().encode('{"nonce":1}');
    const sig = await signer.signMessage(msg);
    const prefix = new TextEncoder().encode(`\x19Ethereum Signed Message:\n${msg.length}`);
    const digest = keccak_256(new Uint8Array([...prefix, ...msg]));
    expect(await recoverAddress({ hash: digest, signature: sig })).toBe(ADDRESS);
  });

  it("gives a viem LocalAccount over the same key that signs transactions", async () => {
    const account = signer.account();
    expect(account.address).toBe(ADDRESS);
    expect(account.type).toBe("local");
    const tx = await account.signTransaction!({
      chainId: 31337,
      type: "eip1559",
      to: "0x000000000000000000000000000000000000dEaD",
      value: parseEther("1"),
      nonce: 0,
      gas: 21000n,
      maxFeePerGas: 2_000_000_000n,
      maxPriorityFeePerGas: 1_000_000_000n,
    });
    expect(await recoverTransactionAddress({ serializedTransaction: tx as `0x02${string}` })).toBe(ADDRESS);
  });

  it("refuses an invalid private key", () => {
    expect(() => Signer.fromPrivateKey(new Uint8Array(32))).toThrow(/valid secp256k1 key/);
    expect(() => Signer.fromPrivateKey(new Uint8Array(31))).toThrow(/32 bytes/);
  });
});

describe("the key never leaves the signer", () => {
  const signer = Signer.fromPrivateKey(`0x${KEY_HEX}`);
  const leaks = (text: string): boolean => text.toLowerCase().includes(KEY_HEX);

  it("JSON, inspect, string forms and property listings show only the address", () => {
    const forms = [
      JSON.stringify(signer),
      JSON.stringify({ nested: { signer } }),
      inspect(signer),
      inspect(signer, { showHidden: true, depth: null, getters: true }),
      inspect({ nested: signer }, { showHidden: true, depth: null }),
      String(signer),
      `${signer}`,
      JSON.stringify(Object.getOwnPropertyNames(signer)),
      JSON.stringify(Object.entries(signer)),
      JSON.stringify({ ...signer }),
      JSON.stringify(signer.account()),
    ];
    for (const text of forms) {
      expect(leaks(text), text).toBe(false);
    }
    expect(JSON.parse(JSON.stringify(signer))).toEqual({ address: ADDRESS });
    expect(inspect(signer)).toContain(ADDRESS);
    expect(Object.keys(signer)).toEqual(["address"]);
  });
});

describe("recoverHashSigner / checkSignature: go-livepeer's VerifySig rules", () => {
  const signer = Signer.fromPrivateKey(`0x${KEY_HEX}`);

  it("refuses high s, although the same signature with s flipped recovers the same key", async () => {
    const sig = await signer.signHash(hash);
    const s = toBig(sig.subarray(32, 64));
    const high = new Uint8Array(sig);
    high.set(to32(N - s), 32);
    high[64] = sig[64] === 27 ? 28 : 27;
    // Plain ecrecover accepts the malleable twin: only our check stands in the way.
    expect(await recoverAddress({ hash: personalDigest(hash), signature: high })).toBe(ADDRESS);
    const err = await rejection(recoverHashSigner(hash, high));
    expect(err.code).toBe("SIGNATURE_HIGH_S");
    expect(err.message).toBe("signature s value too high");
  });

  it("refuses v 0/1 (go-ethereum's raw form) and any other v", async () => {
    const sig = await signer.signHash(hash);
    for (const v of [0, 1, 26, 29, 255]) {
      const bad = new Uint8Array(sig);
      bad[64] = v;
      const err = await rejection(recoverHashSigner(hash, bad));
      expect(err.code).toBe("SIGNATURE_V");
      expect(err.message).toBe("signature v value must be 27 or 28");
    }
  });

  it("refuses any length but 65", async () => {
    const sig = await signer.signHash(hash);
    for (const bad of [sig.subarray(0, 64), new Uint8Array([...sig, 0]), new Uint8Array(0)]) {
      const err = await rejection(recoverHashSigner(hash, bad));
      expect(err.code).toBe("SIGNATURE_LENGTH");
      expect(err.message).toBe("invalid signature length");
    }
  });

  it("refuses r or s of zero and r beyond the curve order", () => {
    const zero = new Uint8Array(65);
    zero[64] = 27;
    expect(signatureError(() => checkSignature(zero)).code).toBe("SIGNATURE_INVALID");
    const bigR = new Uint8Array(65);
    bigR.set(to32(N), 0);
    bigR.set(to32(1n), 32);
    bigR[64] = 27;
    expect(signatureError(() => checkSignature(bigR)).code).toBe("SIGNATURE_INVALID");
  });

  it("turns an unrecoverable signature into a typed error", async () => {
    // The smallest r that is not the x coordinate of any curve point: nothing can be recovered from it.
    const onCurve = (x: bigint): boolean => {
      try {
        secp256k1.ProjectivePoint.fromHex(`02${x.toString(16).padStart(64, "0")}`);
        return true;
      } catch {
        return false;
      }
    };
    let r = 1n;
    while (onCurve(r)) r++;
    const sig = new Uint8Array(65);
    sig.set(to32(r), 0);
    sig.set(to32(1n), 32);
    sig[64] = 27;
    const err = await rejection(recoverHashSigner(hash, sig));
    expect(err.code).toBe("SIGNATURE_INVALID");
  });
});
