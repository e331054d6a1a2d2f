import { copyFileSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import {
  type AccountCollaborators,
  type AccountLog,
  type AccountOptions,
  listKeystore,
  loadAccount,
  type PasswordPrompt,
  terminalPrompt,
} from "../../../src/eth/account.js";
import { decryptKeystore, KeystoreError } from "../../../src/eth/keystore.js";
import {
  MIN_SCRYPT,
  TEST_KEY_A,
  TEST_KEY_B,
  TEST_KEY_EMPTY_PASSWORD,
  TEST_PASSWORD,
  testKeyFileName,
  writeTestKeyFile,
  writeTestKeystore,
} from "../../helpers/keystore.js";
import { tempDir } from "../../helpers/tmp.js";

const FIXTURES = "test/fixtures/keystore";
// Key files made at test time from fixed keys, password "foobar". A's file sorts first by name,
// though A's address sorts after B's.
const ADDR_A = TEST_KEY_A.address;
const ADDR_B = TEST_KEY_B.address;
const NAME_A = testKeyFileName(TEST_KEY_A);
const NAME_B = testKeyFileName(TEST_KEY_B);

/** A data dir whose keystore holds A's and B's key files among files go-ethereum's scan skips. */
async function datadirWithTestKeys(): Promise<string> {
  const dataDir = tempDir();
  const ks = join(dataDir, "keystore");
  const { fileA } = await writeTestKeystore(ks);
  // What go-ethereum's scan skips: dotfiles, editor backups, READMEs, folders, files without an address.
  writeFileSync(join(ks, ".hiddenfile"), "{}");
  writeFileSync(join(ks, `${NAME_A}~`), readFileSync(fileA));
  writeFileSync(join(ks, "README"), "not a key");
  writeFileSync(join(ks, "garbage"), "\u0000\u0001 not json");
  mkdirSync(join(ks, "subfolder"));
  return dataDir;
}

/** A prompt that answers from a script and records the questions. */
function scriptedPrompt(answers: string[]): PasswordPrompt & { questions: string[] } {
  const questions: string[] = [];
  return {
    questions,
    async askHidden(q: string) {
      questions.push(q);
      const a = answers.shift();
      if (a === undefined) throw new Error(`unexpected question ${q}`);
      return a;
    },
  };
}

function captureLog(): AccountLog & { lines: Array<{ obj: object; msg: string }> } {
  const lines: Array<{ obj: object; msg: string }> = [];
  return {
    lines,
    info: (obj, msg) => lines.push({ obj, msg }),
    warn: (obj, msg) => lines.push({ obj, msg }),
  };
}

async function failure(
  options: AccountOptions,
  collab: AccountCollaborators = { prompt: null },
): Promise<KeystoreError> {
  const err = await loadAccount(options, collab).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(KeystoreError);
  const e = err as KeystoreError;
  // One line, never the password.
  expect(e.message).not.toContain("\n");
  if (options.ethPassword) expect(e.message).not.toContain(options.ethPassword);
  return e;
}

describe("loadAccount: an existing keystore", () => {
  it("lists accounts as go-ethereum does, skipping what is not a key file", async () => {
    const dataDir = await datadirWithTestKeys();
    const log = captureLog();
    const entries = await listKeystore(join(dataDir, "keystore"), log);
    expect(entries.map((e) => e.address)).toEqual([
      ADDR_A.slice(2).toLowerCase(),
      ADDR_B.slice(2).toLowerCase(),
    ]);
    expect(log.lines.map((l) => l.msg)).toEqual(["Skipping keystore file without a valid address"]);
    expect(await listKeystore(join(dataDir, "missing"))).toEqual([]);
  });

  it("without -ethAcctAddr takes the first key file, as go-livepeer, and names the others", async () => {
    const dataDir = await datadirWithTestKeys();
    const log = captureLog();
    const acct = await loadAccount({ dataDir, ethPassword: TEST_PASSWORD }, { prompt: null, log });
    expect(acct.signer.address).toBe(ADDR_A);
    expect(acct.keyFile).toBe(join(dataDir, "keystore", NAME_A));
    expect(acct.created).toBe(false);
    const note = log.lines.find((l) => l.msg.startsWith("Defaulting to first ETH account"));
    expect(note?.obj).toEqual({ ethaddress: ADDR_A.toLowerCase(), others: [ADDR_B.toLowerCase()] });
  });

  it.each([
    ADDR_B,
    ADDR_B.toLowerCase(),
    ADDR_B.toUpperCase().replace("0X", "0x"),
    ADDR_B.slice(2),
    ` ${ADDR_B.slice(2).toUpperCase()} `,
  ])("-ethAcctAddr %s picks that account", async (ethAcctAddr) => {
    const dataDir = await datadirWithTestKeys();
    const acct = await loadAccount({ dataDir, ethAcctAddr, ethPassword: TEST_PASSWORD }, { prompt: null });
    expect(acct.signer.address).toBe(ADDR_B);
    expect(acct.keyFile).toBe(join(dataDir, "keystore", NAME_B));
  });

  it("an -ethAcctAddr that is not there is an error listing what is, and creates nothing", async () => {
    const dataDir = await datadirWithTestKeys();
    const before = readdirSync(join(dataDir, "keystore"));
    const err = await failure({
      dataDir,
      ethAcctAddr: "0x0000000000000000000000000000000000000001",
      ethPassword: TEST_PASSWORD,
    });
    expect(err.code).toBe("ETH_ACCOUNT_NOT_FOUND");
    expect(err.message).toMatch(/^ETH account not found: 0x0+1 is not in keystore /);
    expect(err.message).toContain(ADDR_A.toLowerCase());
    expect(err.message).toContain(ADDR_B.toLowerCase());
    expect(readdirSync(join(dataDir, "keystore"))).toEqual(before);
  });

  it("a malformed -ethAcctAddr is refused", async () => {
    const err = await failure({ dataDir: tempDir(), ethAcctAddr: "0x1234", ethPassword: "pw" });
    expect(err.code).toBe("ETH_ACCOUNT_INVALID");
  });

  it("a wrong password is go-ethereum's error naming the account, never the password", async () => {
    const dataDir = await datadirWithTestKeys();
    const err = await failure({ dataDir, ethPassword: "hunter2-wrong" });
    expect(err.code).toBe("KEYSTORE_BAD_PASSWORD");
    expect(err.message).toMatch(
      /^could not decrypt key with given password \(ETH account 0x19e7e376e7c213b7e7e7e46cc70a5dd086daff2a, /,
    );
  });

  it("with an empty -ethPassword asks once on the terminal, as go-livepeer", async () => {
    const dataDir = await datadirWithTestKeys();
    const prompt = scriptedPrompt([TEST_PASSWORD]);
    const acct = await loadAccount({ dataDir, ethPassword: "" }, { prompt });
    expect(acct.signer.address).toBe(ADDR_A);
    expect(prompt.questions).toEqual(["Passphrase: "]);

    const wrong = scriptedPrompt(["nope"]);
    const err = await failure({ dataDir }, { prompt: wrong });
    expect(err.code).toBe("KEYSTORE_BAD_PASSWORD");
    expect(wrong.questions).toEqual(["Passphrase: "]);
  });

  it("with an empty -ethPassword and no terminal says to pass -ethPassword", async () => {
    const err = await failure({ dataDir: await datadirWithTestKeys() });
    expect(err.code).toBe("ETH_PASSWORD_REQUIRED");
    expect(err.message).toContain("-ethPassword");
  });

  it("opens a key whose password is empty without asking (go-livepeer's devtool keys)", async () => {
    const dataDir = tempDir();
    const keyFile = await writeTestKeyFile(join(dataDir, "keystore"), TEST_KEY_EMPTY_PASSWORD, {
      password: "",
      scrypt: MIN_SCRYPT,
    });
    const prompt = scriptedPrompt([]);
    const acct = await loadAccount({ dataDir, ethPassword: "" }, { prompt });
    expect(acct.signer.address).toBe(TEST_KEY_EMPTY_PASSWORD.address);
    expect(acct.keyFile).toBe(keyFile);
    expect(prompt.questions).toEqual([]);
  });

  it("refuses two files for the same address", async () => {
    const dataDir = await datadirWithTestKeys();
    // A copy of A's file under a later name, which sorts between A's and B's.
    const copy = testKeyFileName(TEST_KEY_A, TEST_KEY_A.epochNs + 1n);
    expect([NAME_A, copy, NAME_B].sort()).toEqual([NAME_A, copy, NAME_B]);
    copyFileSync(join(dataDir, "keystore", NAME_A), join(dataDir, "keystore", copy));
    const err = await failure({ dataDir, ethPassword: TEST_PASSWORD });
    expect(err.code).toBe("ETH_ACCOUNT_AMBIGUOUS");
    expect(err.message).toContain(copy);
  });

  it("a keystore that cannot be read is a typed error", async () => {
    const dataDir = tempDir();
    writeFileSync(join(dataDir, "keystore"), "a file where the folder should be");
    const err = await failure({ dataDir, ethPassword: "pw" });
    expect(err.code).toBe("KEYSTORE_UNREADABLE");
  });

  it("a corrupt selected key file is a typed error naming the file", async () => {
    const dataDir = tempDir();
    const keyFile = await writeTestKeyFile(join(dataDir, "keystore"), TEST_KEY_A);
    const json = JSON.parse(readFileSync(keyFile, "utf8"));
    json.crypto.kdf = "argon2";
    writeFileSync(keyFile, JSON.stringify(json));
    const err = await failure({ dataDir, ethPassword: TEST_PASSWORD });
    expect(err.code).toBe("KEYSTORE_UNSUPPORTED");
    expect(err.message).toContain(join(dataDir, "keystore", NAME_A));
  });
});

describe("loadAccount: -ethKeystorePath", () => {
  it("a folder replaces <datadir>/keystore (a trailing slash is fine)", async () => {
    const other = await datadirWithTestKeys();
    const acct = await loadAccount(
      { dataDir: tempDir(), ethKeystorePath: `${join(other, "keystore")}/`, ethPassword: TEST_PASSWORD },
      { prompt: null },
    );
    expect(acct.signer.address).toBe(ADDR_A);
    expect(acct.keystoreDir).toBe(join(other, "keystore"));
  });

  it("a key file fixes the account", async () => {
    const other = await datadirWithTestKeys();
    const keyFile = join(other, "keystore", NAME_B);
    const acct = await loadAccount(
      { dataDir: tempDir(), ethKeystorePath: keyFile, ethAcctAddr: ADDR_B, ethPassword: TEST_PASSWORD },
      { prompt: null },
    );
    expect(acct.signer.address).toBe(ADDR_B);
    expect(acct.keyFile).toBe(keyFile);
  });

  it("a key file and a different -ethAcctAddr: go-livepeer's error", async () => {
    const other = await datadirWithTestKeys();
    const err = await failure({
      dataDir: tempDir(),
      ethKeystorePath: join(other, "keystore", NAME_B),
      ethAcctAddr: ADDR_A,
      ethPassword: TEST_PASSWORD,
    });
    expect(err.code).toBe("ETH_ACCOUNT_MISMATCH");
    expect(err.message).toBe(
      "-ethKeystorePath and -ethAcctAddr were both provided, but ethAcctAddr does not match the address found in keystore",
    );
  });

  it("a missing path and a file without an address: go-livepeer's errors", async () => {
    const missing = await failure({
      dataDir: tempDir(),
      ethKeystorePath: join(tempDir(), "nope"),
      ethPassword: "x",
    });
    expect(missing.code).toBe("KEYSTORE_NOT_FOUND");
    expect(missing.message).toBe("provided -ethKeystorePath was not found");
    const noAddress = await failure({
      dataDir: tempDir(),
      ethKeystorePath: join(FIXTURES, "web3-scrypt.json"),
      ethPassword: "testpassword",
    });
    expect(noAddress.code).toBe("KEYSTORE_INVALID");
    expect(noAddress.message).toBe("error parsing address from keyfile");
  });
});

describe("loadAccount: no key yet", () => {
  it("creates a standard-parameter key from -ethPassword, 0600 in a 0700 folder, and unlocks it", async () => {
    const dataDir = tempDir();
    const now = () => BigInt(Date.UTC(2026, 10, 30, 23, 59, 59)) * 1_000_000n + 5n;
    const log = captureLog();
    const acct = await loadAccount({ dataDir, ethPassword: "correct horse" }, { prompt: null, log, now });
    expect(acct.created).toBe(true);
    const dir = join(dataDir, "keystore");
    const name = `UTC--2026-11-30T23-59-59.000000005Z--${acct.signer.address.slice(2).toLowerCase()}`;
    expect(readdirSync(dir)).toEqual([name]);
    expect(acct.keyFile).toBe(join(dir, name));
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(acct.keyFile).mode & 0o777).toBe(0o600);
    const text = readFileSync(acct.keyFile, "utf8");
    expect(JSON.parse(text).crypto.kdfparams).toMatchObject({ n: 262144, r: 8, p: 1, dklen: 32 });
    const key = await decryptKeystore(text, "correct horse");
    expect(key.length).toBe(32);
    expect(JSON.stringify(log.lines)).not.toContain("correct horse");
    // The next start finds and opens the same account.
    const again = await loadAccount({ dataDir, ethPassword: "correct horse" }, { prompt: null });
    expect(again.created).toBe(false);
    expect(again.signer.address).toBe(acct.signer.address);
  });

  it("with light scrypt for devnets", async () => {
    const dataDir = tempDir();
    const acct = await loadAccount({ dataDir, ethPassword: "pw", lightScrypt: true }, { prompt: null });
    expect(JSON.parse(readFileSync(acct.keyFile, "utf8")).crypto.kdfparams).toMatchObject({ n: 4096, p: 6 });
  });

  it("asks for the password twice on a terminal when -ethPassword is empty", async () => {
    const dataDir = tempDir();
    const prompt = scriptedPrompt(["typed pw", "typed pw"]);
    const acct = await loadAccount({ dataDir, lightScrypt: true }, { prompt });
    expect(prompt.questions).toEqual(["Passphrase: ", "Repeat passphrase: "]);
    await expect(decryptKeystore(readFileSync(acct.keyFile, "utf8"), "typed pw")).resolves.toHaveLength(32);
  });

  it("different answers: go-livepeer's 'passphrases do not match', and no key written", async () => {
    const dataDir = tempDir();
    const err = await failure({ dataDir, lightScrypt: true }, { prompt: scriptedPrompt(["one", "two"]) });
    expect(err.code).toBe("ETH_PASSPHRASE_MISMATCH");
    expect(err.message).toBe("passphrases do not match");
    expect(await listKeystore(join(dataDir, "keystore"))).toEqual([]);
  });

  it("no terminal and no password: a clear error, and no key written", async () => {
    const dataDir = tempDir();
    const err = await failure({ dataDir });
    expect(err.code).toBe("ETH_PASSWORD_REQUIRED");
    expect(err.message).toMatch(/pass -ethPassword \(a file or a literal\)/);
    expect(await listKeystore(join(dataDir, "keystore"))).toEqual([]);
  });

  it("an -ethAcctAddr with an empty keystore is not found (no key with another address is made)", async () => {
    const dataDir = tempDir();
    const err = await failure({ dataDir, ethAcctAddr: ADDR_A, ethPassword: "pw" });
    expect(err.code).toBe("ETH_ACCOUNT_NOT_FOUND");
    expect(err.message).toContain("it has no keys");
    expect(await listKeystore(join(dataDir, "keystore"))).toEqual([]);
  });
});

/** A stand-in for process.stdin on a terminal: a stream with isTTY and setRawMode. */
function fakeTty(): PassThrough & {
  isTTY: boolean;
  isRaw: boolean;
  setRawMode(m: boolean): void;
  modes: boolean[];
} {
  const s = new PassThrough() as PassThrough & {
    isTTY: boolean;
    isRaw: boolean;
    setRawMode(m: boolean): void;
    modes: boolean[];
  };
  s.isTTY = true;
  s.isRaw = false;
  s.modes = [];
  s.setRawMode = (m: boolean) => {
    s.isRaw = m;
    s.modes.push(m);
  };
  return s;
}

describe("terminalPrompt", () => {
  it("is null without a terminal, so nothing ever blocks on stdin", () => {
    const notTty = new PassThrough();
    expect(terminalPrompt(notTty, new PassThrough())).toBeNull();
  });

  it("reads in raw mode without echo, handles backspace, keeps typed-ahead text, restores the mode", async () => {
    const input = fakeTty();
    const output = new PassThrough();
    let shown = "";
    output.on("data", (d: Buffer) => {
      shown += d.toString();
    });
    const prompt = terminalPrompt(input, output)!;
    const first = prompt.askHidden("Passphrase: ");
    input.write("s3cx\u007fret\r");
    input.write("s3cret\n");
    expect(await first).toBe("s3cret");
    expect(await prompt.askHidden("Repeat passphrase: ")).toBe("s3cret");
    expect(shown).toBe("Passphrase: \nRepeat passphrase: \n");
    expect(input.isRaw).toBe(false);
    expect(input.modes).toEqual([true, false, true, false]);
  });

  it("reads multi-byte UTF-8 split across chunks", async () => {
    const input = fakeTty();
    const prompt = terminalPrompt(input, new PassThrough())!;
    const answer = prompt.askHidden("Passphrase: ");
    const bytes = Buffer.from("p\u00e4ss\n");
    input.write(bytes.subarray(0, 2));
    input.write(bytes.subarray(2));
    expect(await answer).toBe("p\u00e4ss");
  });

  it("Ctrl-C aborts with a typed error", async () => {
    const input = fakeTty();
    const prompt = terminalPrompt(input, new PassThrough())!;
    const answer = prompt.askHidden("Passphrase: ");
    input.write("abc\u0003");
    await expect(answer).rejects.toBeInstanceOf(KeystoreError);
    expect(input.isRaw).toBe(false);
  });
});
