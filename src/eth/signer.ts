import { inspect } from "node:util";
import { type Address, bytesToHex, type Hex, hashMessage, type LocalAccount, recoverAddress } from "viem";
import { privateKeyToAccount, sign } from "viem/accounts";
import { LpError } from "../errors/LpError.js";

/** secp256k1 group order; a valid signature has 0 < r, s < N, and go-ethereum also wants s <= N/2. */
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const HALF_N = SECP256K1_N >> 1n;

/** Stable codes of signature errors, with go-livepeer's texts (crypto/verify.go) as messages. */
export type SignatureErrorCode =
  | "SIGNATURE_LENGTH"
  | "SIGNATURE_HIGH_S"
  | "SIGNATURE_V"
  | "SIGNATURE_INVALID"
  | "SIGNATURE_HASH_LENGTH";

/** A signature that go-livepeer and the TicketBroker would refuse. */
export class SignatureError extends LpError {
  declare readonly code: SignatureErrorCode;

  constructor(code: SignatureErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
  }
}

function bigFrom(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt(bytesToHex(bytes));
}

function checkHash(hash: Uint8Array): void {
  if (!(hash instanceof Uint8Array) || hash.length !== 32) {
    throw new SignatureError("SIGNATURE_HASH_LENGTH", "hash to sign must be 32 bytes");
  }
}

/**
 * The node's one Ethereum key (go-livepeer's eth/accountmanager.go). The private key lives in a
 * private field only: JSON, util.inspect and enumeration show the address and nothing else.
 */
export class Signer {
  /** Checksummed (EIP-55) address of the key. */
  readonly address: Address;
  readonly #account: LocalAccount;
  readonly #privateKey: Hex;

  private constructor(privateKey: Hex) {
    this.#privateKey = privateKey;
    this.#account = privateKeyToAccount(privateKey);
    this.address = this.#account.address;
  }

  /** Build a signer from a raw 32-byte key or 0x-hex. The caller may zero its own copy afterwards. */
  static fromPrivateKey(privateKey: Uint8Array | Hex): Signer {
    const hex = typeof privateKey === "string" ? privateKey : bytesToHex(privateKey);
    if (!/^0x[0-9a-fA-F]{64}$/.test(hex))
      throw new LpError("INVALID_PRIVATE_KEY", "private key must be 32 bytes");
    try {
      return new Signer(hex.toLowerCase() as Hex);
    } catch (err) {
      throw new LpError("INVALID_PRIVATE_KEY", "private key is not a valid secp256k1 key", { cause: err });
    }
  }

  /**
   * EIP-191 personal-sign over a 32-byte hash: signs keccak256("\x19Ethereum Signed Message:\n32" ‖ hash)
   * and returns 65 bytes r ‖ s ‖ v with v in {27, 28} and low s (RFC 6979, deterministic), as
   * go-livepeer's accountManager.Sign. Used for tickets, InfoSig and segment signatures.
   */
  async signHash(hash: Uint8Array): Promise<Uint8Array> {
    checkHash(hash);
    return this.#signDigest(hashMessage({ raw: hash }));
  }

  /** EIP-191 personal-sign over arbitrary bytes (the length prefix is their length), as accounts.TextHash. */
  async signMessage(message: Uint8Array): Promise<Uint8Array> {
    return this.#signDigest(hashMessage({ raw: message }));
  }

  async #signDigest(digest: Hex): Promise<Uint8Array> {
    const sig = await sign({ hash: digest, privateKey: this.#privateKey, to: "bytes" });
    // viem serialises yParity 0/1 as v 27/28 and noble signs low-s; check anyway, a peer would refuse otherwise.
    if (sig.length !== 65 || (sig[64] !== 27 && sig[64] !== 28)) {
      throw new SignatureError("SIGNATURE_INVALID", "signer produced a malformed signature");
    }
    return sig;
  }

  /** A viem LocalAccount over the same key, for wallet clients and transactions. */
  account(): LocalAccount {
    return this.#account;
  }

  /** Only the address goes into JSON. */
  toJSON(): { address: Address } {
    return { address: this.address };
  }

  /** Only the address is shown by console.log and util.inspect. */
  [inspect.custom](): string {
    return `Signer { address: '${this.address}' }`;
  }

  /** Only the address is shown when the signer ends up in a string. */
  toString(): string {
    return `Signer(${this.address})`;
  }
}

/**
 * Check a 65-byte r ‖ s ‖ v signature by go-livepeer's rules (crypto/verify.go, and the TicketBroker's
 * OpenZeppelin ECDSA): length 65, v 27 or 28, low s. Throws SignatureError otherwise.
 */
export function checkSignature(sig: Uint8Array): void {
  if (!(sig instanceof Uint8Array) || sig.length !== 65) {
    throw new SignatureError("SIGNATURE_LENGTH", "invalid signature length");
  }
  const r = bigFrom(sig.subarray(0, 32));
  const s = bigFrom(sig.subarray(32, 64));
  if (s > HALF_N) throw new SignatureError("SIGNATURE_HIGH_S", "signature s value too high");
  const v = sig[64];
  if (v !== 27 && v !== 28) throw new SignatureError("SIGNATURE_V", "signature v value must be 27 or 28");
  if (r === 0n || r >= SECP256K1_N || s === 0n)
    throw new SignatureError("SIGNATURE_INVALID", "invalid signature");
}

/**
 * Recover the checksummed address that personal-signed a 32-byte hash (the inverse of
 * {@link Signer.signHash}), after {@link checkSignature}. Throws SignatureError for any refused or
 * unrecoverable signature.
 */
export async function recoverHashSigner(hash: Uint8Array, sig: Uint8Array): Promise<Address> {
  checkHash(hash);
  checkSignature(sig);
  try {
    return await recoverAddress({ hash: hashMessage({ raw: hash }), signature: sig });
  } catch (err) {
    throw new SignatureError("SIGNATURE_INVALID", "invalid signature", { cause: err });
  }
}
