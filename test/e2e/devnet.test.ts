import type { ChildProcess } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { performance } from "node:perf_hooks";
import { type Address, bytesToHex, createPublicClient, http, type PublicClient, parseEther } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { foundry } from "viem/chains";
import { describe, expect, it } from "vitest";
import {
  bondingManagerAbi,
  livepeerTokenAbi,
  roundsManagerAbi,
  ticketBrokerAbi,
} from "../../src/eth/abis.js";
import { loadAccount } from "../../src/eth/account.js";
import { ChainClient } from "../../src/eth/ChainClient.js";
import { decryptKeystore } from "../../src/eth/keystore.js";
import { chainConfigFromOptions } from "../../src/eth/networks.js";
import { TxManager } from "../../src/eth/TxManager.js";
import { isAlive } from "../../src/utils/process.js";
import type { DevnetDoc } from "../helpers/devnetDoc.js";
import { spawnLpNode } from "../helpers/lpNode.js";
import { tempDir } from "../helpers/tmp.js";
import { waitFor } from "../helpers/waitFor.js";

/** One `lp-node devnet` process: its document (the JSON line), anvil's pid and output so far. */
interface Devnet {
  child: ChildProcess;
  doc: DevnetDoc;
  anvilPid: number;
  readyMs: number;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

// A failed test leaves no devnet behind: the setup file's stopAllLpNodes SIGKILLs every spawned
// lp-node, and anvil follows by its parent-death signal.
function spawnDevnet(args: string[]) {
  const started = performance.now();
  return { ...spawnLpNode(["devnet", ...args]), started };
}

async function startDevnet(args: string[]): Promise<Devnet> {
  const p = spawnDevnet(args);
  let exitedEarly = false;
  p.exited.then(() => {
    exitedEarly = true;
  });
  const line = await waitFor(
    () => {
      if (exitedEarly) throw new Error(`lp-node devnet exited before it was ready:\n${p.stderr()}`);
      const nl = p.stdout().indexOf("\n");
      return nl >= 0 ? p.stdout().slice(0, nl) : null;
    },
    { timeoutMs: 60_000 },
  );
  const readyMs = performance.now() - p.started;
  const pid = /anvil listening on \S+ \(pid (\d+)\)/.exec(p.stderr());
  expect(pid, p.stderr()).not.toBeNull();
  return {
    child: p.child,
    doc: JSON.parse(line!) as DevnetDoc,
    anvilPid: Number(pid![1]),
    readyMs,
    stderr: p.stderr,
    exited: p.exited,
  };
}

function clientFor(doc: DevnetDoc): PublicClient {
  return createPublicClient({
    chain: foundry,
    transport: http(doc.rpcUrl),
    pollingInterval: 50,
  }) as PublicClient;
}

const CONTRACTS = [
  "Controller",
  "LivepeerToken",
  "LivepeerTokenFaucet",
  "BondingManager",
  "TicketBroker",
  "RoundsManager",
  "Minter",
  "ServiceRegistry",
];

describe("lp-node devnet", () => {
  const dir = tempDir("lp-devnet-");
  let first: Devnet;
  const bond = parseEther("500");

  it("starts anvil, deploys, initialises a round, funds accounts and prints devnet.json as one line", async () => {
    first = await startDevnet(["--port", "0", "--dir", dir, "--json"]);
    process.stderr.write(
      `lp-node devnet: ready in ${Math.round(first.readyMs)} ms (from spawn to the JSON line)\n`,
    );
    const doc = first.doc;
    expect(Object.keys(doc)).toEqual([
      "chainId",
      "rpcUrl",
      "controller",
      "contracts",
      "roundLength",
      "accounts",
      "flags",
    ]);
    expect(doc.chainId).toBe(31337);
    expect(doc.rpcUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(doc.roundLength).toBe(50);
    expect(Object.keys(doc.contracts)).toEqual(CONTRACTS);
    expect(doc.controller).toBe(doc.contracts.Controller);
    expect(doc.flags).toEqual([
      "-network",
      "devnet",
      "-ethUrl",
      doc.rpcUrl,
      "-ethController",
      doc.controller,
    ]);
    // The file says the same, and only its owner can read it (it holds keys).
    const path = join(dir, "devnet.json");
    expect(JSON.parse(readFileSync(path, "utf8"))).toEqual(doc);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    // One progress line per step, with elapsed ms, all on stderr.
    expect(first.stderr()).toMatch(/lp-node devnet: \[\d+ ms\] deploying contracts/);

    const client = clientFor(doc);
    expect(await client.getChainId()).toBe(31337);
    for (const name of CONTRACTS) {
      const code = await client.getCode({ address: doc.contracts[name]! });
      expect(code && code.length > 2, `${name} has code`).toBe(true);
    }
    // Past round 0, with the current round initialised.
    const rm = { address: doc.contracts.RoundsManager!, abi: roundsManagerAbi } as const;
    expect(await client.readContract({ ...rm, functionName: "currentRound" })).toBeGreaterThanOrEqual(1n);
    expect(await client.readContract({ ...rm, functionName: "currentRoundInitialized" })).toBe(true);
    expect(await client.readContract({ ...rm, functionName: "roundLength" })).toBe(50n);

    expect(doc.accounts).toHaveLength(4);
    expect(new Set(doc.accounts.map((a) => a.address)).size).toBe(4);
    for (const acc of doc.accounts) {
      expect(privateKeyToAccount(acc.privateKey).address).toBe(acc.address);
      expect(await client.getBalance({ address: acc.address })).toBeGreaterThanOrEqual(parseEther("100"));
      const lpt = await client.readContract({
        address: doc.contracts.LivepeerToken!,
        abi: livepeerTokenAbi,
        functionName: "balanceOf",
        args: [acc.address],
      });
      expect(lpt).toBeGreaterThanOrEqual(parseEther("1000"));
      expect(isAbsolute(acc.keystore)).toBe(true);
      expect(statSync(acc.keystore).mode & 0o777).toBe(0o600);
      expect(acc.password.length).toBeGreaterThan(0);
    }
    // A keystore file opens with its password to the listed account.
    const acc0 = doc.accounts[0]!;
    const key = await decryptKeystore(JSON.parse(readFileSync(acc0.keystore, "utf8")), acc0.password);
    expect(privateKeyToAccount(bytesToHex(key)).address).toBe(acc0.address);
  });

  it("takes a ticket-broker deposit and a bond through the node's own chain code (keystore, client, tx manager)", async () => {
    const { doc } = first;
    const acc = doc.accounts[0]!;
    const chain = chainConfigFromOptions({
      network: "devnet",
      ethUrl: doc.rpcUrl,
      ethController: doc.controller,
      blockPollingInterval: 0.05,
    }).config!;
    const client = await ChainClient.connect({ config: chain });
    try {
      const { signer } = await loadAccount(
        { dataDir: tempDir(), ethKeystorePath: acc.keystore, ethPassword: acc.password },
        { prompt: null },
      );
      expect(signer.address).toBe(acc.address);
      const tx = new TxManager(
        {
          chainId: client.chainId,
          maxGasPrice: null,
          gasLimit: null,
          txTimeoutMs: 30_000,
          maxReplacements: 1,
          pollIntervalMs: 50,
        },
        { publicClient: client.publicClient, account: signer.account() },
      );
      const a = client.addresses;
      await tx.writeContract({
        address: a.TicketBroker,
        abi: ticketBrokerAbi,
        functionName: "fundDepositAndReserve",
        args: [parseEther("1"), parseEther("2")],
        value: parseEther("3"),
      });
      const sender = await client.senderInfo(acc.address);
      expect(sender.deposit).toBe(parseEther("1"));
      expect(sender.reserve.fundsRemaining).toBe(parseEther("2"));

      await tx.writeContract({
        address: a.LivepeerToken,
        abi: livepeerTokenAbi,
        functionName: "approve",
        args: [a.BondingManager, bond],
      });
      await tx.writeContract({
        address: a.BondingManager,
        abi: bondingManagerAbi,
        functionName: "bond",
        args: [bond, acc.address],
      });
      expect((await client.delegatorInfo(acc.address)).bondedAmount).toBe(bond);
      expect(await bondedAmount(doc, acc.address)).toBe(bond);
    } finally {
      await client.close();
    }
  });

  it("runs a second devnet on another port and folder without disturbing the first; a taken port is exit 2", async () => {
    const before = await clientFor(first.doc).getBlockNumber({ cacheTime: 0 });
    const second = await startDevnet([
      "--port",
      "0",
      "--dir",
      tempDir("lp-devnet-"),
      "--json",
      "--accounts",
      "2",
    ]);
    try {
      expect(second.doc.rpcUrl).not.toBe(first.doc.rpcUrl);
      expect(second.doc.accounts).toHaveLength(2);
      expect(await clientFor(first.doc).getBlockNumber({ cacheTime: 0 })).toBe(before);
      expect(await bondedAmount(first.doc, first.doc.accounts[0]!.address)).toBe(bond);

      const port = new URL(first.doc.rpcUrl).port;
      const clash = spawnDevnet(["--port", port, "--dir", tempDir("lp-devnet-"), "--json"]);
      const { code } = await clash.exited;
      expect(code).toBe(2);
      expect(clash.stderr()).toContain(`port ${port} on 127.0.0.1 is already in use`);
      expect(clash.stdout()).toBe("");
      // The same folder as a running devnet is refused too.
      const same = spawnDevnet(["--port", "0", "--dir", dir, "--json"]);
      expect((await same.exited).code).toBe(2);
      expect(same.stderr()).toContain("is in use by another devnet");
      expect(await bondedAmount(first.doc, first.doc.accounts[0]!.address)).toBe(bond);
    } finally {
      second.child.kill("SIGTERM");
      expect((await second.exited).code).toBe(0);
    }
  });

  it("stops anvil on SIGTERM and exits 0", async () => {
    first.child.kill("SIGTERM");
    expect(await first.exited).toEqual({ code: 0, signal: null });
    expect(isAlive(first.anvilPid)).toBe(false);
  });

  it("loads the saved chain on restart with the same folder: same contracts, accounts and bond", async () => {
    const again = await startDevnet(["--port", "0", "--dir", dir, "--json"]);
    try {
      process.stderr.write(`lp-node devnet: restarted in ${Math.round(again.readyMs)} ms\n`);
      expect(again.stderr()).toContain("loaded the saved devnet");
      expect(again.doc.controller).toBe(first.doc.controller);
      expect(again.doc.contracts).toEqual(first.doc.contracts);
      expect(again.doc.accounts).toEqual(first.doc.accounts);
      expect(again.doc.flags).toEqual([
        "-network",
        "devnet",
        "-ethUrl",
        again.doc.rpcUrl,
        "-ethController",
        first.doc.controller,
      ]);
      expect(JSON.parse(readFileSync(join(dir, "devnet.json"), "utf8"))).toEqual(again.doc);
      expect(await bondedAmount(again.doc, first.doc.accounts[0]!.address)).toBe(bond);
    } finally {
      again.child.kill("SIGINT");
      expect((await again.exited).code).toBe(0);
    }
    expect(isAlive(again.anvilPid)).toBe(false);
  });

  it("leaves no anvil behind when lp-node itself is killed with SIGKILL", async () => {
    const devnet = await startDevnet([
      "--port",
      "0",
      "--dir",
      tempDir("lp-devnet-"),
      "--json",
      "--accounts",
      "1",
    ]);
    expect(isAlive(devnet.anvilPid)).toBe(true);
    devnet.child.kill("SIGKILL");
    await devnet.exited;
    await waitFor(() => !isAlive(devnet.anvilPid), { timeoutMs: 10_000 });
  });
});

async function bondedAmount(doc: DevnetDoc, address: Address): Promise<bigint> {
  const d = (await clientFor(doc).readContract({
    address: doc.contracts.BondingManager!,
    abi: bondingManagerAbi,
    functionName: "getDelegator",
    args: [address],
  })) as readonly unknown[];
  return d[0] as bigint;
}
