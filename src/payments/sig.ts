/**
 * The hot-path signature verifier for tickets (go-livepeer's crypto/verify.go VerifySig): the
 * signature is checked by go-livepeer's rules first (65 bytes, low s, v 27/28), then the public key
 * is recovered from the EIP-191 digest of the 32-byte hash with the native libsecp256k1 addon when
 * it loads, @noble/curves otherwise, and its address compared with the expected one.
 */
import { createRequire } from "node:module";
import { secp256k1 } from "@noble/curves/secp256k1";
import { type Address, bytesToHex, getAddress, type Hex, hexToBytes } from "viem";
import { checkSignature, SignatureError } from "../eth/signer.js";
import { keccak256Bytes as keccak_256 } from "./keccak.js";

/** Which implementation recovers public keys. */
export type RecoveryBackend = "native" | "noble";

/** The part of the secp256k1 addon used here. */
interface NativeSecp256k1 {
  ecdsaRecover(sig: Uint8Array, recid: number, msg32: Uint8Array, compressed?: boolean): Uint8Array;
}

const PERSONAL_PREFIX = new TextEncoder().encode("\x19Ethereum Signed Message:\n32");

let nativeModule: NativeSecp256k1 | null | undefined;
let nativeLoadError: string | null = null;

/**
 * The native addon, loaded once. `secp256k1`'s own entry point silently falls back to the slow
 * `elliptic` package when the addon is missing, so the bindings file is required directly to know
 * which one we really have.
 */
export function loadNativeSecp256k1(): NativeSecp256k1 | null {
  if (nativeModule !== undefined) return nativeModule;
  try {
    const require = createRequire(import.meta.url);
    const mod = require("secp256k1/bindings") as NativeSecp256k1;
    if (typeof mod.ecdsaRecover !== "function") throw new Error("ecdsaRecover missing");
    nativeModule = mod;
  } catch (err) {
    nativeModule = null;
    nativeLoadError = err instanceof Error ? err.message : String(err);
  }
  return nativeModule;
}

/** Why the native addon did not load (null when it did or was not tried). */
export function nativeSecp256k1Error(): string | null {
  return nativeLoadError;
}

/** keccak256("\x19Ethereum Signed Message:\n32" ‖ hash): what a personal-signed 32-byte hash signs (accounts.TextHash). */
export function personalDigest(hash: Uint8Array): Uint8Array {
  const buf = new Uint8Array(PERSONAL_PREFIX.length + 32);
  buf.set(PERSONAL_PREFIX, 0);
  buf.set(hash, PERSONAL_PREFIX.length);
  return keccak_256(buf);
}

function toBytes(value: Uint8Array | Hex, field: string): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (typeof value !== "string" || !/^0x([0-9a-fA-F]{2})*$/.test(value)) {
    throw new SignatureError("SIGNATURE_INVALID", `${field} is not 0x-hex`);
  }
  return hexToBytes(value);
}

/** Recovers the signer of personal-signed 32-byte hashes and checks it against an address. */
export class SigVerifier {
  /** The implementation in use; logged at start. */
  readonly backend: RecoveryBackend;
  readonly #native: NativeSecp256k1 | null;

  /** `prefer: "noble"` forces the pure-JS path (tests, the benchmark); otherwise native when it loads. */
  constructor(options: { prefer?: RecoveryBackend } = {}) {
    this.#native = options.prefer === "noble" ? null : loadNativeSecp256k1();
    this.backend = this.#native ? "native" : "noble";
  }

  /**
   * The 20-byte address that personal-signed `hash`, after go-livepeer's checks. Throws
   * SignatureError (its texts: "invalid signature length", "signature s value too high", "signature
   * v value must be 27 or 28", "invalid signature") for anything refused or unrecoverable.
   */
  recoverAddressBytes(hash: Uint8Array, sig: Uint8Array): Uint8Array {
    if (!(hash instanceof Uint8Array) || hash.length !== 32) {
      throw new SignatureError("SIGNATURE_HASH_LENGTH", "hash to sign must be 32 bytes");
    }
    checkSignature(sig);
    const digest = personalDigest(hash);
    const recid = sig[64]! - 27;
    let pub: Uint8Array;
    try {
      if (this.#native) {
        pub = this.#native.ecdsaRecover(sig.subarray(0, 64), recid, digest, false);
      } else {
        pub = secp256k1.Signature.fromCompact(sig.subarray(0, 64))
          .addRecoveryBit(recid)
          .recoverPublicKey(digest)
          .toRawBytes(false);
      }
    } catch (err) {
      throw new SignatureError("SIGNATURE_INVALID", "invalid signature", { cause: err });
    }
    return keccak_256(pub.subarray(1)).subarray(12);
  }

  /** The checksummed address that personal-signed `hash` (throws as {@link recoverAddressBytes}). */
  recoverAddress(hash: Uint8Array | Hex, sig: Uint8Array | Hex): Address {
    return getAddress(bytesToHex(this.recoverAddressBytes(toBytes(hash, "hash"), toBytes(sig, "signature"))));
  }

  /**
   * Whether `addr` personal-signed `hash` (crypto.VerifySig): false for any refused, malformed or
   * foreign signature, never a throw.
   */
  verify(addr: Address, hash: Uint8Array | Hex, sig: Uint8Array | Hex): boolean {
    try {
      const expected = toBytes(addr, "address");
      if (expected.length !== 20) return false;
      const got = this.recoverAddressBytes(toBytes(hash, "hash"), toBytes(sig, "signature"));
      for (let i = 0; i < 20; i++) if (got[i] !== expected[i]) return false;
      return true;
    } catch {
      return false;
    }
  }
}
