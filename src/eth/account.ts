import { open, readdir, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { StringDecoder } from "node:string_decoder";
import { hexToBytes } from "viem";
import { generatePrivateKey } from "viem/accounts";
import {
  decryptKeystore,
  encryptKeystore,
  isKeystoreError,
  KeystoreError,
  LIGHT_SCRYPT,
  normalizeAddress,
  nowEpochNs,
  STANDARD_SCRYPT,
  writeKeystoreFile,
} from "./keystore.js";
import { Signer } from "./signer.js";

/** Key files are a few hundred bytes; anything far larger is not one and is not read whole. */
const MAX_KEY_FILE_BYTES = 64 * 1024;

/** Asks the operator for a secret without echoing it. */
export interface PasswordPrompt {
  askHidden(question: string): Promise<string>;
}

/** The account flags, as the config layer resolved them. */
export interface AccountOptions {
  /** The node's data directory; the keystore defaults to `<dataDir>/keystore`. */
  dataDir: string;
  /** -ethKeystorePath: a keystore folder, or one key file that fixes the account. Empty means unset. */
  ethKeystorePath?: string;
  /** -ethAcctAddr: which account to use, any case, with or without 0x. Empty means unset. */
  ethAcctAddr?: string;
  /** -ethPassword, already resolved (file contents or the literal). Empty means ask on the terminal. */
  ethPassword?: string;
  /** Create new keys with go-ethereum's light scrypt parameters (devnets); standard otherwise. */
  lightScrypt?: boolean;
}

/** Minimal logger surface (pino's) so account selection can say what it picked. */
export interface AccountLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** What {@link loadAccount} needs from outside: a terminal prompt (null when there is none), a log, a clock. */
export interface AccountCollaborators {
  prompt: PasswordPrompt | null;
  log?: AccountLog;
  /** Nanoseconds since the epoch, for new key file names. */
  now?: () => bigint;
}

/** An unlocked account: the signer and where its key file is. */
export interface LoadedAccount {
  signer: Signer;
  keyFile: string;
  keystoreDir: string;
  /** True when the key was created by this call. */
  created: boolean;
}

/** One key file found in a keystore folder. */
export interface KeyFileEntry {
  /** Lower-case hex without 0x, from the file's `address` field. */
  address: string;
  path: string;
}

const silentLog: AccountLog = { info() {}, warn() {} };

function fsCode(err: unknown): string {
  return (err as { code?: string }).code ?? "error";
}

async function readSmallFile(path: string): Promise<string> {
  const fh = await open(path, "r");
  try {
    const buf = Buffer.alloc(MAX_KEY_FILE_BYTES + 1);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    if (bytesRead > MAX_KEY_FILE_BYTES) throw Object.assign(new Error("file too large"), { code: "EFBIG" });
    return buf.subarray(0, bytesRead).toString("utf8");
  } finally {
    await fh.close();
  }
}

function addressFromKeyText(text: string): string | null {
  try {
    const json: unknown = JSON.parse(text);
    if (typeof json !== "object" || json === null) return null;
    const addr = (json as Record<string, unknown>)["address"];
    return typeof addr === "string" ? normalizeAddress(addr) : null;
  } catch {
    return null;
  }
}

// go-ethereum's keystore scan ignores dotfiles (temporary files among them), editor backups and folders.
function skippedName(name: string): boolean {
  return name.startsWith(".") || name.endsWith("~") || name === "README" || name === "README.md";
}

/**
 * The key files of a keystore folder, sorted by path as go-ethereum lists accounts (so the oldest
 * `UTC--` file comes first). The address comes from each file's `address` field, without
 * decrypting; files without one are skipped with a warning. A missing folder is an empty keystore.
 */
export async function listKeystore(dir: string, log: AccountLog = silentLog): Promise<KeyFileEntry[]> {
  let names: string[];
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    names = entries.filter((e) => e.isFile() && !skippedName(e.name)).map((e) => e.name);
  } catch (err) {
    if (fsCode(err) === "ENOENT") return [];
    throw new KeystoreError("KEYSTORE_UNREADABLE", `error opening keystore ${dir}: ${fsCode(err)}`, {
      cause: err,
    });
  }
  const found: KeyFileEntry[] = [];
  for (const name of names.sort()) {
    const path = join(dir, name);
    let text: string;
    try {
      text = await readSmallFile(path);
    } catch (err) {
      log.warn({ path, code: fsCode(err) }, "Skipping unreadable file in keystore");
      continue;
    }
    const address = addressFromKeyText(text);
    if (address === null) {
      log.warn({ path }, "Skipping keystore file without a valid address");
      continue;
    }
    found.push({ address, path });
  }
  return found;
}

/**
 * Encrypt `privateKey` under `password` into a new go-ethereum key file in `dir` (0600, folder 0700)
 * and return its path. Used for new accounts and for devnet accounts with known keys.
 */
export async function importPrivateKey(
  dir: string,
  privateKey: Uint8Array,
  password: string,
  options: { light?: boolean; now?: () => bigint } = {},
): Promise<string> {
  const keystore = await encryptKeystore(privateKey, password, {
    scrypt: options.light ? LIGHT_SCRYPT : STANDARD_SCRYPT,
  });
  return writeKeystoreFile(dir, keystore, (options.now ?? nowEpochNs)());
}

function withAddr(address: string): string {
  return `0x${address}`;
}

async function askNewPassword(prompt: PasswordPrompt): Promise<string> {
  const first = await prompt.askHidden("Passphrase: ");
  const second = await prompt.askHidden("Repeat passphrase: ");
  if (first !== second) throw new KeystoreError("ETH_PASSPHRASE_MISMATCH", "passphrases do not match");
  return first;
}

async function unlock(
  entry: KeyFileEntry,
  options: AccountOptions,
  collab: AccountCollaborators,
): Promise<Signer> {
  let text: string;
  try {
    text = await readSmallFile(entry.path);
  } catch (err) {
    throw new KeystoreError("KEYSTORE_UNREADABLE", `error opening keystore ${entry.path}: ${fsCode(err)}`, {
      cause: err,
    });
  }
  const password = options.ethPassword ?? "";
  const open = async (pw: string): Promise<Signer> => {
    const key = await decryptKeystore(text, pw);
    try {
      return Signer.fromPrivateKey(key);
    } finally {
      key.fill(0);
    }
  };
  try {
    return await open(password);
  } catch (err) {
    if (!isKeystoreError(err, "KEYSTORE_BAD_PASSWORD")) {
      throw new KeystoreError(
        err instanceof KeystoreError ? err.code : "KEYSTORE_INVALID",
        `${err instanceof Error ? err.message : String(err)} (key file ${entry.path})`,
        { cause: err },
      );
    }
    // As go-livepeer: only an empty -ethPassword falls back to asking, and only once.
    if (password !== "") {
      throw new KeystoreError(
        "KEYSTORE_BAD_PASSWORD",
        `could not decrypt key with given password (ETH account ${withAddr(entry.address)}, key file ${entry.path})`,
      );
    }
    if (collab.prompt === null) {
      throw new KeystoreError(
        "ETH_PASSWORD_REQUIRED",
        `ETH account ${withAddr(entry.address)} needs its password: pass -ethPassword (a file or a literal); there is no terminal to ask on`,
      );
    }
  }
  collab.log?.info({ ethaddress: withAddr(entry.address) }, "Passphrase required to unlock ETH account");
  try {
    return await open(await collab.prompt.askHidden("Passphrase: "));
  } catch (err) {
    if (isKeystoreError(err, "KEYSTORE_BAD_PASSWORD")) {
      throw new KeystoreError(
        "KEYSTORE_BAD_PASSWORD",
        `could not decrypt key with given password (ETH account ${withAddr(entry.address)}, key file ${entry.path})`,
      );
    }
    throw err;
  }
}

async function createAccount(
  dir: string,
  options: AccountOptions,
  collab: AccountCollaborators,
): Promise<LoadedAccount> {
  let password = options.ethPassword ?? "";
  if (password === "") {
    if (collab.prompt === null) {
      throw new KeystoreError(
        "ETH_PASSWORD_REQUIRED",
        `no ETH account in ${dir} and no password for a new one: pass -ethPassword (a file or a literal), or start on a terminal to type one`,
      );
    }
    collab.log?.info({ keystore: dir }, "Please create a new ETH account");
    password = await askNewPassword(collab.prompt);
  }
  const key = hexToBytes(generatePrivateKey());
  try {
    const keyFile = await importPrivateKey(dir, key, password, {
      light: options.lightScrypt === true,
      ...(collab.now ? { now: collab.now } : {}),
    });
    const signer = Signer.fromPrivateKey(key);
    collab.log?.info(
      { ethaddress: signer.address, keyFile },
      "Created a new ETH account; back up its key file and password",
    );
    return { signer, keyFile, keystoreDir: dir, created: true };
  } finally {
    key.fill(0);
  }
}

/**
 * Pick, create if needed, and unlock the node's Ethereum account, as go-livepeer's
 * eth/accountmanager.go and the -ethKeystorePath handling of its starter:
 * - the keystore is `<dataDir>/keystore`, or -ethKeystorePath (a folder, or one key file whose
 *   `address` is then the account and must agree with -ethAcctAddr);
 * - -ethAcctAddr picks an account; without it the first key file by name is used (go-livepeer's
 *   behaviour), and the others are named in the log;
 * - an empty keystore gets a new key (password from -ethPassword, or typed twice on a terminal);
 * - unlock uses -ethPassword; if that is empty and the key does not open, the terminal is asked once.
 * Every failure is a KeystoreError whose one-line message names no password and no key.
 */
export async function loadAccount(
  options: AccountOptions,
  collab: AccountCollaborators,
): Promise<LoadedAccount> {
  const log = collab.log ?? silentLog;
  let wanted: string | null = null;
  if (options.ethAcctAddr !== undefined && options.ethAcctAddr.trim() !== "") {
    wanted = normalizeAddress(options.ethAcctAddr);
    if (wanted === null) {
      throw new KeystoreError(
        "ETH_ACCOUNT_INVALID",
        `-ethAcctAddr is not an Ethereum address: ${JSON.stringify(options.ethAcctAddr)}`,
      );
    }
  }

  let dir = join(options.dataDir, "keystore");
  const ksPath = options.ethKeystorePath?.trim().replace(/\/+$/, "") ?? "";
  if (ksPath !== "") {
    let isDir: boolean;
    try {
      isDir = (await stat(ksPath)).isDirectory();
    } catch {
      throw new KeystoreError("KEYSTORE_NOT_FOUND", "provided -ethKeystorePath was not found");
    }
    if (!isDir) {
      let text: string;
      try {
        text = await readSmallFile(ksPath);
      } catch (err) {
        throw new KeystoreError("KEYSTORE_UNREADABLE", `error opening keystore ${ksPath}: ${fsCode(err)}`, {
          cause: err,
        });
      }
      const address = addressFromKeyText(text);
      if (address === null) throw new KeystoreError("KEYSTORE_INVALID", "error parsing address from keyfile");
      if (wanted !== null && wanted !== address) {
        throw new KeystoreError(
          "ETH_ACCOUNT_MISMATCH",
          "-ethKeystorePath and -ethAcctAddr were both provided, but ethAcctAddr does not match the address found in keystore",
        );
      }
      const entry = { address, path: ksPath };
      const signer = await unlock(entry, options, collab);
      log.info({ ethaddress: signer.address, keyFile: ksPath }, "ETH account unlocked");
      return { signer, keyFile: ksPath, keystoreDir: dirname(ksPath), created: false };
    }
    dir = ksPath;
  }

  const entries = await listKeystore(dir, log);
  let entry: KeyFileEntry;
  if (wanted !== null) {
    const matches = entries.filter((e) => e.address === wanted);
    if (matches.length === 0) {
      // go-livepeer would create a fresh key with some other address here; refusing is safer.
      const have =
        entries.length === 0
          ? "it has no keys"
          : `it has ${entries.map((e) => withAddr(e.address)).join(", ")}`;
      throw new KeystoreError(
        "ETH_ACCOUNT_NOT_FOUND",
        `ETH account not found: ${withAddr(wanted)} is not in keystore ${dir} (${have})`,
      );
    }
    if (matches.length > 1) {
      throw new KeystoreError(
        "ETH_ACCOUNT_AMBIGUOUS",
        `multiple keys match address ${withAddr(wanted)}: ${matches.map((m) => m.path).join(", ")}`,
      );
    }
    entry = matches[0]!;
  } else if (entries.length === 0) {
    return createAccount(dir, options, collab);
  } else {
    entry = entries[0]!;
    const sameAddress = entries.filter((e) => e.address === entry.address);
    if (sameAddress.length > 1) {
      throw new KeystoreError(
        "ETH_ACCOUNT_AMBIGUOUS",
        `multiple keys match address ${withAddr(entry.address)}: ${sameAddress.map((m) => m.path).join(", ")}`,
      );
    }
    if (entries.length > 1) {
      log.info(
        { ethaddress: withAddr(entry.address), others: entries.slice(1).map((e) => withAddr(e.address)) },
        "Defaulting to first ETH account in keystore; pick another with -ethAcctAddr",
      );
    }
  }
  const signer = await unlock(entry, options, collab);
  log.info({ ethaddress: signer.address, keyFile: entry.path }, "ETH account unlocked");
  return { signer, keyFile: entry.path, keystoreDir: dir, created: false };
}

/** Minimal surface of a TTY input stream (process.stdin), so tests can drive the prompt. */
export interface TtyInput extends NodeJS.EventEmitter {
  isTTY?: boolean;
  isRaw?: boolean;
  setRawMode?(mode: boolean): unknown;
  resume(): unknown;
  pause(): unknown;
}

/**
 * A hidden-input prompt on the terminal (raw mode, nothing echoed), or null when stdin is not a TTY
 * (Docker without -t, systemd, CI): the node then never blocks waiting for a password.
 */
export function terminalPrompt(
  input: TtyInput = process.stdin,
  output: NodeJS.WritableStream = process.stderr,
): PasswordPrompt | null {
  if (input.isTTY !== true || typeof input.setRawMode !== "function") return null;
  // Text typed ahead of the next question (a pasted "pw\npw\n") is kept for it.
  let pending = "";
  const setRaw = input.setRawMode.bind(input);
  return {
    askHidden(question: string): Promise<string> {
      output.write(question);
      return new Promise<string>((resolve, reject) => {
        const decoder = new StringDecoder("utf8");
        const wasRaw = input.isRaw === true;
        let answer = "";
        const finish = (): void => {
          input.off("data", onData);
          input.off("end", onEnd);
          setRaw(wasRaw);
          input.pause();
          output.write("\n");
        };
        const aborted = (): KeystoreError =>
          new KeystoreError("ETH_PASSWORD_REQUIRED", "passphrase entry aborted on the terminal");
        const consume = (text: string): boolean => {
          const chars = Array.from(text);
          for (let i = 0; i < chars.length; i++) {
            const ch = chars[i]!;
            if (ch === "\r" || ch === "\n") {
              let rest = chars.slice(i + 1).join("");
              if (ch === "\r" && rest.startsWith("\n")) rest = rest.slice(1);
              pending = rest;
              finish();
              resolve(answer);
              return true;
            }
            if (ch === "\u0003" || (ch === "\u0004" && answer === "")) {
              pending = "";
              finish();
              reject(aborted());
              return true;
            }
            if (ch === "\u007f" || ch === "\b") {
              answer = Array.from(answer).slice(0, -1).join("");
            } else if (ch >= " ") {
              answer += ch;
            }
          }
          return false;
        };
        const onData = (chunk: Buffer | string): void => {
          consume(typeof chunk === "string" ? chunk : decoder.write(chunk));
        };
        const onEnd = (): void => {
          finish();
          reject(aborted());
        };
        setRaw(true);
        const buffered = pending;
        pending = "";
        if (consume(buffered)) return;
        input.on("data", onData);
        input.on("end", onEnd);
        input.resume();
      });
    },
  };
}
