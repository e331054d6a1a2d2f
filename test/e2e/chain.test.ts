import { parseEther } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ANVIL_KEYS } from "../helpers/anvil.js";
import { LpNodeProcess, runLpNode } from "../helpers/lpNode.js";
import { keystoreDataDir, startTestChain, type TestChain } from "../helpers/testChain.js";

const PASSWORD = "correct horse";
const nodeKey = ANVIL_KEYS[1];
const nodeAddress = privateKeyToAccount(nodeKey).address;

let chain: TestChain;
let datadir: string;

beforeAll(async () => {
  chain = await startTestChain();
  // The node's account: a keystore in <datadir>/keystore, as an operator would have it.
  datadir = await keystoreDataDir(nodeKey, PASSWORD);
});

afterAll(async () => {
  await chain?.stop();
});

const onDevnet = (extra: string[] = []) => [
  "--mode",
  "orchestrator,transcoder",
  "-serviceAddr",
  "127.0.0.1:0",
  "-cliAddr",
  "127.0.0.1:0",
  "-startupAvailabilityCheck=false",
  ...chain.flags(),
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
    const stake = parseEther("1000");
    await chain.send(ANVIL_KEYS[0], "LivepeerToken", "transfer", [nodeAddress, stake]);
    await chain.send(nodeKey, "LivepeerToken", "approve", [chain.dev.contracts.BondingManager, stake]);
    await chain.send(nodeKey, "BondingManager", "bond", [stake, nodeAddress]);
    await chain.send(nodeKey, "BondingManager", "transcoder", [50_000n, 250_000n]);
    await chain.send(nodeKey, "ServiceRegistry", "setServiceURI", ["https://orch.example:8935"]);
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
