import { readFileSync } from "node:fs";
import { parseEther } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { beforeAll, describe, expect, it } from "vitest";
import { ANVIL_KEYS } from "../helpers/anvil.js";
import { LpNodeProcess } from "../helpers/lpNode.js";
import { makeClip } from "../helpers/media.js";
import {
  onChainGatewayArgs,
  onChainOrchestratorArgs,
  redemptionsSince,
  senderDeposit,
  startPaidChain,
  stopNodesAndChain,
  ticketsOf,
  waitForRedeemed,
} from "../helpers/paidChain.js";
import { keystoreDataDir, type TestChain } from "../helpers/testChain.js";

// An lp-node gateway streams through an lp-node orchestrator on a devnet, paying with tickets.

const PASSWORD = "correct horse";
const FACE = parseEther("0.01");
const DEPOSIT = parseEther("10");
const [, orchKey, gatewayKey] = ANVIL_KEYS;
let chain: TestChain;

beforeAll(async () => {
  chain = await startPaidChain({
    orchestrator: orchKey,
    sender: gatewayKey,
    deposit: DEPOSIT,
    reserve: parseEther("1"),
  });
}, 60_000);

stopNodesAndChain(() => chain);

// Every ticket of FACE wins (its EV is one wei under the face value), so each is redeemed on the
// TicketBroker.
const orchestratorArgs = (datadir: string) =>
  onChainOrchestratorArgs(chain, datadir, { password: PASSWORD, face: FACE });
const gatewayArgs = async (orchPort: number) =>
  onChainGatewayArgs(chain, await keystoreDataDir(gatewayKey, PASSWORD, "lp-paid-"), {
    password: PASSWORD,
    face: FACE,
    orchAddr: `127.0.0.1:${orchPort}`,
  });

describe("a paid stream on a devnet", () => {
  it("an lp-node gateway pays an lp-node orchestrator with tickets; the winners are redeemed and the deposit falls by their face values", async () => {
    const o = new LpNodeProcess(orchestratorArgs(await keystoreDataDir(orchKey, PASSWORD, "lp-paid-")));
    const gw = new LpNodeProcess(await gatewayArgs(await o.orchestratorPort()));
    const httpAddr = await gw.gatewayHttpAddr();
    const clip = readFileSync(makeClip({ seconds: 2, width: 320, height: 240 }));
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`http://${httpAddr}/live/paid/${i}.ts`, { method: "POST", body: clip });
      expect(res.status, await res.text()).toBe(200);
    }
    const tickets = () => ticketsOf(o);
    // The gateway paid for 3 segments with winning tickets (the balance left by each ticket can
    // cover a later segment, so there may be fewer tickets than segments).
    const won = (await tickets()).Pending!;
    expect(won.Count).toBeGreaterThanOrEqual(1);
    expect(won.Count).toBeLessThanOrEqual(3);
    expect(won.FaceValue).toBe((FACE * BigInt(won.Count)).toString());
    // The queue redeems a ticket once its params have expired (40 blocks on): a new round is past that.
    await chain.nextRound();
    await waitForRedeemed(o, won.Count, "every winning ticket redeemed");
    expect((await tickets()).Redeemed?.FaceValue).toBe(won.FaceValue);
    expect(await senderDeposit(chain, privateKeyToAccount(gatewayKey).address)).toBe(
      DEPOSIT - FACE * BigInt(won.Count),
    );
    const status = await gw.status<{
      Streams: Record<string, { payment: Record<string, unknown>; segmentsOk: number }>;
      Sender: Record<string, unknown>;
    }>();
    expect(status.Streams["paid"]!.segmentsOk).toBe(3);
    expect(status.Streams["paid"]!.payment).toMatchObject({
      recipient: privateKeyToAccount(orchKey).address,
    });
    expect(status.Sender).toMatchObject({ canPay: true });
  }, 120_000);

  it("an orchestrator SIGKILLed with winning tickets acknowledged redeems each of them once after it restarts", async () => {
    const orchDir = await keystoreDataDir(orchKey, PASSWORD, "lp-paid-");
    const orchestrator = () => new LpNodeProcess(orchestratorArgs(orchDir));
    const since = await chain.publicClient.getBlockNumber({ cacheTime: 0 });
    const first = orchestrator();
    const gw = new LpNodeProcess(await gatewayArgs(await first.orchestratorPort()));
    const httpAddr = await gw.gatewayHttpAddr();
    const clip = readFileSync(makeClip({ seconds: 2, width: 320, height: 240 }));
    const res = await fetch(`http://${httpAddr}/live/killed/0.ts`, { method: "POST", body: clip });
    expect(res.status, await res.text()).toBe(200);
    const won = (await ticketsOf(first)).Pending!;
    expect(won.Count).toBeGreaterThanOrEqual(1);
    // Killed before the tickets' params expire: none can have been redeemed.
    await first.kill();
    await gw.kill();

    const second = orchestrator();
    expect((await ticketsOf(second)).Pending?.Count).toBe(won.Count);
    await chain.nextRound();
    await waitForRedeemed(second, won.Count, "every acknowledged ticket redeemed after the restart");
    // Counted after the block the first test's last redemption may have landed in.
    expect(await redemptionsSince(chain, since)).toBe(won.Count);
  }, 120_000);
});
