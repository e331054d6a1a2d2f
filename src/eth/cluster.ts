import {
  closeSync,
  mkdirSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  type Abi,
  type Address,
  createPublicClient,
  createWalletClient,
  type Hex,
  http,
  type PublicClient,
  parseEther,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { foundry } from "viem/chains";
import { LpError } from "../errors/LpError.js";
import { type RunningChild, spawnProcess } from "../media/ffmpeg/runFfmpeg.js";
import { sleep } from "../utils/sleep.js";
import { bondingManagerAbi, livepeerTokenAbi, serviceRegistryAbi, ticketBrokerAbi } from "./abis.js";
import { type AnvilProcess, spawnAnvil } from "./anvil.js";
import { advanceToNextRound } from "./deploy.js";
import {
  DEVNET_CHAIN_ID,
  DEVNET_DEPLOYER_KEY,
  type DevnetDocument,
  type DevnetIO,
  type DevnetOptions,
  deployFresh,
  devnetFailed,
  devnetProgress,
  lockDir,
} from "./devnet.js";

/** Name of the cluster document in the devnet folder. */
export const CLUSTER_JSON = "cluster.json";

/**
 * What `lp-node devnet --cluster` sets up. Tickets: EV 5e14 wei against a face value of 1e15
 * (each ticket wins with probability 1/2) and a price of 1e8 wei per pixel, so a 2 s segment of
 * even one 240p rendition (about 6.3 M pixels) costs more than one ticket's EV: every segment
 * carries a ticket or more and a 20 s stream wins several. Fees are exact on chain with a
 * fee share of 0 (the orchestrator keeps all; nobody else delegates to it anyway).
 */
export const CLUSTER_DEFAULTS = {
  stake: parseEther("500"),
  /** Parts per million: 10 % of the reward is the orchestrator's cut. */
  rewardCut: 100_000n,
  feeShare: 0n,
  pricePerUnit: 100_000_000n,
  ticketEV: 500_000_000_000_000n,
  maxFaceValue: 1_000_000_000_000_000n,
  deposit: parseEther("100"),
  reserve: parseEther("100"),
  gateway: { rtmp: 1935, http: 9935, cli: 5935 },
  orchestratorPortBase: 8936,
  orchestratorCliPortBase: 7936,
  /** Rounds start every 50 s at 1 s blocks: a short random delay keeps them initialised early. */
  initializeRoundMaxDelay: "3s",
} as const;

/** One node of the cluster as cluster.json lists it. */
export interface ClusterNodeEntry {
  address: Address;
  cli: string;
  /** The node's log file. */
  log: string;
}

/** cluster.json: where every node listens and the devnet (devnet.json's keys) under "devnet". */
export interface ClusterDocument {
  gateway: ClusterNodeEntry & { rtmp: string; http: string };
  orchestrators: (ClusterNodeEntry & { serviceURI: string })[];
  devnet: DevnetDocument;
}

/** The ports a cluster's nodes bind on 127.0.0.1. */
export interface ClusterPorts {
  gateway: { rtmp: number; http: number; cli: number };
  orchestrators: { service: number; cli: number }[];
}

/** A port on 127.0.0.1 is free now (a probe: something may still take it before the node binds). */
export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen({ host: "127.0.0.1", port, exclusive: true }, () => {
      server.close(() => resolve(true));
    });
  });
}

async function anyFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen({ host: "127.0.0.1", port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Picks the cluster's ports: the gateway's defaults (1935, 9935, 5935), any free ones instead
 * with `freePorts`, or an error naming a taken one; orchestrators from 8936 and their CLIs from
 * 7936 upward, skipping taken ones.
 */
export async function pickClusterPorts(
  orchestrators: number,
  freePorts: boolean,
  isFree: (port: number) => Promise<boolean> = portFree,
): Promise<ClusterPorts> {
  const taken = new Set<number>();
  const fixed = async (port: number, what: string): Promise<number> => {
    if (await isFree(port)) {
      taken.add(port);
      return port;
    }
    if (!freePorts) {
      throw new LpError(
        "CLUSTER_PORT_IN_USE",
        `port ${port} (${what}) on 127.0.0.1 is in use: stop what uses it, or pass --free-ports`,
      );
    }
    for (let i = 0; i < 20; i++) {
      const other = await anyFreePort();
      if (!taken.has(other)) {
        taken.add(other);
        return other;
      }
    }
    throw new LpError("CLUSTER_PORT_IN_USE", `no free port for the ${what}`);
  };
  const upward = async (base: number, what: string): Promise<number> => {
    for (let port = base; port < base + 1000 && port <= 65535; port++) {
      if (taken.has(port)) continue;
      if (await isFree(port)) {
        taken.add(port);
        return port;
      }
    }
    throw new LpError("CLUSTER_PORT_IN_USE", `no free port for the ${what} from ${base} upward`);
  };
  const gateway = {
    rtmp: await fixed(CLUSTER_DEFAULTS.gateway.rtmp, "gateway RTMP"),
    http: await fixed(CLUSTER_DEFAULTS.gateway.http, "gateway HTTP"),
    cli: await fixed(CLUSTER_DEFAULTS.gateway.cli, "gateway CLI"),
  };
  const orchs: ClusterPorts["orchestrators"] = [];
  for (let i = 0; i < orchestrators; i++) {
    orchs.push({
      service: await upward(CLUSTER_DEFAULTS.orchestratorPortBase, `orchestrator ${i + 1}`),
      cli: await upward(CLUSTER_DEFAULTS.orchestratorCliPortBase, `orchestrator ${i + 1}'s CLI`),
    });
  }
  return { gateway, orchestrators: orchs };
}

/** One node to spawn: its name (data folder and log file), account and argv after the script. */
export interface ClusterNodeSpec {
  name: string;
  role: "orchestrator" | "gateway";
  address: Address;
  args: string[];
  cliUrl: string;
}

/** What {@link clusterNodeSpecs} needs: the chain, the ports, the accounts' key files. */
export interface ClusterLayout {
  dir: string;
  doc: DevnetDocument;
  ports: ClusterPorts;
  /** Each node's account (orchestrators first, then the gateway) and its password file. */
  keys: { address: Address; keystore: string; passwordFile: string }[];
  demo: boolean;
  transcodingOptions: string;
}

/** The service URI orchestrator `i` registers and serves on. */
export function orchestratorUri(ports: ClusterPorts, i: number): string {
  return `https://127.0.0.1:${ports.orchestrators[i]!.service}`;
}

/** The lp-node argv of every node of the cluster (pure: the flags are the cluster's wiring). */
export function clusterNodeSpecs(layout: ClusterLayout): ClusterNodeSpec[] {
  const { doc, ports, keys, dir } = layout;
  const d = CLUSTER_DEFAULTS;
  const chainFlags = (i: number, name: string) => [
    ...doc.flags,
    "-ethKeystorePath",
    keys[i]!.keystore,
    "-ethPassword",
    keys[i]!.passwordFile,
    "-blockPollingInterval",
    "1",
    "-datadir",
    join(dir, name),
  ];
  const specs: ClusterNodeSpec[] = ports.orchestrators.map((p, i) => {
    const name = `orchestrator-${i + 1}`;
    return {
      name,
      role: "orchestrator",
      address: keys[i]!.address,
      cliUrl: `http://127.0.0.1:${p.cli}`,
      args: [
        "--mode",
        "orchestrator,transcoder",
        "-serviceAddr",
        `127.0.0.1:${p.service}`,
        "-cliAddr",
        `127.0.0.1:${p.cli}`,
        "-pricePerUnit",
        d.pricePerUnit.toString(),
        "-pixelsPerUnit",
        "1",
        // The devnet's gas is all but free: a price without the redemption overhead stays the
        // one the gateway's ceiling names.
        "-autoAdjustPrice=false",
        "-ticketEV",
        d.ticketEV.toString(),
        "-maxFaceValue",
        d.maxFaceValue.toString(),
        "-reward",
        "-initializeRound",
        "-initializeRoundMaxDelay",
        d.initializeRoundMaxDelay,
        ...chainFlags(i, name),
      ],
    };
  });
  const g = keys.length - 1;
  specs.push({
    name: "gateway",
    role: "gateway",
    address: keys[g]!.address,
    cliUrl: `http://127.0.0.1:${ports.gateway.cli}`,
    args: [
      "--mode",
      "gateway",
      "-rtmpAddr",
      `127.0.0.1:${ports.gateway.rtmp}`,
      "-httpAddr",
      `127.0.0.1:${ports.gateway.http}`,
      "-cliAddr",
      `127.0.0.1:${ports.gateway.cli}`,
      // No -orchAddr: the gateway finds the orchestrators on chain, as a gateway on a real network does.
      "-maxPricePerUnit",
      d.pricePerUnit.toString(),
      "-pixelsPerUnit",
      "1",
      // winProb is rounded up, so a ticket's EV is a hair over -ticketEV: twice it is the ceiling.
      "-maxTicketEV",
      (d.ticketEV * 2n).toString(),
      // A segment of a tall ladder can need several tickets at once.
      "-maxTotalEV",
      (d.ticketEV * 100n).toString(),
      ...(layout.transcodingOptions !== "" ? ["-transcodingOptions", layout.transcodingOptions] : []),
      ...(layout.demo ? ["-demo"] : []),
      ...chainFlags(g, "gateway"),
    ],
  });
  return specs;
}

/** Writes cluster.json atomically with mode 0600 (its devnet part holds private keys). */
export function writeClusterDocument(path: string, doc: ClusterDocument): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(doc, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}

/** Human text for a ready cluster: where to stream, where to watch, each node's status. */
export function describeCluster(doc: ClusterDocument, dir: string, demo: boolean): string {
  const g = doc.gateway;
  const stream = demo ? "demo" : "<stream>";
  const lines = [
    `cluster ready: ${doc.orchestrators.length} orchestrator(s) and a gateway on devnet ${doc.devnet.rpcUrl} (rounds of ${doc.devnet.roundLength} blocks)`,
    `cluster.json (addresses, ports, devnet keys): ${join(dir, CLUSTER_JSON)}`,
    "",
    demo ? "The gateway publishes a test pattern as stream demo." : "Stream into the gateway:",
    ...(demo
      ? []
      : [
          `  RTMP       ${g.rtmp}/live/<stream>   (OBS: server ${g.rtmp}/live, stream key <stream>)`,
          `  HTTP push  ${g.http}/live/<stream>/<seq>.ts`,
        ]),
    `Watch: ${g.http}/stream/${stream}.m3u8`,
    "",
    "Status:",
    `  gateway         ${g.address}  ${g.cli}/status  log ${g.log}`,
    ...doc.orchestrators.map(
      (o, i) => `  orchestrator-${i + 1}  ${o.address}  ${o.cli}/status  ${o.serviceURI}  log ${o.log}`,
    ),
    "",
    "Ctrl-C stops every node, then the chain.",
  ];
  return `${lines.join("\n")}\n`;
}

/** The last `bytes` of a file, for a failed node's report (empty when it cannot be read). */
export function logTail(path: string, bytes = 4096): string {
  let fd: number | null = null;
  try {
    const size = statSync(path).size;
    const length = Math.min(size, bytes);
    const buf = Buffer.alloc(length);
    fd = openSync(path, "r");
    readSync(fd, buf, 0, length, size - length);
    return buf.toString("utf8");
  } catch {
    return "";
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

/** A node process of the cluster. */
interface RunningNode {
  spec: ClusterNodeSpec;
  log: string;
  child: RunningChild;
  exited: boolean;
}

type AnvilRequest = (args: { method: string; params: unknown[] }) => Promise<unknown>;

// Explicit gas: no estimation round trips, and an account's transactions go out back to back.
const TX_GAS = 1_000_000n;

/**
 * Registers each orchestrator (approve, bond to self, transcoder(rewardCut, feeShare),
 * setServiceURI) and funds the gateway's deposit and reserve, every account's transactions in
 * nonce order and all accounts at once; resolves once all are mined, or names the one that failed.
 */
async function registerNodes(
  publicClient: PublicClient,
  doc: DevnetDocument,
  orchestrators: { key: Hex; uri: string }[],
  gatewayKey: Hex,
): Promise<void> {
  const transport = http(doc.rpcUrl, { retryCount: 0, timeout: 30_000 });
  const d = CLUSTER_DEFAULTS;
  const c = doc.contracts;
  type Call = { label: string; address: Address; abi: Abi; fn: string; args: unknown[]; value?: bigint };
  const plans: { key: Hex; calls: Call[] }[] = orchestrators.map(({ key, uri }) => {
    const self = privateKeyToAccount(key).address;
    return {
      key,
      calls: [
        {
          label: "approve",
          address: c.LivepeerToken,
          abi: livepeerTokenAbi,
          fn: "approve",
          args: [c.BondingManager, d.stake],
        },
        {
          label: "bond",
          address: c.BondingManager,
          abi: bondingManagerAbi,
          fn: "bond",
          args: [d.stake, self],
        },
        {
          label: "transcoder",
          address: c.BondingManager,
          abi: bondingManagerAbi,
          fn: "transcoder",
          args: [d.rewardCut, d.feeShare],
        },
        {
          label: "setServiceURI",
          address: c.ServiceRegistry,
          abi: serviceRegistryAbi,
          fn: "setServiceURI",
          args: [uri],
        },
      ],
    };
  });
  plans.push({
    key: gatewayKey,
    calls: [
      {
        label: "fundDepositAndReserve",
        address: c.TicketBroker,
        abi: ticketBrokerAbi,
        fn: "fundDepositAndReserve",
        args: [d.deposit, d.reserve],
        value: d.deposit + d.reserve,
      },
    ],
  });
  const sent = await Promise.all(
    plans.map(async ({ key, calls }) => {
      const account = privateKeyToAccount(key);
      const wallet = createWalletClient({ chain: foundry, transport, account });
      let nonce = await publicClient.getTransactionCount({ address: account.address, blockTag: "pending" });
      const hashes: { label: string; hash: Hex }[] = [];
      for (const call of calls) {
        const hash = await wallet.writeContract({
          address: call.address,
          abi: call.abi,
          functionName: call.fn,
          args: call.args,
          value: call.value,
          nonce: nonce++,
          gas: TX_GAS,
        } as never);
        hashes.push({ label: `${call.label} from ${account.address}`, hash });
      }
      return hashes;
    }),
  );
  for (const { label, hash } of sent.flat()) {
    const receipt = await publicClient.waitForTransactionReceipt({ hash, pollingInterval: 50 });
    if (receipt.status !== "success") throw new Error(`${label} failed (tx ${hash})`);
  }
}

// The lp-node entry script of this build: dist/src/eth/cluster.js -> dist/src/cli/main.js.
function defaultMainScript(): string {
  return fileURLToPath(new URL("../cli/main.js", import.meta.url));
}

// A node's environment: the user's, less LP_* settings, which would change the cluster's wiring.
function nodeEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("LP_")));
}

async function statusOk(url: string): Promise<Record<string, unknown> | null> {
  try {
    const res = await fetch(`${url}/status`, { signal: AbortSignal.timeout(2_000) });
    if (!res.ok) {
      await res.body?.cancel();
      return null;
    }
    return (await res.json()) as Record<string, unknown>;
  } catch {
    return null;
  }
}

/** The first paid segment a gateway's /status shows: a stream with a segment done and a payment session. */
export function firstPaidSegment(
  status: Record<string, unknown> | null,
): { stream: string; orchestrator: string } | null {
  const streams = status?.["Streams"];
  if (typeof streams !== "object" || streams === null) return null;
  for (const [stream, value] of Object.entries(streams as Record<string, unknown>)) {
    const s = value as { segmentsOk?: unknown; payment?: unknown; orchestrator?: unknown };
    if (
      typeof s.segmentsOk === "number" &&
      s.segmentsOk > 0 &&
      typeof s.payment === "object" &&
      s.payment !== null
    ) {
      return { stream, orchestrator: String(s.orchestrator ?? "") };
    }
  }
  return null;
}

/** How long a node has to answer /status after it is spawned. */
const NODE_START_TIMEOUT_MS = 120_000;
/** How long a node has to stop after SIGTERM before it is killed (the node forces its own exit at 10 s). */
const NODE_STOP_GRACE_MS = 15_000;

/**
 * `lp-node devnet --cluster`: a fresh devnet with N registered, active orchestrators (each with
 * a local transcoder) and a funded gateway, all as child processes wired to each other; runs
 * until io.signal aborts. Plays the part of go-livepeer's devtool scripts run per role, in one
 * command. Exit status as `lp-node devnet`'s; a node that dies while starting fails it (1) with
 * the tail of its log.
 */
export async function clusterCommand(options: DevnetOptions, io: DevnetIO): Promise<number> {
  const { log, progress, elapsedMs } = devnetProgress(io, "the cluster");
  const seconds = () => (elapsedMs() / 1000).toFixed(1);
  const n = options.orchestrators;
  let unlock: (() => void) | null = null;
  let anvil: AnvilProcess | null = null;
  const nodes: RunningNode[] = [];
  const stopNodes = async () => {
    await Promise.all(
      nodes.map(async (node) => {
        if (node.exited) return;
        node.child.kill("SIGTERM");
        const timer = setTimeout(() => node.child.kill("SIGKILL"), NODE_STOP_GRACE_MS);
        await node.child.done;
        clearTimeout(timer);
      }),
    );
  };
  try {
    mkdirSync(options.dir, { recursive: true, mode: 0o700 });
    unlock = lockDir(options.dir);
    // Ports first: a taken one fails the command before anything slow starts.
    const ports = await pickClusterPorts(n, options.freePorts);
    let rpcPort = options.port;
    if (options.freePorts && !options.portGiven && !(await portFree(rpcPort))) rpcPort = 0;

    rmSync(join(options.dir, CLUSTER_JSON), { force: true });
    progress(`starting anvil on 127.0.0.1:${rpcPort}`);
    // Automine while setting up (each transaction mined at once); interval mining afterwards.
    anvil = await spawnAnvil({ port: rpcPort, chainId: DEVNET_CHAIN_ID });
    progress(`anvil listening on ${anvil.url} (pid ${anvil.pid})`);
    const doc = await deployFresh(
      anvil.url,
      { accounts: n + 1 + options.accounts, dir: options.dir, roundLength: options.roundLength },
      progress,
    );

    const transport = http(anvil.url, { retryCount: 0, timeout: 30_000 });
    const publicClient = createPublicClient({
      chain: foundry,
      transport,
      pollingInterval: 50,
    }) as PublicClient;
    const orchAccounts = doc.accounts.slice(0, n);
    const gatewayAccount = doc.accounts[n]!;
    progress(`registering ${n} orchestrator(s) and funding the gateway ${gatewayAccount.address}`);
    await registerNodes(
      publicClient,
      doc,
      orchAccounts.map((a, i) => ({ key: a.privateKey, uri: orchestratorUri(ports, i) })),
      gatewayAccount.privateKey,
    );
    progress("starting the next round, in which the orchestrators are active");
    const deployer = createWalletClient({
      chain: foundry,
      transport,
      account: privateKeyToAccount(DEVNET_DEPLOYER_KEY),
    });
    const round = await advanceToNextRound({ wallet: deployer, publicClient }, doc.contracts.RoundsManager);
    for (const a of orchAccounts) {
      const active = await publicClient.readContract({
        address: doc.contracts.BondingManager,
        abi: bondingManagerAbi,
        functionName: "isActiveTranscoder",
        args: [a.address],
      });
      if (!active) throw new Error(`orchestrator ${a.address} is not active in round ${round}`);
    }
    const blockTime = options.blockTime ?? 1;
    await (publicClient.request as unknown as AnvilRequest)({
      method: "evm_setIntervalMining",
      params: [blockTime],
    });
    progress(`round ${round} initialised; a block every ${blockTime} s from now on`);

    // Each node gets its own folder (a fresh one: its ticket store belongs to the old chain) and
    // reads its password from a file there, so no secret shows in a process listing.
    const nodeAccounts = [...orchAccounts, gatewayAccount];
    const names = [...orchAccounts.map((_, i) => `orchestrator-${i + 1}`), "gateway"];
    const keys = nodeAccounts.map((a, i) => {
      const folder = join(options.dir, names[i]!);
      rmSync(folder, { recursive: true, force: true });
      mkdirSync(folder, { recursive: true, mode: 0o700 });
      const passwordFile = join(folder, "password");
      writeFileSync(passwordFile, a.password, { mode: 0o600 });
      return { address: a.address, keystore: a.keystore, passwordFile };
    });
    const specs = clusterNodeSpecs({
      dir: options.dir,
      doc,
      ports,
      keys,
      demo: options.demo,
      transcodingOptions: options.transcodingOptions,
    });
    const mainScript = io.mainScript ?? defaultMainScript();
    const env = nodeEnv();
    for (const spec of specs) {
      const logPath = join(options.dir, `${spec.name}.log`);
      const fd = openSync(logPath, "w", 0o600);
      let child: RunningChild;
      try {
        child = spawnProcess(process.execPath, [mainScript, ...spec.args], {
          output: fd,
          env,
          // A cluster command killed outright takes its nodes with it.
          parentDeathSignal: "SIGTERM",
          // Ctrl-C reaches the cluster command alone, which stops the nodes once, in order.
          newProcessGroup: true,
        });
      } finally {
        closeSync(fd); // the child holds its own copy
      }
      const node: RunningNode = { spec, log: logPath, child, exited: false };
      void child.done.then(() => {
        node.exited = true;
      });
      nodes.push(node);
    }
    progress(`started ${specs.map((s, i) => `${s.name} (pid ${nodes[i]!.child.pid})`).join(", ")}`);

    // Ready when every node answers /status; a node that exits first fails the command.
    const deadline = elapsedMs() + NODE_START_TIMEOUT_MS;
    const pending = new Set(nodes);
    while (pending.size > 0) {
      if (io.signal.aborted)
        throw new LpError("DEVNET_INTERRUPTED", "interrupted before the cluster was ready");
      for (const node of [...pending]) {
        if (node.exited) {
          const exit = await node.child.done;
          throw new LpError(
            "CLUSTER_NODE_FAILED",
            `${node.spec.name} exited while starting (code ${exit.code}, signal ${exit.signal}); the end of ${node.log}:\n${logTail(node.log)}`,
          );
        }
        if ((await statusOk(node.spec.cliUrl)) !== null) {
          pending.delete(node);
          log(`${node.spec.name} ready`);
        }
      }
      if (pending.size > 0) {
        if (elapsedMs() > deadline) {
          const names = [...pending].map((p) => p.spec.name).join(", ");
          throw new LpError(
            "CLUSTER_NODE_FAILED",
            `${names} did not answer /status in ${NODE_START_TIMEOUT_MS} ms`,
          );
        }
        await sleep(200, io.signal);
      }
    }

    const entry = (spec: ClusterNodeSpec) => ({
      address: spec.address,
      cli: spec.cliUrl,
      log: join(options.dir, `${spec.name}.log`),
    });
    const gatewaySpec = specs[specs.length - 1]!;
    const cluster: ClusterDocument = {
      gateway: {
        ...entry(gatewaySpec),
        rtmp: `rtmp://127.0.0.1:${ports.gateway.rtmp}`,
        http: `http://127.0.0.1:${ports.gateway.http}`,
      },
      orchestrators: specs
        .slice(0, n)
        .map((spec, i) => ({ ...entry(spec), serviceURI: orchestratorUri(ports, i) })),
      devnet: doc,
    };
    writeClusterDocument(join(options.dir, CLUSTER_JSON), cluster);
    log(`ready in ${seconds()} s`);
    io.stdout.write(
      options.json ? `${JSON.stringify(cluster)}\n` : describeCluster(cluster, options.dir, options.demo),
    );

    // Runs until a signal or until the chain dies. A node that dies now is reported and the
    // rest keep going: stopping an orchestrator to watch the gateway fail over is a use.
    const reported = new Set<RunningNode>();
    let paidSeen = false;
    const exited = anvil.exited;
    let anvilDied = false;
    void exited.then(() => {
      anvilDied = true;
    });
    while (!io.signal.aborted && !anvilDied) {
      for (const node of nodes) {
        if (node.exited && !reported.has(node)) {
          reported.add(node);
          const exit = await node.child.done;
          io.stderr.write(
            `lp-node devnet: ${node.spec.name} exited (code ${exit.code}, signal ${exit.signal}); the end of ${node.log}:\n${logTail(node.log, 2048)}\n`,
          );
        }
      }
      if (!paidSeen) {
        const paid = firstPaidSegment(await statusOk(gatewaySpec.cliUrl));
        if (paid !== null) {
          paidSeen = true;
          log(
            `first paid segment after ${seconds()} s (stream ${paid.stream}, orchestrator ${paid.orchestrator})`,
          );
        }
      }
      await sleep(paidSeen ? 1_000 : 250, io.signal);
    }
    if (anvilDied) {
      const { code, signal } = await exited;
      io.stderr.write(
        `lp-node devnet: anvil exited unexpectedly (code ${code}, signal ${signal}); stopping the nodes\n`,
      );
      await stopNodes();
      return 1;
    }
    log("stopping the nodes");
    await stopNodes();
    log("stopping anvil");
    await anvil.stop();
    log("stopped");
    return 0;
  } catch (err) {
    return devnetFailed(err, io);
  } finally {
    // Every path out stops the nodes, then the chain; both are no-ops once done.
    await stopNodes();
    if (anvil !== null) await anvil.stop();
    unlock?.();
  }
}
