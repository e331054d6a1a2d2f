import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import {
  type Address,
  createPublicClient,
  createWalletClient,
  type Hex,
  hexToBytes,
  http,
  isAddress,
  type PublicClient,
  parseEther,
  toHex,
} from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { foundry } from "viem/chains";
import { subcommandParser } from "../config/sources.js";
import { errorMessage, isLpError, LpError } from "../errors/LpError.js";
import { isAlive } from "../utils/process.js";
import { livepeerTokenAbi } from "./abis.js";
import { type AnvilProcess, spawnAnvil } from "./anvil.js";
import { DEVNET_CONTRACT_NAMES, type DevnetContractName } from "./artifacts.js";
import { advanceToNextRound, DEVNET_PARAMS, deployDevnet } from "./deploy.js";
import { encryptKeystore, LIGHT_SCRYPT, writeKeystoreFile } from "./keystore.js";

/** anvil's chain id, kept for devnets (go-livepeer treats any id it does not know as a dev chain). */
export const DEVNET_CHAIN_ID = 31337;
/** ETH each devnet account gets. */
export const DEVNET_ACCOUNT_ETH = parseEther("1000");
/** LPT (wei) each devnet account gets from the deployer. */
export const DEVNET_ACCOUNT_LPT = parseEther("1000");
/** Most accounts `lp-node devnet --accounts` makes (the deployer holds 500,000 LPT). */
export const MAX_DEVNET_ACCOUNTS = 100;
/** Name of the devnet document in the devnet folder. */
export const DEVNET_JSON = "devnet.json";
/** Name of anvil's state file in the devnet folder. */
export const ANVIL_STATE = "anvil-state.json";

// anvil's first default-mnemonic account: publicly known, funded with 10,000 ETH at genesis. It
// owns the Controller; being public is fine on a local chain and lets anyone script against it.
/** The devnet deployer's key (anvil's first default account), which owns the Controller. */
export const DEVNET_DEPLOYER_KEY: Hex = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const DEPLOYER_KEY = DEVNET_DEPLOYER_KEY;

/** One funded devnet account, as written in devnet.json. */
export interface DevnetAccount {
  address: Address;
  privateKey: Hex;
  /** Absolute path of its V3 keystore file. */
  keystore: string;
  password: string;
}

/** devnet.json: the documented interface CI scripts read (keep these keys). */
export interface DevnetDocument {
  chainId: number;
  rpcUrl: string;
  controller: Address;
  contracts: Record<DevnetContractName, Address>;
  roundLength: number;
  accounts: DevnetAccount[];
  flags: string[];
}

/** Parsed flags of `lp-node devnet`. */
export interface DevnetOptions {
  port: number;
  /** Whether --port was given (a cluster with --free-ports keeps a given port). */
  portGiven: boolean;
  dir: string;
  /** Funded accounts; with --cluster, the spare ones beyond the nodes' (default 0 there). */
  accounts: number;
  roundLength: number;
  /** Interval mining in seconds; null mines on every transaction. */
  blockTime: number | null;
  json: boolean;
  /** --cluster: also register orchestrators, fund a gateway and run them as child processes. */
  cluster: boolean;
  /** --orchestrators: how many orchestrators the cluster runs. */
  orchestrators: number;
  /** --free-ports: any free port where a fixed default is taken, instead of failing. */
  freePorts: boolean;
  /** --demo: the cluster's gateway publishes a test stream to itself. */
  demo: boolean;
  /** --transcoding-options: the cluster gateway's ladder; "" keeps the node's default. */
  transcodingOptions: string;
}

/**
 * Shortest round a cluster accepts: ticket params expire 40 blocks after they are issued, and
 * only then is a winning ticket redeemed, yet it must land by the end of the round after the
 * one it was created in, which can be little more than one round away. 45 leaves a few blocks
 * for a late round initialisation and the redemption itself; the default (50) leaves ten.
 */
export const MIN_CLUSTER_ROUND_LENGTH = 45;

/** Most orchestrators `lp-node devnet --cluster` runs. */
export const MAX_CLUSTER_ORCHESTRATORS = 16;

/** The streams and signal `lp-node devnet` runs with (the CLI passes the process's). */
export interface DevnetIO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** Aborted on SIGINT/SIGTERM: stop anvil and return. */
  signal: AbortSignal;
  homeDir?: string;
  /** Milliseconds clock for progress lines (injectable for tests). */
  now?: () => number;
  /** The lp-node entry script a cluster's nodes run (default: this build's cli/main.js). */
  mainScript?: string;
}

/**
 * The progress lines of a devnet run on stderr, each with the time since the start: `log` writes
 * one; `progress` starts a setup step, so it first stops the setup (DEVNET_INTERRUPTED) once
 * io.signal has aborted. `elapsedMs` is that same time.
 */
export function devnetProgress(
  io: Pick<DevnetIO, "stderr" | "signal" | "now">,
  what: string,
): { log: (line: string) => void; progress: (step: string) => void; elapsedMs: () => number } {
  // Without an injected clock, elapsed time counts from the process start (performance's time
  // origin), so the "ready" line is the whole time from `lp-node devnet` to a ready chain.
  const now = io.now ?? (() => performance.now());
  const started = io.now ? now() : 0;
  const elapsedMs = () => now() - started;
  const log = (line: string) => {
    io.stderr.write(`lp-node devnet: [${Math.round(elapsedMs())} ms] ${line}\n`);
  };
  const progress = (step: string) => {
    if (io.signal.aborted) throw new LpError("DEVNET_INTERRUPTED", `interrupted before ${what} was ready`);
    log(step);
  };
  return { log, progress, elapsedMs };
}

/** Failures the operator fixes by changing the command (exit status 2). */
const USAGE_FAILURES = ["ANVIL_PORT_IN_USE", "DEVNET_DIR_IN_USE", "CLUSTER_PORT_IN_USE"];

/**
 * Reports why `lp-node devnet` (a cluster too) stopped and returns its exit status: 130 when
 * interrupted, 2 for a port or folder in use, 1 otherwise.
 */
export function devnetFailed(err: unknown, io: Pick<DevnetIO, "stderr">): number {
  io.stderr.write(`lp-node devnet: ${errorMessage(err)}\n`);
  if (isLpError(err, "DEVNET_INTERRUPTED")) return 130;
  return USAGE_FAILURES.some((code) => isLpError(err, code)) ? 2 : 1;
}

/** Help text of `lp-node devnet`. */
export const DEVNET_HELP = `lp-node devnet: run a local Livepeer chain (anvil + the devnet contracts) until Ctrl-C

  --port <n>           RPC port on 127.0.0.1 (default 8545; 0 picks a free one)
  --dir <folder>       where devnet.json, keystores and the chain state live
                       (default <datadir>/devnet, datadir ~/.lpData/devnet or -datadir)
  --accounts <n>       funded accounts, each with 1000 ETH, 1000 LPT and a keystore file (default 4, at most ${MAX_DEVNET_ACCOUNTS})
  --round-length <n>   blocks per round (default ${DEVNET_PARAMS.roundLength}; at least ${MIN_CLUSTER_ROUND_LENGTH} with --cluster)
  --block-time <s>     mine a block every s seconds (default: one block per transaction;
                       1 with --cluster, after its set-up)
  --json               print devnet.json as one line on stdout once the chain is ready
                       (with --cluster: cluster.json once every node is ready)
  -datadir <folder>    data directory the default --dir lives in

Restarting with the same --dir loads the saved chain instead of deploying a new one.

A paid cluster in one command:
  --cluster            also register and activate orchestrators (each with a local transcoder and
                       -reward), fund a gateway's deposit and reserve, start the next round, and run
                       the nodes as child processes (logs in <dir>/<node>.log); writes
                       <dir>/cluster.json once every node answers /status. Always a fresh chain;
                       blocks every second unless --block-time says otherwise. --accounts counts
                       spare accounts beyond the nodes' (default 0)
  --orchestrators <n>  orchestrators in the cluster (default 2, at most ${MAX_CLUSTER_ORCHESTRATORS})
  --free-ports         take any free port where a default one (RPC 8545, gateway RTMP 1935,
                       HTTP 9935, CLI 5935) is in use, instead of failing
  --demo               the gateway publishes a test pattern as stream "demo"
  --transcoding-options <list>  the gateway's rendition ladder (default: the node's)
`;

/** Parses `lp-node devnet` flags; returns the options or every problem found. */
export function parseDevnetArgs(
  argv: readonly string[],
  homeDir: string = homedir(),
): { options: DevnetOptions; problems: [] } | { options: null; problems: string[]; help?: boolean } {
  const a = subcommandParser(argv)
    .options({
      port: { type: "string", default: "" },
      dir: { type: "string", default: "" },
      datadir: { type: "string", default: "" },
      dataDir: { type: "string", default: "" },
      accounts: { type: "string", default: "" },
      "round-length": { type: "string", default: String(DEVNET_PARAMS.roundLength) },
      "block-time": { type: "string", default: "" },
      json: { type: "boolean", default: false },
      cluster: { type: "boolean", default: false },
      orchestrators: { type: "string", default: "2" },
      "free-ports": { type: "boolean", default: false },
      demo: { type: "boolean", default: false },
      "transcoding-options": { type: "string", default: "" },
      help: { type: "boolean", default: false },
    })
    .strict(false)
    .exitProcess(false)
    .parseSync();
  if (a.help) return { options: null, problems: [], help: true };
  const known = new Set([
    "_",
    "$0",
    "port",
    "dir",
    "datadir",
    "dataDir",
    "accounts",
    "round-length",
    "block-time",
    "json",
    "cluster",
    "orchestrators",
    "free-ports",
    "demo",
    "transcoding-options",
    "help",
  ]);
  const problems = Object.keys(a)
    .filter((k) => !known.has(k))
    .map((k) => `unknown flag --${k}`);
  if (a._.length > 0) problems.push(`unexpected argument "${a._[0]}"`);
  const integer = (flag: string, text: string, min: number, max: number): number => {
    const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      problems.push(`--${flag} must be an integer from ${min} to ${max} (got "${text}")`);
    }
    return n;
  };
  const cluster = a.cluster === true;
  const portText = last(a.port);
  const port = integer("port", portText !== "" ? portText : "8545", 0, 65535);
  const accountsText = last(a.accounts);
  const accounts = integer(
    "accounts",
    accountsText !== "" ? accountsText : cluster ? "0" : "4",
    cluster ? 0 : 1,
    MAX_DEVNET_ACCOUNTS,
  );
  const orchestrators = integer("orchestrators", last(a.orchestrators), 1, MAX_CLUSTER_ORCHESTRATORS);
  if (!cluster) {
    for (const flag of ["orchestrators", "free-ports", "demo", "transcoding-options"]) {
      if (argv.some((arg) => arg.replace(/^--?/, "").split("=")[0] === flag)) {
        problems.push(`--${flag} needs --cluster`);
      }
    }
  }
  const roundLength = integer("round-length", last(a["round-length"]), 2, 1_000_000);
  if (cluster && roundLength < MIN_CLUSTER_ROUND_LENGTH) {
    problems.push(
      `--round-length must be at least ${MIN_CLUSTER_ROUND_LENGTH} with --cluster (got ${roundLength}): a ticket is redeemed 40 blocks after it is issued and stays valid only until the end of the round after its own`,
    );
  }
  let blockTime: number | null = null;
  const blockTimeText = last(a["block-time"]);
  if (blockTimeText !== "") {
    blockTime = integer("block-time", blockTimeText, 1, 3600);
  } else if (cluster) {
    // A cluster's chain must move on its own: rounds pass, reward is called, tickets redeem.
    blockTime = 1;
  }
  const datadir = last(a.datadir) || last(a.dataDir) || join(homeDir, ".lpData", "devnet");
  const dirText = last(a.dir);
  const dir = resolve(dirText !== "" ? dirText : join(datadir, "devnet"));
  if (problems.length > 0) return { options: null, problems };
  return {
    options: {
      port,
      portGiven: portText !== "",
      dir,
      accounts,
      roundLength,
      blockTime,
      json: a.json === true,
      cluster,
      orchestrators,
      freePorts: a["free-ports"] === true,
      demo: a.demo === true,
      transcodingOptions: last(a["transcoding-options"]),
    },
    problems: [],
  };
}

// A flag given twice arrives as an array; the last one wins, as for the node's flags.
function last(value: string | string[]): string {
  return Array.isArray(value) ? (value[value.length - 1] ?? "") : value;
}

/** The flags a node needs to join the devnet at `rpcUrl` with Controller `controller`. */
export function nodeFlags(rpcUrl: string, controller: Address): string[] {
  return ["-network", "devnet", "-ethUrl", rpcUrl, "-ethController", controller];
}

/**
 * Reads and checks a devnet.json written by an earlier run; null when it is absent or not a
 * devnet document (then the devnet is deployed afresh).
 */
export function readDevnetDocument(path: string): DevnetDocument | null {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, "utf8"));
  } catch {
    return null;
  }
  if (typeof doc !== "object" || doc === null) return null;
  const d = doc as Partial<DevnetDocument>;
  const contracts = d.contracts as Record<string, unknown> | undefined;
  const ok =
    d.chainId === DEVNET_CHAIN_ID &&
    typeof d.controller === "string" &&
    isAddress(d.controller) &&
    typeof contracts === "object" &&
    contracts !== null &&
    DEVNET_CONTRACT_NAMES.every(
      (n) => typeof contracts[n] === "string" && isAddress(contracts[n] as string),
    ) &&
    typeof d.roundLength === "number" &&
    Array.isArray(d.accounts) &&
    d.accounts.every(
      (acc) =>
        typeof acc === "object" &&
        acc !== null &&
        typeof acc.address === "string" &&
        isAddress(acc.address) &&
        typeof acc.privateKey === "string" &&
        typeof acc.keystore === "string" &&
        typeof acc.password === "string",
    );
  return ok ? (d as DevnetDocument) : null;
}

/** The same document pointed at a (possibly new) RPC URL. */
export function withRpcUrl(doc: DevnetDocument, rpcUrl: string): DevnetDocument {
  return {
    chainId: doc.chainId,
    rpcUrl,
    controller: doc.controller,
    contracts: doc.contracts,
    roundLength: doc.roundLength,
    accounts: doc.accounts,
    flags: nodeFlags(rpcUrl, doc.controller),
  };
}

/** Writes devnet.json atomically with mode 0600 (it holds private keys). */
export function writeDevnetDocument(path: string, doc: DevnetDocument): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(doc, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}

/** Human text for a ready devnet: where it is and the flags a node needs. */
export function describeDevnet(doc: DevnetDocument, dir: string): string {
  const lines = [
    `devnet ready: ${doc.rpcUrl} (chain id ${doc.chainId}), Controller ${doc.controller}, rounds of ${doc.roundLength} blocks`,
    `devnet.json (contracts, accounts, keys and passwords): ${join(dir, DEVNET_JSON)}`,
    "",
    "Accounts (1000 ETH and 1000 LPT each at creation):",
    ...doc.accounts.map((acc) => `  ${acc.address}  keystore ${acc.keystore}`),
    "",
    "Run a node against it with:",
    `  lp-node --mode orchestrator,transcoder -serviceAddr 127.0.0.1:8935 ${doc.flags.join(" ")} \\`,
    "    -ethKeystorePath <keystore> -ethPassword <password>   (both from devnet.json)",
    "",
    "Ctrl-C stops the chain; it is saved in the folder and loaded again on the next start.",
  ];
  return `${lines.join("\n")}\n`;
}

/** Takes the folder for this process (a live pid in the lock means another devnet uses it); returns the release. */
export function lockDir(dir: string): () => void {
  const lock = join(dir, "devnet.lock");
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lock, String(process.pid), { flag: "wx" });
      return () => rmSync(lock, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const pid = Number(readFileSync(lock, "utf8").trim());
      if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
        throw new LpError("DEVNET_DIR_IN_USE", `${dir} is in use by another devnet (pid ${pid})`);
      }
      rmSync(lock, { force: true }); // stale: its devnet died without cleaning up
    }
  }
  throw new LpError("DEVNET_DIR_IN_USE", `cannot lock ${dir}`);
}

type AnvilRequest = (args: { method: string; params: unknown[] }) => Promise<unknown>;

/** Deploys a fresh devnet on the chain at `rpcUrl` and funds its accounts; returns its document. */
export async function deployFresh(
  rpcUrl: string,
  options: Pick<DevnetOptions, "accounts" | "dir" | "roundLength">,
  progress: (step: string) => void,
): Promise<DevnetDocument> {
  const transport = http(rpcUrl, { retryCount: 0, timeout: 30_000 });
  const publicClient = createPublicClient({ chain: foundry, transport, pollingInterval: 50 }) as PublicClient;
  const deployer = privateKeyToAccount(DEPLOYER_KEY);
  const wallet = createWalletClient({ chain: foundry, transport, account: deployer });
  const clients = { wallet, publicClient };

  const deployment = await deployDevnet(clients, {
    params: { roundLength: options.roundLength },
    onStep: progress,
  });
  progress("initialising round 1");
  const round = await advanceToNextRound(clients, deployment.contracts.RoundsManager);
  progress(`round ${round} initialised`);

  progress(`funding ${options.accounts} accounts with ETH and LPT`);
  const keys = Array.from({ length: options.accounts }, () => generatePrivateKey());
  const addresses = keys.map((k) => privateKeyToAccount(k).address);
  const request = publicClient.request as unknown as AnvilRequest;
  await Promise.all(
    addresses.map((address) =>
      request({ method: "anvil_setBalance", params: [address, toHex(DEVNET_ACCOUNT_ETH)] }),
    ),
  );
  let nonce = await publicClient.getTransactionCount({ address: deployer.address, blockTag: "pending" });
  const hashes: Hex[] = [];
  for (const address of addresses) {
    hashes.push(
      await wallet.writeContract({
        address: deployment.contracts.LivepeerToken,
        abi: livepeerTokenAbi,
        functionName: "transfer",
        args: [address, DEVNET_ACCOUNT_LPT],
        nonce: nonce++,
        gas: 100_000n,
      }),
    );
  }
  // Keystores are written while the transfers are mined.
  progress("writing keystore files");
  const keystoreDir = join(options.dir, "keystore");
  mkdirSync(keystoreDir, { recursive: true, mode: 0o700 });
  const accounts = await Promise.all(
    keys.map(async (privateKey, i): Promise<DevnetAccount> => {
      const password = randomBytes(16).toString("hex");
      const json = await encryptKeystore(hexToBytes(privateKey), password, { scrypt: LIGHT_SCRYPT });
      const keystore = resolve(await writeKeystoreFile(keystoreDir, json));
      return { address: addresses[i]!, privateKey, keystore, password };
    }),
  );
  for (const hash of hashes) {
    const receipt = await publicClient.waitForTransactionReceipt({ hash, pollingInterval: 50 });
    if (receipt.status !== "success") throw new Error(`LPT transfer failed (tx ${hash})`);
  }
  return {
    chainId: DEVNET_CHAIN_ID,
    rpcUrl,
    controller: deployment.controller,
    contracts: documentedOrder(deployment.contracts),
    roundLength: options.roundLength,
    accounts,
    flags: nodeFlags(rpcUrl, deployment.controller),
  };
}

// devnet.json lists the contracts in the documented order, whatever order they were deployed in.
function documentedOrder(
  contracts: Record<DevnetContractName, Address>,
): Record<DevnetContractName, Address> {
  const order = [
    "Controller",
    "LivepeerToken",
    "LivepeerTokenFaucet",
    "BondingManager",
    "TicketBroker",
    "RoundsManager",
    "Minter",
    "ServiceRegistry",
  ] as const satisfies readonly DevnetContractName[];
  return Object.fromEntries(order.map((name) => [name, contracts[name]])) as Record<
    DevnetContractName,
    Address
  >;
}

/** Whether the saved devnet is really on the chain that anvil loaded (its Controller has code). */
async function savedChainMatches(rpcUrl: string, doc: DevnetDocument): Promise<boolean> {
  const publicClient = createPublicClient({ chain: foundry, transport: http(rpcUrl, { retryCount: 0 }) });
  const [chainId, code] = await Promise.all([
    publicClient.getChainId(),
    publicClient.getCode({ address: doc.controller }),
  ]);
  return chainId === doc.chainId && code !== undefined && code !== "0x";
}

/**
 * `lp-node devnet`: starts anvil, deploys (or reloads) the devnet, writes devnet.json, prints it,
 * and runs until io.signal aborts; returns the exit status (0 stopped, 1 failed, 2 bad flags, port
 * or folder in use, 130 interrupted before the chain was ready). Plays the part of go-livepeer's cmd/devtool plus its geth devnet image.
 */
export async function devnetCommand(argv: readonly string[], io: DevnetIO): Promise<number> {
  const parsed = parseDevnetArgs(argv, io.homeDir);
  if (parsed.options === null) {
    if (parsed.help === true) {
      io.stdout.write(DEVNET_HELP);
      return 0;
    }
    io.stderr.write(`lp-node devnet:\n${parsed.problems.map((p) => `  - ${p}`).join("\n")}\n${DEVNET_HELP}`);
    return 2;
  }
  const options = parsed.options;
  if (options.cluster) {
    // Loaded only for a cluster: it brings node processes, ports and HTTP polling with it.
    const { clusterCommand } = await import("./cluster.js");
    return clusterCommand(options, io);
  }
  const { log, progress } = devnetProgress(io, "the chain");

  let unlock: (() => void) | null = null;
  let anvil: AnvilProcess | null = null;
  try {
    mkdirSync(options.dir, { recursive: true, mode: 0o700 });
    unlock = lockDir(options.dir);
    const docPath = join(options.dir, DEVNET_JSON);
    const statePath = join(options.dir, ANVIL_STATE);
    let saved = readDevnetDocument(docPath);
    if (saved !== null && !existsSync(statePath)) {
      progress(`${docPath} has no saved chain beside it; deploying a new devnet`);
      saved = null;
    }
    // A chain state without its document (or the reverse) cannot be trusted: start clean.
    if (saved === null) rmSync(statePath, { force: true });

    progress(
      `starting anvil on 127.0.0.1:${options.port}${saved ? ` with the chain saved in ${statePath}` : ""}`,
    );
    anvil = await spawnAnvil({
      port: options.port,
      chainId: DEVNET_CHAIN_ID,
      blockTime: options.blockTime ?? undefined,
      stateFile: statePath,
      stateIntervalS: 10,
    });
    progress(`anvil listening on ${anvil.url} (pid ${anvil.pid})`);

    let doc: DevnetDocument | null = null;
    if (saved !== null) {
      if (await savedChainMatches(anvil.url, saved)) {
        doc = withRpcUrl(saved, anvil.url);
        progress(`loaded the saved devnet (Controller ${saved.controller})`);
      } else {
        progress(`the saved chain has no Controller at ${saved.controller}; deploying a new devnet`);
      }
    }
    if (doc === null) doc = await deployFresh(anvil.url, options, progress);
    progress(`writing ${docPath}`);
    writeDevnetDocument(docPath, doc);
    log("ready");
    if (options.json) io.stdout.write(`${JSON.stringify(doc)}\n`);
    else io.stdout.write(describeDevnet(doc, options.dir));

    const exited = anvil.exited;
    const outcome = await new Promise<"signal" | "anvil">((done) => {
      if (io.signal.aborted) return done("signal");
      io.signal.addEventListener("abort", () => done("signal"), { once: true });
      exited.then(() => done("anvil"));
    });
    if (outcome === "anvil") {
      const { code, signal } = await exited;
      io.stderr.write(`lp-node devnet: anvil exited unexpectedly (code ${code}, signal ${signal})\n`);
      return 1;
    }
    log("stopping anvil (saving the chain)");
    await anvil.stop();
    log("stopped");
    return 0;
  } catch (err) {
    return devnetFailed(err, io);
  } finally {
    // Every path out stops anvil; stop() is a no-op once it has exited.
    if (anvil !== null) await anvil.stop();
    unlock?.();
  }
}
