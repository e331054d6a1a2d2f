import { mkdirSync } from "node:fs";
import { join } from "node:path";
import {
  createPublicClient,
  createWalletClient,
  hexToBytes,
  http,
  type PublicClient,
  parseEther,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { foundry } from "viem/chains";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bondingManagerAbi, livepeerTokenAbi, serviceRegistryAbi } from "../../src/eth/abis.js";
import { advanceToNextRound, deployDevnet } from "../../src/eth/deploy.js";
import { encryptKeystore, LIGHT_SCRYPT, writeKeystoreFile } from "../../src/eth/keystore.js";
import { ANVIL_KEYS, type Anvil, startAnvil } from "../helpers/anvil.js";
import { LpNodeProcess, runLpNode } from "../helpers/lpNode.js";
import { tempDir } from "../helpers/tmp.js";

const PASSWORD = "correct horse";
const nodeKey = ANVIL_KEYS[1];
const nodeAddress = privateKeyToAccount(nodeKey).address;

let anvil: Anvil;
let controller: string;
let contracts: Record<string, `0x${string}`>;
let datadir: string;

beforeAll(async () => {
  anvil = await startAnvil();
  const transport = http(anvil.url);
  const publicClient = createPublicClient({ chain: foundry, transport, pollingInterval: 50 }) as PublicClient;
  const wallet = createWalletClient({
    chain: foundry,
    transport,
    account: privateKeyToAccount(ANVIL_KEYS[0]),
  });
  const deployed = await deployDevnet({ wallet, publicClient });
  await advanceToNextRound({ wallet, publicClient }, deployed.contracts.RoundsManager);
  controller = deployed.controller;
  contracts = deployed.contracts;
  // The node's account: a keystore in <datadir>/keystore, as an operator would have it.
  datadir = tempDir("lp-chain-");
  mkdirSync(join(datadir, "keystore"));
  const json = await encryptKeystore(hexToBytes(nodeKey), PASSWORD, { scrypt: LIGHT_SCRYPT });
  await writeKeystoreFile(join(datadir, "keystore"), json);
});

afterAll(async () => {
  await anvil?.stop();
});

const onDevnet = (extra: string[] = []) => [
  "--mode",
  "orchestrator,transcoder",
  "-serviceAddr",
  "127.0.0.1:0",
  "-cliAddr",
  "127.0.0.1:0",
  "-startupAvailabilityCheck=false",
  "-network",
  "devnet",
  "-ethUrl",
  anvil.url,
  "-ethController",
  controller,
  "-ethPassword",
  PASSWORD,
  "-blockPollingInterval",
  "1",
  // An orchestrator on a chain needs a price (go-livepeer refuses to start without one).
  "-pricePerUnit",
  "1",
  "-datadir",
  datadir,
  ...extra,
];

describe("a node on a devnet", () => {
  it("connects with its keystore account, follows rounds and shows the chain in /status", async () => {
    const node = new LpNodeProcess(onDevnet());
    const on = await node.waitFor((l) => l["msg"] === "on chain", 30_000);
    expect(on["account"]).toBe(nodeAddress);
    expect(on["chainId"]).toBe(31337);
    const cli = await node.waitFor((l) => l["listener"] === "cli" && typeof l["addr"] === "string");
    const res = await fetch(`http://${cli["addr"]}/status`);
    const status = (await res.json()) as Record<string, unknown>;
    expect(status["Network"]).toBe("devnet");
    expect(status["ChainId"]).toBe(31337);
    expect(status["EthAccount"]).toBe(nodeAddress);
    expect(BigInt(status["EthBalance"] as string)).toBeGreaterThanOrEqual(parseEther("100"));
    const round = status["Round"] as { current: string; initialized: boolean };
    expect(BigInt(round.current)).toBeGreaterThanOrEqual(1n);
    expect(round.initialized).toBe(true);
    expect(status["OrchestratorOnChain"]).toMatchObject({ Address: nodeAddress, Status: "Not Registered" });
    await node.waitFor((l) => String(l["msg"]).includes("not a registered orchestrator"));
    // The password never reaches the logs.
    expect(node.stderr).not.toContain(PASSWORD);
    node.child.kill("SIGTERM");
    expect((await node.exited).code).toBe(0);
  });

  it("reads its registration: stake, terms and a registered service URI that differs from its own", async () => {
    const transport = http(anvil.url);
    const publicClient = createPublicClient({
      chain: foundry,
      transport,
      pollingInterval: 50,
    }) as PublicClient;
    const send = async (key: `0x${string}`, call: object) => {
      const wallet = createWalletClient({ chain: foundry, transport, account: privateKeyToAccount(key) });
      const hash = await wallet.writeContract(call as never);
      expect((await publicClient.waitForTransactionReceipt({ hash, pollingInterval: 50 })).status).toBe(
        "success",
      );
    };
    const stake = parseEther("1000");
    await send(ANVIL_KEYS[0], {
      address: contracts.LivepeerToken,
      abi: livepeerTokenAbi,
      functionName: "transfer",
      args: [nodeAddress, stake],
    });
    await send(nodeKey, {
      address: contracts.LivepeerToken,
      abi: livepeerTokenAbi,
      functionName: "approve",
      args: [contracts.BondingManager, stake],
    });
    await send(nodeKey, {
      address: contracts.BondingManager,
      abi: bondingManagerAbi,
      functionName: "bond",
      args: [stake, nodeAddress],
    });
    await send(nodeKey, {
      address: contracts.BondingManager,
      abi: bondingManagerAbi,
      functionName: "transcoder",
      args: [50_000n, 250_000n],
    });
    await send(nodeKey, {
      address: contracts.ServiceRegistry,
      abi: serviceRegistryAbi,
      functionName: "setServiceURI",
      args: ["https://orch.example:8935"],
    });
    const node = new LpNodeProcess(onDevnet());
    await node.waitFor((l) => String(l["msg"]).includes("differs from the one this node serves"), 30_000);
    const cli = await node.waitFor((l) => l["listener"] === "cli" && typeof l["addr"] === "string");
    const status = (await (await fetch(`http://${cli["addr"]}/status`)).json()) as Record<string, unknown>;
    expect(status["OrchestratorOnChain"]).toMatchObject({
      Status: "Registered",
      TotalStake: stake.toString(),
      RewardCut: "50000",
      FeeShare: "250000",
      ServiceURI: "https://orch.example:8935",
      ServiceURIMatches: false,
    });
    node.child.kill("SIGTERM");
    expect((await node.exited).code).toBe(0);
  });

  it("stops with exit 2 and one line for each chain problem it cannot start with", async () => {
    const cases: [string[], RegExp][] = [
      [["-ethController", "0x000000000000000000000000000000000000dEaD"], /has no contract code/],
      [["-ethPassword", "wrong password"], /could not decrypt key with given password/],
      [["-ethUrl", "http://127.0.0.1:9"], /did not answer eth_chainId/],
      [["-network", "arbitrum-one-mainnet"], /chain id 42161, but .* serves chain id 31337/],
    ];
    const results = await Promise.all(cases.map(([extra]) => runLpNode(onDevnet(extra), {}, 60_000)));
    results.forEach((r, i) => {
      expect(r.code, r.stderr).toBe(2);
      const lines = r.stderr.split("\n").filter((l) => l.startsWith("lp-node: "));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(cases[i]![1]);
      expect(r.stderr).not.toContain("wrong password");
    });
  });
});
