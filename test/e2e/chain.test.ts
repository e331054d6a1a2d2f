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
    // The password never reaches the logs.
    expect(node.stderr).not.toContain(PASSWORD);
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
