import {
  encryptKeystore,
  type KeystoreV3,
  keystoreFileName,
  type ScryptParams,
  writeKeystoreFile,
} from "../../src/eth/keystore.js";

/** A fixed private key the tests encrypt into key files, with its address and key-file timestamp. */
export interface TestKey {
  /** 32-byte private key, hex without 0x. */
  privateKey: string;
  /** EIP-55 checksummed address of the key, written out here rather than derived by the code under test. */
  address: `0x${string}`;
  /** Nanoseconds since the epoch that go-ethereum-style file names of this key carry. */
  epochNs: bigint;
}

const ns = (utcMs: number, nanos: bigint): bigint => BigInt(utcMs) * 1_000_000n + nanos;

/**
 * The key whose file sorts first by name. Its address sorts after {@link TEST_KEY_B}'s, so a test
 * that takes "the first key file" tells name order from address order.
 */
export const TEST_KEY_A: Readonly<TestKey> = Object.freeze({
  privateKey: "11".repeat(32),
  address: "0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A",
  epochNs: ns(Date.UTC(2026, 0, 1, 0, 0, 0), 1n),
});

/** The key whose file sorts second by name. */
export const TEST_KEY_B: Readonly<TestKey> = Object.freeze({
  privateKey: "22".repeat(32),
  address: "0x1563915e194D8CfBA1943570603F7606A3115508",
  epochNs: ns(Date.UTC(2026, 0, 2, 0, 0, 0), 2n),
});

/** A key encrypted under the empty password, as devnet tooling writes them. */
export const TEST_KEY_EMPTY_PASSWORD: Readonly<TestKey> = Object.freeze({
  privateKey: "33".repeat(32),
  address: "0x5CbDd86a2FA8Dc4bDdd8a8f69dBa48572EeC07FB",
  epochNs: ns(Date.UTC(2026, 0, 3, 0, 0, 0), 3n),
});

/** The password of {@link TEST_KEY_A} and {@link TEST_KEY_B} files. */
export const TEST_PASSWORD = "foobar";

/**
 * Scrypt parameters far below go-ethereum's light ones, so a test can make and open many key files
 * in milliseconds. Only for throw-away test keys.
 */
export const TEST_SCRYPT: Readonly<ScryptParams> = Object.freeze({ n: 16, r: 8, p: 1 });

/** The cheapest scrypt the keystore reader accepts (n must be a power of two of at least 2). */
export const MIN_SCRYPT: Readonly<ScryptParams> = Object.freeze({ n: 2, r: 8, p: 1 });

/** The raw private key bytes of a test key. */
export function testKeyBytes(key: TestKey): Uint8Array {
  return new Uint8Array(Buffer.from(key.privateKey, "hex"));
}

/** A fresh V3 key file (random salt, IV and id) for a test key, with {@link TEST_SCRYPT} by default. */
export async function makeTestKeystore(
  key: TestKey,
  password: string = TEST_PASSWORD,
  scrypt: ScryptParams = TEST_SCRYPT,
): Promise<KeystoreV3> {
  return encryptKeystore(testKeyBytes(key), password, { scrypt });
}

/** The go-ethereum-style name (`UTC--<time>--<address>`) of a test key's file at the key's timestamp. */
export function testKeyFileName(key: TestKey, epochNs: bigint = key.epochNs): string {
  return keystoreFileName(key.address, epochNs);
}

/**
 * Encrypt a test key and write it into `dir` under its go-ethereum-style name (0600, folder made
 * 0700 when missing). Returns the file's path.
 */
export async function writeTestKeyFile(
  dir: string,
  key: TestKey,
  options: { password?: string; scrypt?: ScryptParams; epochNs?: bigint } = {},
): Promise<string> {
  const keystore = await makeTestKeystore(key, options.password ?? TEST_PASSWORD, options.scrypt);
  return writeKeystoreFile(dir, keystore, options.epochNs ?? key.epochNs);
}

/** Paths of the two key files {@link writeTestKeystore} wrote. */
export interface TestKeystore {
  dir: string;
  fileA: string;
  fileB: string;
}

/**
 * Write {@link TEST_KEY_A} and {@link TEST_KEY_B} under password "foobar" into `dir`. B is written
 * first, so A's file sorts first by name but is not the first one created.
 */
export async function writeTestKeystore(dir: string): Promise<TestKeystore> {
  const fileB = await writeTestKeyFile(dir, TEST_KEY_B);
  const fileA = await writeTestKeyFile(dir, TEST_KEY_A);
  return { dir, fileA, fileB };
}
