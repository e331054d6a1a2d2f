import {
  createCipheriv,
  createDecipheriv,
  pbkdf2 as nodePbkdf2,
  scrypt as nodeScrypt,
  randomBytes,
  randomUUID,
  timingSafeEqual,
} from "node:crypto";
import { mkdir, open, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { scryptAsync as nobleScrypt } from "@noble/hashes/scrypt.js";
import { keccak_256 } from "@noble/hashes/sha3.js";
import { privateKeyToAddress } from "viem/accounts";
import { LpError } from "../errors/LpError.js";

/** Stable codes of keystore and account errors; the node exits 2 with the message on any of them. */
export type KeystoreErrorCode =
  | "KEYSTORE_BAD_PASSWORD"
  | "KEYSTORE_INVALID"
  | "KEYSTORE_UNSUPPORTED"
  | "KEYSTORE_ADDRESS_MISMATCH"
  | "KEYSTORE_NOT_FOUND"
  | "KEYSTORE_UNREADABLE"
  | "KEYSTORE_WRITE_FAILED"
  | "ETH_ACCOUNT_NOT_FOUND"
  | "ETH_ACCOUNT_MISMATCH"
  | "ETH_ACCOUNT_AMBIGUOUS"
  | "ETH_ACCOUNT_INVALID"
  | "ETH_PASSWORD_REQUIRED"
  | "ETH_PASSPHRASE_MISMATCH";

/** A keystore or account problem. Messages never carry a password or key material. */
export class KeystoreError extends LpError {
  declare readonly code: KeystoreErrorCode;

  constructor(code: KeystoreErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
  }
}

/** Narrow an unknown thrown value to a KeystoreError, optionally with a given code. */
export function isKeystoreError(err: unknown, code?: KeystoreErrorCode): err is KeystoreError {
  return err instanceof KeystoreError && (code === undefined || err.code === code);
}

/** go-ethereum's error text for a MAC mismatch, which is what a wrong password produces. */
export const BAD_PASSWORD_MESSAGE = "could not decrypt key with given password";

/** Scrypt cost parameters of a keystore. */
export interface ScryptParams {
  n: number;
  r: number;
  p: number;
}

/** go-ethereum's StandardScryptN/P: about 256 MiB and a second of CPU per unlock. */
export const STANDARD_SCRYPT: Readonly<ScryptParams> = Object.freeze({ n: 1 << 18, r: 8, p: 1 });
/** go-ethereum's LightScryptN/P: for throw-away devnet and test accounts only. */
export const LIGHT_SCRYPT: Readonly<ScryptParams> = Object.freeze({ n: 1 << 12, r: 8, p: 6 });

/**
 * Upper bounds on the work a keystore file may ask for, so a corrupt or hostile file cannot pin the
 * CPU for hours or exhaust memory: 1 GiB of scrypt memory (N=2^20 at r=8), 2^26 scrypt block mixes
 * (32x the standard), and 2^24 PBKDF2 rounds (64x the Web3 test vector).
 */
export const KDF_LIMITS = Object.freeze({
  scryptMaxMemoryBytes: 1024 * 1024 * 1024,
  scryptMaxWork: 2 ** 26,
  pbkdf2MaxRounds: 2 ** 24,
});

interface ScryptKdf {
  kdf: "scrypt";
  kdfparams: { dklen: number; n: number; p: number; r: number; salt: string };
}
interface Pbkdf2Kdf {
  kdf: "pbkdf2";
  kdfparams: { c: number; dklen: number; prf: "hmac-sha256"; salt: string };
}

/** A Web3 Secret Storage (go-ethereum V3) key file, as written to disk. */
export interface KeystoreV3 {
  /** Lower-case hex without 0x; optional in the format, always written by go-ethereum and lp-node. */
  address?: string;
  crypto: {
    cipher: "aes-128-ctr";
    ciphertext: string;
    cipherparams: { iv: string };
    mac: string;
  } & (ScryptKdf | Pbkdf2Kdf);
  id: string;
  version: 3;
}

/** Options for {@link encryptKeystore}. salt, iv and id exist so tests can reproduce published vectors. */
export interface EncryptOptions {
  kdf?: "scrypt" | "pbkdf2";
  /** Scrypt parameters; defaults to {@link STANDARD_SCRYPT}. Pass {@link LIGHT_SCRYPT} for devnet accounts. */
  scrypt?: ScryptParams;
  /** PBKDF2 rounds; defaults to 262144 as the Web3 Secret Storage example. */
  pbkdf2Rounds?: number;
  salt?: Uint8Array;
  iv?: Uint8Array;
  id?: string;
}

const HEX_RE = /^[0-9a-fA-F]*$/;
const ADDRESS_RE = /^(0x)?[0-9a-fA-F]{40}$/;
// RFC 7914 says "N must be less than 2^(128*r/8)"; OpenSSL enforces it, go-ethereum and noble do not,
// and the Web3 Secret Storage scrypt vector itself (r=1, N=2^18) breaks it.
const NODE_SCRYPT_SLACK = 1024 * 1024;

function invalid(detail: string): KeystoreError {
  return new KeystoreError("KEYSTORE_INVALID", `invalid keystore file: ${detail}`);
}

function hexField(value: unknown, name: string, bytes?: number): Uint8Array {
  if (typeof value !== "string" || !HEX_RE.test(value) || value.length % 2 !== 0) {
    throw invalid(`${name} is not hex`);
  }
  const out = Buffer.from(value, "hex");
  if (bytes !== undefined && out.length !== bytes) throw invalid(`${name} must be ${bytes} bytes`);
  return new Uint8Array(out);
}

function positiveInt(value: unknown, name: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
    throw invalid(`${name} must be a positive integer`);
  }
  return value;
}

// go-ethereum decodes JSON field names case-insensitively, and some wallets write "Crypto".
function field(obj: Record<string, unknown>, name: string): unknown {
  if (name in obj) return obj[name];
  const lower = name.toLowerCase();
  for (const k of Object.keys(obj)) if (k.toLowerCase() === lower) return obj[k];
  return undefined;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Normalise an address to go-ethereum's key-file form: lower-case hex without 0x; null when malformed. */
export function normalizeAddress(address: string): string | null {
  const trimmed = address.trim();
  if (!ADDRESS_RE.test(trimmed)) return null;
  return trimmed.replace(/^0x/, "").toLowerCase();
}

/**
 * Parse and validate a V3 key file (text or parsed JSON) without decrypting it. Checks every field
 * decryption needs and the cost limits in {@link KDF_LIMITS}; throws KEYSTORE_INVALID or
 * KEYSTORE_UNSUPPORTED.
 */
export function parseKeystore(input: string | unknown): KeystoreV3 {
  let json: unknown = input;
  if (typeof input === "string") {
    try {
      json = JSON.parse(input);
    } catch {
      throw invalid("not JSON");
    }
  }
  if (!isRecord(json)) throw invalid("not a JSON object");
  const version = field(json, "version");
  if (version !== 3) {
    throw new KeystoreError("KEYSTORE_UNSUPPORTED", `keystore version not supported: ${String(version)}`);
  }
  const crypto = field(json, "crypto");
  if (!isRecord(crypto)) throw invalid("missing crypto section");
  const cipher = field(crypto, "cipher");
  if (cipher !== "aes-128-ctr") {
    throw new KeystoreError("KEYSTORE_UNSUPPORTED", `cipher not supported: ${String(cipher)}`);
  }
  const cipherparams = field(crypto, "cipherparams");
  if (!isRecord(cipherparams)) throw invalid("missing cipherparams");
  const iv = field(cipherparams, "iv");
  hexField(iv, "iv", 16);
  const ciphertext = field(crypto, "ciphertext");
  hexField(ciphertext, "ciphertext", 32);
  const mac = field(crypto, "mac");
  hexField(mac, "mac", 32);
  const kdf = field(crypto, "kdf");
  const kp = field(crypto, "kdfparams");
  if (!isRecord(kp)) throw invalid("missing kdfparams");
  const salt = field(kp, "salt");
  if (hexField(salt, "salt").length === 0) throw invalid("salt is empty");
  const dklen = positiveInt(field(kp, "dklen"), "dklen");
  // The AES key is the first 16 bytes and the MAC key the next 16, so anything shorter cannot work.
  if (dklen < 32 || dklen > 1024) throw invalid("dklen must be between 32 and 1024");
  let kdfPart: ScryptKdf | Pbkdf2Kdf;
  if (kdf === "scrypt") {
    const n = positiveInt(field(kp, "n"), "n");
    const r = positiveInt(field(kp, "r"), "r");
    const p = positiveInt(field(kp, "p"), "p");
    if (n < 2 || (n & (n - 1)) !== 0) throw invalid("scrypt n must be a power of two");
    if (128 * r * n > KDF_LIMITS.scryptMaxMemoryBytes || n * r * p > KDF_LIMITS.scryptMaxWork) {
      throw new KeystoreError(
        "KEYSTORE_UNSUPPORTED",
        `scrypt parameters too expensive (n=${n}, r=${r}, p=${p}); at most 1 GiB of memory and 2^26 n*r*p`,
      );
    }
    kdfPart = { kdf: "scrypt", kdfparams: { dklen, n, p, r, salt: String(salt) } };
  } else if (kdf === "pbkdf2") {
    const prf = field(kp, "prf");
    if (prf !== "hmac-sha256") {
      throw new KeystoreError("KEYSTORE_UNSUPPORTED", `unsupported PBKDF2 PRF: ${String(prf)}`);
    }
    const c = positiveInt(field(kp, "c"), "c");
    if (c > KDF_LIMITS.pbkdf2MaxRounds) {
      throw new KeystoreError("KEYSTORE_UNSUPPORTED", `pbkdf2 round count too high (c=${c}); at most 2^24`);
    }
    kdfPart = { kdf: "pbkdf2", kdfparams: { c, dklen, prf, salt: String(salt) } };
  } else {
    throw new KeystoreError("KEYSTORE_UNSUPPORTED", `unsupported KDF: ${String(kdf)}`);
  }
  const rawAddress = field(json, "address");
  let address: string | undefined;
  if (rawAddress !== undefined && rawAddress !== "") {
    const norm = typeof rawAddress === "string" ? normalizeAddress(rawAddress) : null;
    if (norm === null) throw invalid("address is not a 20-byte hex address");
    address = norm;
  }
  const id = field(json, "id");
  return {
    ...(address === undefined ? {} : { address }),
    crypto: {
      cipher,
      ciphertext: String(ciphertext).toLowerCase(),
      cipherparams: { iv: String(iv).toLowerCase() },
      ...kdfPart,
      mac: String(mac).toLowerCase(),
    },
    id: typeof id === "string" ? id : "",
    version: 3,
  };
}

/** Derive the key-encryption key; scrypt through node:crypto (off the event loop) when it accepts the parameters. */
async function deriveKey(password: Uint8Array, c: KeystoreV3["crypto"]): Promise<Uint8Array> {
  const salt = Buffer.from(c.kdfparams.salt, "hex");
  const dklen = c.kdfparams.dklen;
  if (c.kdf === "pbkdf2") {
    return new Promise((resolve, reject) => {
      nodePbkdf2(password, salt, c.kdfparams.c, dklen, "sha256", (err, key) =>
        err ? reject(err) : resolve(new Uint8Array(key)),
      );
    });
  }
  const { n, r, p } = c.kdfparams;
  try {
    return await new Promise<Uint8Array>((resolve, reject) => {
      nodeScrypt(
        password,
        salt,
        dklen,
        { N: n, r, p, maxmem: 128 * r * (n + p + 2) + NODE_SCRYPT_SLACK },
        (err, key) => (err ? reject(err) : resolve(new Uint8Array(key))),
      );
    });
  } catch (err) {
    if ((err as { code?: string }).code !== "ERR_CRYPTO_INVALID_SCRYPT_PARAMS") throw err;
    // OpenSSL refuses N >= 2^(16r) (r=1 files); go-ethereum accepts them, so fall back to pure JS,
    // which yields to the event loop between chunks.
    return nobleScrypt(password, salt, { N: n, r, p, dkLen: dklen, maxmem: 128 * r * (n + p + 2) });
  }
}

function macOf(derivedKey: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  const body = new Uint8Array(16 + ciphertext.length);
  body.set(derivedKey.subarray(16, 32), 0);
  body.set(ciphertext, 16);
  return keccak_256(body);
}

function aes128ctr(key: Uint8Array, iv: Uint8Array, data: Uint8Array, encrypt: boolean): Uint8Array {
  const c = encrypt ? createCipheriv("aes-128-ctr", key, iv) : createDecipheriv("aes-128-ctr", key, iv);
  return new Uint8Array(Buffer.concat([c.update(data), c.final()]));
}

function toHexNoPrefix(b: Uint8Array): string {
  return Buffer.from(b).toString("hex");
}

/** The lower-case address (no 0x) of a raw 32-byte private key. Throws KEYSTORE_INVALID for an invalid key. */
export function addressOfPrivateKey(privateKey: Uint8Array): string {
  if (privateKey.length !== 32) throw invalid("private key must be 32 bytes");
  try {
    return privateKeyToAddress(`0x${toHexNoPrefix(privateKey)}`)
      .slice(2)
      .toLowerCase();
  } catch {
    throw invalid("private key is not a valid secp256k1 key");
  }
}

/**
 * Decrypt a V3 key file with `password` (UTF-8, not normalised, as go-ethereum) and return the
 * 32-byte private key. The caller owns the returned bytes and should zero them once a signer holds
 * the key. A wrong password throws KEYSTORE_BAD_PASSWORD; a key whose address differs from the
 * file's `address` throws KEYSTORE_ADDRESS_MISMATCH.
 */
export async function decryptKeystore(keystore: KeystoreV3 | string, password: string): Promise<Uint8Array> {
  const ks = parseKeystore(keystore);
  const c = ks.crypto;
  const derived = await deriveKey(new TextEncoder().encode(password), c);
  const ciphertext = Buffer.from(c.ciphertext, "hex");
  const expected = Buffer.from(c.mac, "hex");
  const actual = macOf(derived, ciphertext);
  if (!timingSafeEqual(actual, expected)) {
    derived.fill(0);
    throw new KeystoreError("KEYSTORE_BAD_PASSWORD", BAD_PASSWORD_MESSAGE);
  }
  const key = aes128ctr(derived.subarray(0, 16), Buffer.from(c.cipherparams.iv, "hex"), ciphertext, false);
  derived.fill(0);
  let address: string;
  try {
    address = addressOfPrivateKey(key);
  } catch (err) {
    key.fill(0);
    throw err;
  }
  if (ks.address !== undefined && ks.address !== address) {
    key.fill(0);
    throw new KeystoreError(
      "KEYSTORE_ADDRESS_MISMATCH",
      `key content mismatch: have account 0x${address}, want 0x${ks.address}`,
    );
  }
  return key;
}

/**
 * Encrypt a 32-byte private key into a V3 key file with fresh random salt, IV and uuid v4 id.
 * Defaults to go-ethereum's standard scrypt parameters; fields are in go-ethereum's order.
 */
export async function encryptKeystore(
  privateKey: Uint8Array,
  password: string,
  options: EncryptOptions = {},
): Promise<KeystoreV3> {
  const address = addressOfPrivateKey(privateKey);
  const salt = options.salt ?? randomBytes(32);
  const iv = options.iv ?? randomBytes(16);
  if (iv.length !== 16) throw invalid("iv must be 16 bytes");
  const saltHex = toHexNoPrefix(salt);
  const kdfPart: ScryptKdf | Pbkdf2Kdf =
    options.kdf === "pbkdf2"
      ? {
          kdf: "pbkdf2",
          kdfparams: { c: options.pbkdf2Rounds ?? 262144, dklen: 32, prf: "hmac-sha256", salt: saltHex },
        }
      : {
          kdf: "scrypt",
          kdfparams: {
            dklen: 32,
            n: (options.scrypt ?? STANDARD_SCRYPT).n,
            p: (options.scrypt ?? STANDARD_SCRYPT).p,
            r: (options.scrypt ?? STANDARD_SCRYPT).r,
            salt: saltHex,
          },
        };
  // Validate our own parameters through the same path a reader takes.
  const draft = parseKeystore({
    address,
    crypto: {
      cipher: "aes-128-ctr",
      ciphertext: "00".repeat(32),
      cipherparams: { iv: toHexNoPrefix(iv) },
      ...kdfPart,
      mac: "00".repeat(32),
    },
    id: "",
    version: 3,
  });
  const derived = await deriveKey(new TextEncoder().encode(password), draft.crypto);
  const ciphertext = aes128ctr(derived.subarray(0, 16), iv, privateKey, true);
  const mac = macOf(derived, ciphertext);
  derived.fill(0);
  return {
    address,
    crypto: {
      cipher: "aes-128-ctr",
      ciphertext: toHexNoPrefix(ciphertext),
      cipherparams: { iv: toHexNoPrefix(iv) },
      ...kdfPart,
      mac: toHexNoPrefix(mac),
    },
    id: options.id ?? randomUUID(),
    version: 3,
  };
}

/** Wall-clock time in nanoseconds since the epoch; sub-millisecond digits come from the monotonic clock. */
export function nowEpochNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n);
}

/**
 * go-ethereum's key file name: `UTC--2006-01-02T15-04-05.999999999Z--<address hex>`, the UTC time
 * with nine fraction digits and '-' in place of ':' so the name is valid on every file system.
 */
export function keystoreFileName(address: string, epochNs: bigint = nowEpochNs()): string {
  const norm = normalizeAddress(address);
  if (norm === null) throw invalid("address is not a 20-byte hex address");
  const d = new Date(Number(epochNs / 1_000_000n));
  const pad = (v: number, w = 2) => String(v).padStart(w, "0");
  const nanos = String(epochNs % 1_000_000_000n).padStart(9, "0");
  const stamp =
    `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}` +
    `T${pad(d.getUTCHours())}-${pad(d.getUTCMinutes())}-${pad(d.getUTCSeconds())}.${nanos}Z`;
  return `UTC--${stamp}--${norm}`;
}

/**
 * Write a key file into `dir` (created 0700 when missing) under its go-ethereum name, mode 0600,
 * through a temporary file and a rename so a crash never leaves a half-written key. Returns the path.
 */
export async function writeKeystoreFile(
  dir: string,
  keystore: KeystoreV3,
  epochNs: bigint = nowEpochNs(),
): Promise<string> {
  if (keystore.address === undefined) throw invalid("a key file to write needs its address");
  const path = join(dir, keystoreFileName(keystore.address, epochNs));
  // A leading dot keeps a partly written file out of every keystore scan (go-ethereum skips dotfiles).
  const tmp = join(dir, `.${keystoreFileName(keystore.address, epochNs)}.tmp`);
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const fh = await open(tmp, "wx", 0o600);
    try {
      await fh.writeFile(JSON.stringify(keystore));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => {});
    const code = (err as { code?: string }).code ?? "";
    throw new KeystoreError("KEYSTORE_WRITE_FAILED", `could not write key file in ${dir}: ${code}`.trim(), {
      cause: err,
    });
  }
  return path;
}
