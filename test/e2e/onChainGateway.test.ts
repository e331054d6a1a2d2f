import { readFileSync } from "node:fs";
import { parseEther } from "viem";
import { beforeAll, describe, expect, it } from "vitest";
import { ANVIL_KEYS } from "../helpers/anvil.js";
import { LpNodeProcess } from "../helpers/lpNode.js";
import { makeClip } from "../helpers/media.js";
import {
  fundSender,
  ORCH_STAKE,
  onChainGatewayArgs,
  onChainOrchestratorArgs,
  registerOrchestrator,
  stopNodesAndChain,
} from "../helpers/paidChain.js";
import { keystoreDataDir, startTestChain, type TestChain } from "../helpers/testChain.js";
import { waitFor } from "../helpers/waitFor.js";

// A spawned lp-node gateway on a devnet, given no -orchAddr, finds a spawned lp-node orchestrator
// in the on-chain registry (BondingManager's pool and its ServiceRegistry URI) and streams
// through it, paying with tickets.

const PASSWORD = "correct horse";
const FACE = parseEther("0.01");
const DEPOSIT = parseEther("10");
const [, orchKey, gatewayKey] = ANVIL_KEYS;
let chain: TestChain;

beforeAll(async () => {
  chain = await startTestChain();
}, 60_000);
stopNodesAndChain(() => chain);

describe("a gateway on a chain without -orchAddr", () => {
  it("streams through an orchestrator it found in the on-chain registry", async () => {
    const o = new LpNodeProcess(
      onChainOrchestratorArgs(chain, await keystoreDataDir(orchKey, PASSWORD, "lp-ocg-"), {
        password: PASSWORD,
        face: FACE,
      }),
    );
    const uri = `https://127.0.0.1:${await o.orchestratorPort()}`;
    const orch = await registerOrchestrator(chain, orchKey, { uri });
    await fundSender(chain, gatewayKey, DEPOSIT, parseEther("1"));
    const round = await chain.nextRound();
    // The orchestrator prices tickets from the new round's pool (its reserve allocation).
    await waitFor(
      async () =>
        (await o.status<{ Round: { lastInitialized: string } }>()).Round.lastInitialized === round.toString(),
    );

    // No -orchAddr: the gateway finds the orchestrator on chain.
    const gw = new LpNodeProcess(
      onChainGatewayArgs(chain, await keystoreDataDir(gatewayKey, PASSWORD, "lp-ocg-"), {
        password: PASSWORD,
        face: FACE,
      }),
    );
    const httpAddr = await gw.gatewayHttpAddr();
    expect(gw.lines.some((l) => l["msg"] === "No orchestrator specified; transcoding will not happen")).toBe(
      false,
    );
    const clip = readFileSync(makeClip({ seconds: 2, width: 320, height: 240 }));
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`http://${httpAddr}/live/found/${i}.ts`, { method: "POST", body: clip });
      expect(res.status, await res.text()).toBe(200);
    }
    const status = await gw.status<{
      OrchestratorPool: string[];
      RegisteredOrchestrators: { Address: string; ServiceURI: string; Active: boolean; Stake: string }[];
      Streams: Record<string, { orchestrator: string; segmentsOk: number; payment: { recipient: string } }>;
    }>();
    expect(status.OrchestratorPool).toEqual([uri]);
    expect(status.RegisteredOrchestrators).toEqual([
      expect.objectContaining({
        Address: orch.toLowerCase(),
        ServiceURI: uri,
        Active: true,
      }),
    ]);
    // Its bond, plus what its own reward minted if it already rewarded this round (a registered
    // orchestrator rewards without -reward).
    expect(BigInt(status.RegisteredOrchestrators[0]!.Stake)).toBeGreaterThanOrEqual(ORCH_STAKE);
    expect(status.Streams["found"]).toMatchObject({
      orchestrator: uri,
      segmentsOk: 2,
      payment: { recipient: orch },
    });
  }, 120_000);
});
