import { readFileSync, statSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  BAD_PASSWORD_MESSAGE,
  decryptKeystore,
  encryptKeystore,
  KeystoreError,
  keystoreFileName,
  LIGHT_SCRYPT,
  parseKeystore,
  STANDARD_SCRYPT,
  writeKeystoreFile,
} from "../../../src/eth/keystore.js";
import {
  MIN_SCRYPT,
  makeTestKeystore,
  TEST_KEY_A,
  TEST_KEY_B,
  TEST_KEY_EMPTY_PASSWORD,
  TEST_PASSWORD,
  testKeyBytes,
} from "../../helpers/keystore.js";
import { tempDir } from "../../helpers/tmp.js";

const FIXTURES = "test/fixtures/keystore";
const fixture = (name: string): string => readFileSync(join(FIXTURES, name), "utf8");

// The published Web3 Secret Storage test vectors: the proof that our format is go-ethereum's.
const VECTOR_PASSWORD = "testpassword";
const VECTOR_KEY = "7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d";
const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const bytes = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, "hex"));
const bare = (address: string): string => address.slice(2).toLowerCase();

// Our own key files, made at test time from fixed keys (password "foobar", cheap scrypt).
const KEY_A_TEXT = JSON.stringify(await makeTestKeystore(TEST_KEY_A));
const KEY_B_TEXT = JSON.stringify(await makeTestKeystore(TEST_KEY_B));

async function rejection(p: Promise<unknown>): Promise<KeystoreError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(KeystoreError);
  return err as KeystoreError;
}

/** A key file's text with the field at a dotted path replaced. */
function withField(text: string, path: string, value: unknown): string {
  const json = JSON.parse(text) as Record<string, unknown>;
  const keys = path.split(".");
  let obj = json;
  for (const k of keys.slice(0, -1)) obj = obj[k] as Record<string, unknown>;
  obj[keys[keys.length - 1]!] = value;
  return JSON.stringify(json);
}

describe("decryptKeystore: published Web3 Secret Storage test vectors and our own key files", () => {
  it("opens the published Web3 Secret Storage PBKDF2 test vector", async () => {
    expect(hex(await decryptKeystore(fixture("web3-pbkdf2.json"), VECTOR_PASSWORD))).toBe(VECTOR_KEY);
  });

  it("opens the published Web3 Secret Storage scrypt test vector, whose r=1 node:crypto refuses (pure-JS fallback)", async () => {
    expect(hex(await decryptKeystore(fixture("web3-scrypt.json"), VECTOR_PASSWORD))).toBe(VECTOR_KEY);
  });

  it("opens key files made from fixed keys and checks them against their address", async () => {
    const a = await decryptKeystore(KEY_A_TEXT, TEST_PASSWORD);
    expect(hex(a)).toBe(TEST_KEY_A.privateKey);
    expect(JSON.parse(KEY_A_TEXT).address).toBe(bare(TEST_KEY_A.address));
    // The cheapest scrypt the reader takes, under the empty password.
    const light = await makeTestKeystore(TEST_KEY_EMPTY_PASSWORD, "", MIN_SCRYPT);
    expect(light.crypto.kdfparams).toMatchObject({ n: 2, r: 8, p: 1 });
    expect(hex(await decryptKeystore(JSON.stringify(light), ""))).toBe(TEST_KEY_EMPTY_PASSWORD.privateKey);
  });

  it("says go-ethereum's words for a wrong password, and nothing about the password", async () => {
    const err = await rejection(decryptKeystore(KEY_A_TEXT, "not-the-password"));
    expect(err.code).toBe("KEYSTORE_BAD_PASSWORD");
    expect(err.message).toBe(BAD_PASSWORD_MESSAGE);
    expect(err.message).toBe("could not decrypt key with given password");
    expect(err.message).not.toContain("not-the-password");
  });

  it("refuses a tampered ciphertext (the MAC covers it)", async () => {
    const ciphertext: string = JSON.parse(KEY_A_TEXT).crypto.ciphertext;
    // Flip the lowest bit of the last byte.
    const last = (Number.parseInt(ciphertext.slice(-2), 16) ^ 1).toString(16).padStart(2, "0");
    const text = withField(KEY_A_TEXT, "crypto.ciphertext", ciphertext.slice(0, -2) + last);
    expect((await rejection(decryptKeystore(text, TEST_PASSWORD))).code).toBe("KEYSTORE_BAD_PASSWORD");
  });

  it("refuses a file whose key is not the account its address field names", async () => {
    const text = withField(KEY_A_TEXT, "address", bare(TEST_KEY_B.address));
    const err = await rejection(decryptKeystore(text, TEST_PASSWORD));
    expect(err.code).toBe("KEYSTORE_ADDRESS_MISMATCH");
    expect(err.message).toContain(`0x${bare(TEST_KEY_B.address)}`);
  });

  it("reads field names case-insensitively, as go-ethereum's JSON decoder", async () => {
    const text = KEY_B_TEXT.replace('"crypto"', '"Crypto"');
    expect(text).toContain('"Crypto"');
    expect(hex(await decryptKeystore(text, TEST_PASSWORD))).toBe(TEST_KEY_B.privateKey);
  });
});

describe("parseKeystore: bad files get a clear error before any key derivation", () => {
  const cases: Array<[string, string, string]> = [
    ["not JSON", "{{", "KEYSTORE_INVALID"],
    ["version 1", withField(KEY_A_TEXT, "version", 1), "KEYSTORE_UNSUPPORTED"],
    ["aes-128-cbc", withField(KEY_A_TEXT, "crypto.cipher", "aes-128-cbc"), "KEYSTORE_UNSUPPORTED"],
    ["unknown kdf", withField(KEY_A_TEXT, "crypto.kdf", "argon2"), "KEYSTORE_UNSUPPORTED"],
    [
      "pbkdf2 with sha512",
      withField(fixture("web3-pbkdf2.json"), "crypto.kdfparams.prf", "hmac-sha512"),
      "KEYSTORE_UNSUPPORTED",
    ],
    ["n not a power of two", withField(KEY_A_TEXT, "crypto.kdfparams.n", 1000), "KEYSTORE_INVALID"],
    ["short iv", withField(KEY_A_TEXT, "crypto.cipherparams.iv", "00"), "KEYSTORE_INVALID"],
    ["non-hex mac", withField(KEY_A_TEXT, "crypto.mac", "zz".repeat(32)), "KEYSTORE_INVALID"],
    ["dklen 16", withField(KEY_A_TEXT, "crypto.kdfparams.dklen", 16), "KEYSTORE_INVALID"],
    ["bad address", withField(KEY_A_TEXT, "address", "0x1234"), "KEYSTORE_INVALID"],
    // 4 GiB of scrypt memory at r=8: refused outright instead of attempted.
    ["scrypt too expensive", withField(KEY_A_TEXT, "crypto.kdfparams.n", 2 ** 22), "KEYSTORE_UNSUPPORTED"],
    [
      "pbkdf2 too many rounds",
      withField(fixture("web3-pbkdf2.json"), "crypto.kdfparams.c", 2 ** 30),
      "KEYSTORE_UNSUPPORTED",
    ],
  ];
  it.each(cases)("%s", async (_name, text, code) => {
    expect(() => parseKeystore(text)).toThrow(KeystoreError);
    expect((await rejection(decryptKeystore(text, TEST_PASSWORD))).code).toBe(code);
  });
});

describe("encryptKeystore: go-ethereum's format", () => {
  it("reproduces the published Web3 Secret Storage PBKDF2 test vector byte for byte from its salt and IV", async () => {
    const vector = JSON.parse(fixture("web3-pbkdf2.json"));
    const made = await encryptKeystore(bytes(VECTOR_KEY), VECTOR_PASSWORD, {
      kdf: "pbkdf2",
      pbkdf2Rounds: 262144,
      salt: bytes(vector.crypto.kdfparams.salt),
      iv: bytes(vector.crypto.cipherparams.iv),
      id: vector.id,
    });
    expect(made.crypto).toEqual(vector.crypto);
    expect(made.address).toBe("008aeeda4d805471df9b2a5b0f38a0c3bcba786b");
  });

  it("reproduces the published Web3 Secret Storage scrypt test vector byte for byte from its salt, IV and parameters", async () => {
    const vector = JSON.parse(fixture("web3-scrypt.json"));
    const made = await encryptKeystore(bytes(VECTOR_KEY), VECTOR_PASSWORD, {
      scrypt: { n: 262144, r: 1, p: 8 },
      salt: bytes(vector.crypto.kdfparams.salt),
      iv: bytes(vector.crypto.cipherparams.iv),
    });
    expect(made.crypto).toEqual(vector.crypto);
  });

  it("writes new keys with the standard parameters, fresh salt, IV and uuid v4, and they open again", async () => {
    const key = testKeyBytes(TEST_KEY_A);
    const made = await encryptKeystore(key, "s3cret");
    expect(made.crypto.kdf).toBe("scrypt");
    expect(made.crypto.kdfparams).toMatchObject({ dklen: 32, n: 262144, r: 8, p: 1 });
    expect({ n: 262144, r: 8, p: 1 }).toEqual({ ...STANDARD_SCRYPT });
    expect(made.address).toBe(bare(TEST_KEY_A.address));
    expect(made.version).toBe(3);
    expect(made.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    // Same field order as go-ethereum's encryptedKeyJSONV3, so files diff cleanly against geth's.
    expect(JSON.stringify(made)).toMatch(
      /^\{"address":"[0-9a-f]{40}","crypto":\{"cipher":"aes-128-ctr","ciphertext":"[0-9a-f]{64}","cipherparams":\{"iv":"[0-9a-f]{32}"\},"kdf":"scrypt","kdfparams":\{"dklen":32,"n":262144,"p":1,"r":8,"salt":"[0-9a-f]{64}"\},"mac":"[0-9a-f]{64}"\},"id":"[^"]+","version":3\}$/,
    );
    expect(hex(await decryptKeystore(made, "s3cret"))).toBe(hex(key));
  });

  it("light parameters are go-ethereum's LightScryptN/P, and salt and IV differ every time", async () => {
    expect({ ...LIGHT_SCRYPT }).toEqual({ n: 4096, r: 8, p: 6 });
    const key = bytes(VECTOR_KEY);
    const a = await encryptKeystore(key, "pw", { scrypt: LIGHT_SCRYPT });
    const b = await encryptKeystore(key, "pw", { scrypt: LIGHT_SCRYPT });
    expect(a.crypto.kdfparams).toMatchObject({ n: 4096, r: 8, p: 6 });
    expect(a.crypto.kdfparams.salt).not.toBe(b.crypto.kdfparams.salt);
    expect(a.crypto.cipherparams.iv).not.toBe(b.crypto.cipherparams.iv);
    expect(a.id).not.toBe(b.id);
    expect(hex(await decryptKeystore(JSON.stringify(b), "pw"))).toBe(VECTOR_KEY);
    expect((await rejection(decryptKeystore(a, "PW"))).code).toBe("KEYSTORE_BAD_PASSWORD");
  });

  it("encodes the password as UTF-8 bytes, unnormalised, as go-ethereum", async () => {
    const made = await encryptKeystore(bytes(VECTOR_KEY), "p\u00e4ss", { scrypt: LIGHT_SCRYPT });
    expect(hex(await decryptKeystore(made, "p\u00e4ss"))).toBe(VECTOR_KEY);
    // The same text in decomposed form is a different byte string, hence a different password.
    expect((await rejection(decryptKeystore(made, "pa\u0308ss"))).code).toBe("KEYSTORE_BAD_PASSWORD");
  });

  it("refuses an invalid private key", async () => {
    expect((await rejection(encryptKeystore(new Uint8Array(32), "pw"))).code).toBe("KEYSTORE_INVALID");
    expect((await rejection(encryptKeystore(new Uint8Array(31).fill(1), "pw"))).code).toBe(
      "KEYSTORE_INVALID",
    );
  });
});

describe("key files on disk", () => {
  it("names files as go-ethereum: UTC--<time with nanoseconds, '-' for ':'>--<address>", () => {
    // Upper-case input with 0x comes out lower-case without it, as go-ethereum's names.
    const ns = BigInt(Date.UTC(2026, 2, 22, 12, 57, 55)) * 1_000_000n + 920_751_759n;
    expect(keystoreFileName("0x19E7E376E7C213B7E7E7E46CC70A5DD086DAFF2A", ns)).toBe(
      "UTC--2026-03-22T12-57-55.920751759Z--19e7e376e7c213b7e7e7e46cc70a5dd086daff2a",
    );
    const early = BigInt(Date.UTC(2026, 0, 2, 3, 4, 5)) * 1_000_000n + 7n;
    expect(keystoreFileName("19e7e376e7c213b7e7e7e46cc70a5dd086daff2a", early)).toBe(
      "UTC--2026-01-02T03-04-05.000000007Z--19e7e376e7c213b7e7e7e46cc70a5dd086daff2a",
    );
  });

  it("writes 0600 files in a 0700 folder it creates, with nothing else left behind", async () => {
    const dir = join(tempDir(), "keystore");
    const made = await encryptKeystore(bytes(VECTOR_KEY), "pw", { scrypt: LIGHT_SCRYPT });
    const ns = BigInt(Date.UTC(2026, 10, 30, 23, 0, 0)) * 1_000_000n + 123_456_789n;
    const path = await writeKeystoreFile(dir, made, ns);
    expect(path).toBe(
      join(dir, "UTC--2026-11-30T23-00-00.123456789Z--008aeeda4d805471df9b2a5b0f38a0c3bcba786b"),
    );
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(await readdir(dir)).toEqual([path.slice(dir.length + 1)]);
    expect(hex(await decryptKeystore(await readFile(path, "utf8"), "pw"))).toBe(VECTOR_KEY);
  });

  it("reports a folder it cannot write as a typed error", async () => {
    const made = await encryptKeystore(bytes(VECTOR_KEY), "pw", { scrypt: LIGHT_SCRYPT });
    // A regular file where the folder should be.
    const err = await rejection(writeKeystoreFile(join(FIXTURES, "web3-scrypt.json", "sub"), made));
    expect(err.code).toBe("KEYSTORE_WRITE_FAILED");
  });
});
