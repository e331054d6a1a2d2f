import { readFileSync } from "node:fs";
import { parseEther } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ANVIL_KEYS } from "../helpers/anvil.js";
import { LpNodeProcess, stopAllLpNodes } from "../helpers/lpNode.js";
import { makeClip, removeClips } from "../helpers/media.js";
import { keystoreDataDir, startTestChain, type TestChain } from "../helpers/testChain.js";
import { waitFor } from "../helpers/waitFor.js";

// A spawned lp-node gateway on a devnet, given no -orchAddr, finds a spawned lp-node orchestrator
// in the on-chain registry (BondingManager's pool and its ServiceRegistry URI) and streams
// through it, paying with tickets.

const PASSWORD = "correct horse";
const FACE = parseEther("0.01");
const DEPOSIT = parseEther("10");
const [deployerKey, orchKey, gatewayKey] = ANVIL_KEYS;
let chain: TestChain;

beforeAll(async () => {
  chain = await startTestChain();
}, 60_000);
afterEach(async () => {
  await stopAllLpNodes();
});
afterAll(async () => {
  removeClips();
  await chain?.stop();
});

const chainFlags = (datadir: string) => [
  ...chain.flags(),
  "-ethPassword",
  PASSWORD,
  "-blockPollingInterval",
  "1",
  "-datadir",
  datadir,
  "-cliAddr",
  "127.0.0.1:0",
];

const cliOf = async (node: LpNodeProcess) =>
  String(
    (await node.waitFor((l) => l["listener"] === "cli" && typeof l["addr"] === "string", 30_000))["addr"],
  );

describe("a gateway on a chain without -orchAddr", () => {
  it("streams through an orchestrator it found in the on-chain registry", async () => {
    const o = new LpNodeProcess([
      "--mode",
      "orchestrator,transcoder",
      "-serviceAddr",
      "127.0.0.1:0",
      "-startupAvailabilityCheck=false",
      "-pricePerUnit",
      "1",
      "-ticketEV",
      (FACE - 1n).toString(),
      "-maxFaceValue",
      FACE.toString(),
      ...chainFlags(await keystoreDataDir(orchKey, PASSWORD, "lp-ocg-")),
    ]);
    const port = String(
      (await o.waitFor((l) => l["msg"] === "orchestrator TLS port listening", 30_000))["addr"],
    )
      .split(":")
      .pop();
    const uri = `https://127.0.0.1:${port}`;
    const orch = privateKeyToAccount(orchKey).address;
    await chain.send(deployerKey, "LivepeerToken", "transfer", [orch, parseEther("1000")]);
    await chain.send(orchKey, "LivepeerToken", "approve", [
      chain.dev.contracts.BondingManager,
      parseEther("1000"),
    ]);
    await chain.send(orchKey, "BondingManager", "bond", [parseEther("1000"), orch]);
    await chain.send(orchKey, "BondingManager", "transcoder", [0n, 1_000_000n]);
    await chain.send(orchKey, "ServiceRegistry", "setServiceURI", [uri]);
    await chain.send(
      gatewayKey,
      "TicketBroker",
      "fundDepositAndReserve",
      [DEPOSIT, parseEther("1")],
      DEPOSIT + parseEther("1"),
    );
    const round = await chain.nextRound();
    // The orchestrator prices tickets from the new round's pool (its reserve allocation).
    const ocli = await cliOf(o);
    await waitFor(async () => {
      const s = (await (await fetch(`http://${ocli}/status`)).json()) as {
        Round: { lastInitialized: string };
      };
      return s.Round.lastInitialized === round.toString();
    });

    const gw = new LpNodeProcess([
      "--mode",
      "gateway",
      "-httpAddr",
      "127.0.0.1:0",
      "-rtmpAddr",
      "127.0.0.1:0",
      "-maxTicketEV",
      FACE.toString(),
      "-maxTotalEV",
      (FACE * 10n).toString(),
      ...chainFlags(await keystoreDataDir(gatewayKey, PASSWORD, "lp-ocg-")),
    ]);
    const httpAddr = String(
      (await gw.waitFor((l) => l["msg"] === "gateway HTTP server listening", 30_000))["addr"],
    );
    expect(gw.lines.some((l) => l["msg"] === "No orchestrator specified; transcoding will not happen")).toBe(
      false,
    );
    const clip = readFileSync(makeClip({ seconds: 2, width: 320, height: 240 }));
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`http://${httpAddr}/live/found/${i}.ts`, { method: "POST", body: clip });
      expect(res.status, await res.text()).toBe(200);
    }
    const status = (await (await fetch(`http://${await cliOf(gw)}/status`)).json()) as {
      OrchestratorPool: string[];
      RegisteredOrchestrators: { Address: string; ServiceURI: string; Active: boolean; Stake: string }[];
      Streams: Record<string, { orchestrator: string; segmentsOk: number; payment: { recipient: string } }>;
    };
    expect(status.OrchestratorPool).toEqual([uri]);
    expect(status.RegisteredOrchestrators).toEqual([
      expect.objectContaining({
        Address: orch.toLowerCase(),
        ServiceURI: uri,
        Active: true,
        Stake: parseEther("1000").toString(),
      }),
    ]);
    expect(status.Streams["found"]).toMatchObject({
      orchestrator: uri,
      segmentsOk: 2,
      payment: { recipient: orch },
    });
  }, 120_000);
});
