import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { parseEther } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { beforeAll, describe, expect, it } from "vitest";
import { ANVIL_KEYS } from "../../helpers/anvil.js";
import { LpNodeProcess } from "../../helpers/lpNode.js";
import { makeClip } from "../../helpers/media.js";
import {
  chainNodeFlags,
  onChainGatewayArgs,
  onChainOrchestratorArgs,
  redemptionsSince,
  senderDeposit,
  startPaidChain,
  stopNodesAndChain,
  type TicketCounts,
  type Tickets,
} from "../../helpers/paidChain.js";
import { keystoreDataDir, type TestChain } from "../../helpers/testChain.js";
import { waitFor } from "../../helpers/waitFor.js";

// Spawned lp-node processes on a devnet: a redeemer holding the orchestrator's key, an
// orchestrator that hands its winning tickets to it (-redeemerAddr), and a gateway paying the
// orchestrator with tickets for real transcoded segments.

const PASSWORD = "correct horse";
const FACE = parseEther("0.01");
const DEPOSIT = parseEther("10");
const [, orchKey, gatewayKey] = ANVIL_KEYS;
const gatewayAddress = privateKeyToAccount(gatewayKey).address;
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

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

const statusOf = async (node: LpNodeProcess): Promise<() => Promise<Record<string, unknown>>> => {
  await node.cliAddr();
  return () => node.status();
};

function redeemer(datadir: string, port: number): LpNodeProcess {
  return new LpNodeProcess([
    "--mode",
    "redeemer",
    "-httpAddr",
    `127.0.0.1:${port}`,
    ...chainNodeFlags(chain, { password: PASSWORD, datadir }),
  ]);
}

async function orchestrator(redeemerPort: number): Promise<{ node: LpNodeProcess; port: number }> {
  const datadir = await keystoreDataDir(orchKey, PASSWORD, "lp-redeemer-o-");
  const node = new LpNodeProcess(
    onChainOrchestratorArgs(chain, datadir, {
      password: PASSWORD,
      // Every ticket wins.
      face: FACE,
      // The redeemer sends transactions from this account: the orchestrator must not (reward).
      extra: ["-reward=false", "-redeemerAddr", `127.0.0.1:${redeemerPort}`],
    }),
  );
  return { node, port: await node.orchestratorPort() };
}

async function gateway(orchPort: number): Promise<{ node: LpNodeProcess; httpAddr: string }> {
  const datadir = await keystoreDataDir(gatewayKey, PASSWORD, "lp-redeemer-g-");
  const node = new LpNodeProcess(
    onChainGatewayArgs(chain, datadir, { password: PASSWORD, face: FACE, orchAddr: `127.0.0.1:${orchPort}` }),
  );
  return { node, httpAddr: await node.gatewayHttpAddr() };
}

const deposit = () => senderDeposit(chain, gatewayAddress);

const outbox = async (status: () => Promise<Record<string, unknown>>) =>
  ((await status())["Redeemer"] as { Outbox: Record<"Pending" | "Delivered" | "Refused", TicketCounts> })
    .Outbox;
const tickets = async (status: () => Promise<Record<string, unknown>>) =>
  (await status())["Tickets"] as Tickets;

describe("an orchestrator with a remote redeemer", () => {
  it("hands its winning tickets to the redeemer, which redeems them: the deposit falls by exactly their face values", async () => {
    const since = await chain.publicClient.getBlockNumber({ cacheTime: 0 });
    const depositBefore = await deposit();
    const port = await freePort();
    const r = redeemer(await keystoreDataDir(orchKey, PASSWORD, "lp-redeemer-r-"), port);
    await r.waitFor((l) => l["msg"] === "redeemer gRPC port listening", 30_000);
    const rStatus = await statusOf(r);
    const o = await orchestrator(port);
    const oStatus = await statusOf(o.node);
    const g = await gateway(o.port);
    const clip = readFileSync(makeClip({ seconds: 2, width: 320, height: 240 }));
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`http://${g.httpAddr}/live/viaredeemer/${i}.ts`, {
        method: "POST",
        body: clip,
      });
      expect(res.status, await res.text()).toBe(200);
    }
    const delivered = await waitFor(
      async () => {
        const ob = await outbox(oStatus);
        return ob.Pending.Count === 0 && ob.Delivered.Count > 0 ? ob.Delivered : null;
      },
      { what: "the winning tickets handed to the redeemer" },
    );
    expect(delivered.FaceValue).toBe((FACE * BigInt(delivered.Count)).toString());
    // The orchestrator redeems nothing itself.
    expect((await tickets(oStatus)).Pending.Count).toBe(0);
    const queued = await tickets(rStatus);
    expect(queued.Pending.Count).toBe(delivered.Count);
    expect((await rStatus())["SendersMonitored"]).toBeGreaterThanOrEqual(1);
    // Params expire 40 blocks on: a new round is past that.
    await chain.nextRound();
    await waitFor(async () => (await tickets(rStatus)).Redeemed.Count === delivered.Count, {
      what: "every winning ticket redeemed by the redeemer",
      timeoutMs: 60_000,
      intervalMs: 200,
    });
    expect((await rStatus())["RedeemedValue"]).toBe(delivered.FaceValue);
    expect(depositBefore - (await deposit())).toBe(FACE * BigInt(delivered.Count));
    expect(await redemptionsSince(chain, since)).toBe(delivered.Count);
  }, 120_000);

  it("loses nothing when the redeemer is killed and restarted mid-stream: each ticket is redeemed once", async () => {
    const since = await chain.publicClient.getBlockNumber({ cacheTime: 0 });
    const depositBefore = await deposit();
    const port = await freePort();
    const redeemerDir = await keystoreDataDir(orchKey, PASSWORD, "lp-redeemer-r-");
    const first = redeemer(redeemerDir, port);
    await first.waitFor((l) => l["msg"] === "redeemer gRPC port listening", 30_000);
    const o = await orchestrator(port);
    const oStatus = await statusOf(o.node);
    const g = await gateway(o.port);
    const clip = readFileSync(makeClip({ seconds: 2, width: 320, height: 240 }));
    const segment = async (stream: string) => {
      const res = await fetch(`http://${g.httpAddr}/live/${stream}/0.ts`, { method: "POST", body: clip });
      expect(res.status, await res.text()).toBe(200);
    };
    // A new stream is a new session: its first segment carries winning tickets.
    await segment("before");
    const handed = await waitFor(
      async () => {
        const ob = await outbox(oStatus);
        return ob.Pending.Count === 0 && ob.Delivered.Count > 0 ? ob.Delivered.Count : null;
      },
      { what: "the first tickets handed over" },
    );
    // Killed with those tickets queued and not yet redeemable (their params expire 40 blocks on).
    await first.kill();
    await segment("during-1");
    await segment("during-2");
    const waiting = await waitFor(
      async () => {
        const ob = await outbox(oStatus);
        return ob.Pending.Count >= 2 ? ob.Pending.Count : null;
      },
      { what: "tickets kept in the outbox while the redeemer is down" },
    );
    const second = redeemer(redeemerDir, port);
    const rStatus = await statusOf(second);
    await waitFor(async () => (await outbox(oStatus)).Pending.Count === 0, {
      what: "the outbox delivered after the restart",
      timeoutMs: 60_000,
      intervalMs: 200,
    });
    const total = handed + waiting;
    expect((await outbox(oStatus)).Delivered.Count).toBe(total);
    expect((await tickets(rStatus)).Pending.Count).toBe(total);
    await chain.nextRound();
    await waitFor(async () => (await tickets(rStatus)).Redeemed.Count === total, {
      what: "every ticket redeemed after the restart",
      timeoutMs: 60_000,
      intervalMs: 200,
    });
    expect(await redemptionsSince(chain, since)).toBe(total);
    expect(depositBefore - (await deposit())).toBe(FACE * BigInt(total));
  }, 180_000);
});
