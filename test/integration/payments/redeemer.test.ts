import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { type Abi, parseEther } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { abis } from "../../../src/eth/abis.js";
import { ANVIL_KEYS } from "../../helpers/anvil.js";
import { LpNodeProcess, stopAllLpNodes } from "../../helpers/lpNode.js";
import { makeClip, removeClips } from "../../helpers/media.js";
import { keystoreDataDir, startTestChain, type TestChain } from "../../helpers/testChain.js";
import { waitFor } from "../../helpers/waitFor.js";

// Spawned lp-node processes on a devnet: a redeemer holding the orchestrator's key, an
// orchestrator that hands its winning tickets to it (-redeemerAddr), and a gateway paying the
// orchestrator with tickets for real transcoded segments.

const PASSWORD = "correct horse";
const FACE = parseEther("0.01");
const DEPOSIT = parseEther("10");
const [deployerKey, orchKey, gatewayKey] = ANVIL_KEYS;
const gatewayAddress = privateKeyToAccount(gatewayKey).address;
let chain: TestChain;

beforeAll(async () => {
  chain = await startTestChain();
  const orch = privateKeyToAccount(orchKey).address;
  await chain.send(deployerKey, "LivepeerToken", "transfer", [orch, parseEther("1000")]);
  await chain.send(orchKey, "LivepeerToken", "approve", [
    chain.dev.contracts.BondingManager,
    parseEther("1000"),
  ]);
  await chain.send(orchKey, "BondingManager", "bond", [parseEther("1000"), orch]);
  await chain.send(orchKey, "BondingManager", "transcoder", [0n, 1_000_000n]);
  await chain.send(
    gatewayKey,
    "TicketBroker",
    "fundDepositAndReserve",
    [DEPOSIT, parseEther("1")],
    DEPOSIT + parseEther("1"),
  );
  await chain.nextRound();
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

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

type Counts = { Count: number; FaceValue: string };

async function statusOf(node: LpNodeProcess): Promise<() => Promise<Record<string, unknown>>> {
  const cli = String(
    (await node.waitFor((l) => l["listener"] === "cli" && typeof l["addr"] === "string", 30_000))["addr"],
  );
  return async () => (await (await fetch(`http://${cli}/status`)).json()) as Record<string, unknown>;
}

function redeemer(datadir: string, port: number): LpNodeProcess {
  return new LpNodeProcess(["--mode", "redeemer", "-httpAddr", `127.0.0.1:${port}`, ...chainFlags(datadir)]);
}

async function orchestrator(redeemerPort: number): Promise<{ node: LpNodeProcess; port: string }> {
  const node = new LpNodeProcess([
    "--mode",
    "orchestrator,transcoder",
    "-serviceAddr",
    "127.0.0.1:0",
    "-startupAvailabilityCheck=false",
    // The redeemer sends transactions from this account: the orchestrator must not (reward).
    "-reward=false",
    "-redeemerAddr",
    `127.0.0.1:${redeemerPort}`,
    "-pricePerUnit",
    "1",
    // EV one wei under the face value: every ticket wins.
    "-ticketEV",
    (FACE - 1n).toString(),
    "-maxFaceValue",
    FACE.toString(),
    ...chainFlags(await keystoreDataDir(orchKey, PASSWORD, "lp-redeemer-o-")),
  ]);
  const port = String(
    (await node.waitFor((l) => l["msg"] === "orchestrator TLS port listening", 30_000))["addr"],
  )
    .split(":")
    .pop()!;
  return { node, port };
}

async function gateway(orchPort: string): Promise<{ node: LpNodeProcess; httpAddr: string }> {
  const node = new LpNodeProcess([
    "--mode",
    "gateway",
    "-httpAddr",
    "127.0.0.1:0",
    "-rtmpAddr",
    "127.0.0.1:0",
    "-orchAddr",
    `127.0.0.1:${orchPort}`,
    "-maxTicketEV",
    FACE.toString(),
    "-maxTotalEV",
    (FACE * 10n).toString(),
    ...chainFlags(await keystoreDataDir(gatewayKey, PASSWORD, "lp-redeemer-g-")),
  ]);
  const httpAddr = String(
    (await node.waitFor((l) => l["msg"] === "gateway HTTP server listening", 30_000))["addr"],
  );
  return { node, httpAddr };
}

async function deposit(): Promise<bigint> {
  const [info] = (await chain.publicClient.readContract({
    address: chain.dev.contracts.TicketBroker,
    abi: abis.TicketBroker as Abi,
    functionName: "getSenderInfo",
    args: [gatewayAddress],
  })) as [{ deposit: bigint }];
  return info.deposit;
}

async function redemptionsSince(block: bigint): Promise<number> {
  const logs = await chain.publicClient.getContractEvents({
    address: chain.dev.contracts.TicketBroker,
    abi: abis.TicketBroker as Abi,
    eventName: "WinningTicketRedeemed",
    fromBlock: block + 1n,
  });
  return logs.length;
}

const outbox = async (status: () => Promise<Record<string, unknown>>) =>
  ((await status())["Redeemer"] as { Outbox: Record<"Pending" | "Delivered" | "Refused", Counts> }).Outbox;
const tickets = async (status: () => Promise<Record<string, unknown>>) =>
  (await status())["Tickets"] as Record<"Pending" | "Submitted" | "Redeemed" | "Failed", Counts>;

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
    expect(await redemptionsSince(since)).toBe(delivered.Count);
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
    expect(await redemptionsSince(since)).toBe(total);
    expect(depositBefore - (await deposit())).toBe(FACE * BigInt(total));
  }, 180_000);
});
