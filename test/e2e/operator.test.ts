import { readFileSync } from "node:fs";
import { type Abi, type Address, type Hex, parseEther } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { beforeAll, describe, expect, it } from "vitest";
import { abis } from "../../src/eth/abis.js";
import { ANVIL_KEYS } from "../helpers/anvil.js";
import { LpNodeProcess, runLpNode } from "../helpers/lpNode.js";
import { makeClip } from "../helpers/media.js";
import {
  chainNodeFlags,
  fundSender,
  onChainGatewayArgs,
  onChainOrchestratorArgs,
  stopNodesAndChain,
  ticketsOf,
  waitForRedeemed,
} from "../helpers/paidChain.js";
import { keystoreDataDir, setBalance, startTestChain, type TestChain } from "../helpers/testChain.js";
import { waitFor } from "../helpers/waitFor.js";

// Operators register and configure orchestrators with `lp-node` subcommands, straight to a devnet
// and through a running node's CLI API; an orchestrator node whose hot key differs from its
// on-chain address (-ethOrchAddr) is paid with tickets made out to that address.

const PASSWORD = "operator e2e";
const FACE = parseEther("0.01");
const [deployerKey, o1Key, o2Key, gatewayKey] = ANVIL_KEYS;
const o1 = privateKeyToAccount(o1Key).address;
const o2 = privateKeyToAccount(o2Key).address;
// Two more accounts: the third orchestrator (through its node) and the hot key of -ethOrchAddr.
const o3Key = generatePrivateKey();
const hotKey = generatePrivateKey();
const o3 = privateKeyToAccount(o3Key).address;
const hot = privateKeyToAccount(hotKey).address;
let chain: TestChain;
const dirs = new Map<Hex, string>();

const dir = async (key: Hex) => {
  if (!dirs.has(key)) dirs.set(key, await keystoreDataDir(key, PASSWORD, "lp-operator-"));
  return dirs.get(key)!;
};
const chainFlags = async (key: Hex) =>
  chainNodeFlags(chain, { password: PASSWORD, datadir: await dir(key), cli: false });
const nonce = (address: Address) => chain.publicClient.getTransactionCount({ address, blockTag: "pending" });
const read = <T>(name: keyof typeof abis, functionName: string, args: unknown[] = []) =>
  chain.publicClient.readContract({
    address: chain.dev.contracts[name],
    abi: abis[name] as Abi,
    functionName,
    args,
  }) as Promise<T>;

/** Runs an lp-node subcommand with --json; returns its exit status and the JSON line. */
async function lp(
  args: string[],
): Promise<{ code: number | null; out: Record<string, unknown>; stderr: string }> {
  const r = await runLpNode([...args, "--json"], {}, 60_000);
  let out: Record<string, unknown> = {};
  try {
    out = JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}");
  } catch {
    // asserted by the caller through `code` and `stderr`
  }
  return { code: r.code, out, stderr: r.stderr };
}

/** The settings of `lp-node orchestrator activate`, each given as a flag and a separate value. */
interface Activation {
  stake?: string;
  cut: string;
  share: string;
  uri: string;
}

/** Runs `lp-node orchestrator activate` with `settings`, then `rest` (the account or --node). */
const activate = (settings: Activation, rest: string[]) =>
  lp([
    "orchestrator",
    "activate",
    ...(settings.stake === undefined ? [] : ["--stake", settings.stake]),
    "--reward-cut",
    settings.cut,
    "--fee-share",
    settings.share,
    "--service-uri",
    settings.uri,
    ...rest,
  ]);

beforeAll(async () => {
  chain = await startTestChain();
  for (const a of [o3, hot]) await setBalance(chain, a, parseEther("100"));
  for (const a of [o1, o2, o3])
    await chain.send(deployerKey, "LivepeerToken", "transfer", [a, parseEther("1000")]);
  await fundSender(chain, gatewayKey, parseEther("10"), parseEther("1"));
}, 60_000);

stopNodesAndChain(() => chain);

describe("operator subcommands", () => {
  it("register two orchestrators straight to the chain, with --json and exit codes 0, 1 and 2", async () => {
    const a = await activate(
      { stake: "500LPT", cut: "10%", share: "95%", uri: "https://127.0.0.1:18935" },
      await chainFlags(o1Key),
    );
    expect(a.code, a.stderr).toBe(0);
    expect(a.out).toMatchObject({ op: "orchestrator activate", success: true, account: o1 });
    expect((a.out["transactions"] as { op: string }[]).map((s) => s.op)).toEqual([
      "approve",
      "bond",
      "transcoder",
      "setServiceURI",
    ]);
    const b = await lp([
      "orchestrator",
      "activate",
      "--stake=300LPT",
      "--reward-cut=5",
      "--fee-share=80",
      "--service-uri=https://127.0.0.1:18936",
      ...(await chainFlags(o2Key)),
    ]);
    expect(b.code, b.stderr).toBe(0);

    // Refused by what the chain shows: exit 1, go-livepeer's text, nothing sent.
    const before = await nonce(o1);
    const again = await activate(
      { stake: "1LPT", cut: "1", share: "1", uri: "https://127.0.0.1:18935" },
      await chainFlags(o1Key),
    );
    expect(again.code).toBe(1);
    expect(again.out).toEqual({
      error: { code: "STAKING_REFUSED", message: "orchestrator already registered" },
    });
    const stranger = await lp([
      "bond",
      "1LPT",
      "--to",
      privateKeyToAccount(gatewayKey).address,
      ...(await chainFlags(o1Key)),
    ]);
    expect(stranger.code).toBe(1);
    expect(stranger.out["error"]).toMatchObject({
      message: expect.stringMatching(/is not a registered orchestrator/),
    });
    expect(await nonce(o1)).toBe(before);
    // Bad usage: exit 2 before anything is reached.
    const bad = await activate(
      { cut: "150%", share: "1", uri: "https://a.example:1" },
      await chainFlags(o1Key),
    );
    expect(bad.code).toBe(2);
    expect(bad.out["error"]).toMatchObject({ code: "STAKING_BAD_INPUT" });

    expect((await read<bigint[]>("BondingManager", "getTranscoder", [o1])).slice(1, 3)).toEqual([
      100_000n,
      950_000n,
    ]);
    const list = await lp(["orchestrator", "list", ...(await chainFlags(o2Key))]);
    expect(list.code, list.stderr).toBe(0);
    // Read straight from the chain; --json keeps big numbers exact, as strings.
    const listed = list.out as unknown as { Address: string; ServiceURI: string; DelegatedStake: string }[];
    expect(listed.map((t) => [t.Address, t.ServiceURI, t.DelegatedStake])).toEqual([
      [o1, "https://127.0.0.1:18935", parseEther("500").toString()],
      [o2, "https://127.0.0.1:18936", parseEther("300").toString()],
    ]);
  }, 120_000);

  it("register and reconfigure an orchestrator through its running node's CLI API", async () => {
    const node = new LpNodeProcess(onChainOrchestratorArgs(chain, await dir(o3Key), { password: PASSWORD }));
    const cli = `http://127.0.0.1:${await node.cliPort()}`;
    await node.waitFor((l) => l["msg"] === "orchestrator TLS port listening", 30_000);
    const a = await activate(
      { stake: "200LPT", cut: "12.5%", share: "90%", uri: "https://127.0.0.1:18937" },
      ["--node", cli, "--price", "3"],
    );
    expect(a.code, a.stderr).toBe(0);
    expect(a.out).toMatchObject({ op: "orchestrator activate", success: true });
    expect(await read<string>("ServiceRegistry", "getServiceURI", [o3])).toBe("https://127.0.0.1:18937");
    expect((await read<bigint[]>("BondingManager", "getTranscoder", [o3]))[1]).toBe(125_000n);
    // The node's base price is what --price set (go-livepeer's /orchestratorInfo PriceInfo, a big.Rat).
    const orchInfo = (await (await fetch(`${cli}/orchestratorInfo`)).json()) as { PriceInfo: unknown };
    expect(orchInfo.PriceInfo).toBe("3");
    const again = await activate({ stake: "1LPT", cut: "1", share: "1", uri: "https://127.0.0.1:18937" }, [
      "--node",
      cli,
    ]);
    expect(again.code).toBe(1);
    expect(again.out).toEqual({
      error: { code: "STAKING_REFUSED", message: "orchestrator already registered" },
    });
    const c = await lp(["orchestrator", "config", "--node", cli, "--service-uri", "https://127.0.0.1:18938"]);
    expect(c.code, c.stderr).toBe(0);
    expect(await read<string>("ServiceRegistry", "getServiceURI", [o3])).toBe("https://127.0.0.1:18938");
    // The node reads its registration again after the change: /status shows the new URI at once,
    // and that it differs from the one the node serves.
    const onChain = async () =>
      ((await (await fetch(`${cli}/status`)).json()) as Record<string, Record<string, unknown>>)[
        "OrchestratorOnChain"
      ];
    await waitFor(async () => (await onChain())?.["ServiceURI"] === "https://127.0.0.1:18938", {
      what: "the new service URI in /status",
    });
    expect(await onChain()).toMatchObject({ Address: o3, Status: "Registered", ServiceURIMatches: false });
    const info = await lp(["account", "--node", cli]);
    expect(info.code, info.stderr).toBe(0);
    expect(info.out).toMatchObject({
      Address: o3,
      Transcoder: { Status: "Registered", ServiceURI: "https://127.0.0.1:18938", RewardCut: "125000" },
    });
  }, 120_000);

  it("-ethOrchAddr: tickets are made out to the on-chain orchestrator, redeemed by the hot key, and /status shows it", async () => {
    // o1 is active from the round after its registration.
    await chain.nextRound();
    const orch = new LpNodeProcess(
      onChainOrchestratorArgs(chain, await dir(hotKey), {
        password: PASSWORD,
        face: FACE,
        extra: ["-ethOrchAddr", o1.toLowerCase()],
      }),
    );
    const port = await orch.orchestratorPort();
    const status = () => orch.status();
    await waitFor(async () => (await status())["OrchestratorOnChain"] !== undefined, {
      what: "on-chain status",
    });
    expect((await status())["OrchestratorOnChain"]).toMatchObject({
      Address: o1,
      NodeAccount: hot,
      Status: "Registered",
      Active: true,
    });
    const gw = new LpNodeProcess(
      onChainGatewayArgs(chain, await dir(gatewayKey), {
        password: PASSWORD,
        face: FACE,
        orchAddr: `127.0.0.1:${port}`,
      }),
    );
    const httpAddr = await gw.gatewayHttpAddr();
    const clip = readFileSync(makeClip({ seconds: 2, width: 320, height: 240 }));
    const fees = async () =>
      read<bigint>("BondingManager", "pendingFees", [
        o1,
        await read<bigint>("RoundsManager", "currentRound"),
      ]);
    const feesBefore = await fees();
    const res = await fetch(`http://${httpAddr}/live/hot/0.ts`, { method: "POST", body: clip });
    expect(res.status, await res.text()).toBe(200);
    const won = (await ticketsOf(orch))["Pending"]!;
    expect(won.Count).toBeGreaterThanOrEqual(1);
    await chain.nextRound();
    await waitForRedeemed(orch, won.Count, "the winning tickets redeemed");
    const transfers = (await chain.publicClient.getContractEvents({
      address: chain.dev.contracts.TicketBroker,
      abi: abis.TicketBroker as Abi,
      eventName: "WinningTicketTransfer",
      fromBlock: 0n,
    })) as unknown as { args: { recipient: string; amount: bigint }; transactionHash: Hex }[];
    expect(transfers).toHaveLength(won.Count);
    for (const t of transfers) {
      expect(t.args.recipient).toBe(o1);
      // Sent by the hot key: the on-chain orchestrator's key stays cold.
      const tx = await chain.publicClient.getTransaction({ hash: t.transactionHash });
      expect(tx.from.toLowerCase()).toBe(hot.toLowerCase());
    }
    expect(await fees()).toBeGreaterThan(feesBefore);
  }, 150_000);
});
