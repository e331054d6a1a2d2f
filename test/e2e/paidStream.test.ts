import { readFileSync } from "node:fs";
import { type Abi, parseEther } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { abis } from "../../src/eth/abis.js";
import { ANVIL_KEYS } from "../helpers/anvil.js";
import { LpNodeProcess, stopAllLpNodes } from "../helpers/lpNode.js";
import { makeClip, removeClips } from "../helpers/media.js";
import { keystoreDataDir, startTestChain, type TestChain } from "../helpers/testChain.js";
import { waitFor } from "../helpers/waitFor.js";

// An lp-node gateway streams through an lp-node orchestrator on a devnet, paying with tickets.

const PASSWORD = "correct horse";
const FACE = parseEther("0.01");
const DEPOSIT = parseEther("10");
const [deployerKey, orchKey, gatewayKey] = ANVIL_KEYS;
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

describe("a paid stream on a devnet", () => {
  it("an lp-node gateway pays an lp-node orchestrator with tickets; the winners are redeemed and the deposit falls by their face values", async () => {
    const o = new LpNodeProcess([
      "--mode",
      "orchestrator,transcoder",
      "-serviceAddr",
      "127.0.0.1:0",
      "-startupAvailabilityCheck=false",
      "-pricePerUnit",
      "1",
      // EV one wei under the face value (a sender refuses EV >= faceValue): winProb is all but
      // 2^256 − 1, so every ticket wins and each is redeemed on the TicketBroker.
      "-ticketEV",
      (FACE - 1n).toString(),
      "-maxFaceValue",
      FACE.toString(),
      ...chainFlags(await keystoreDataDir(orchKey, PASSWORD, "lp-paid-")),
    ]);
    const port = String(
      (await o.waitFor((l) => l["msg"] === "orchestrator TLS port listening", 30_000))["addr"],
    )
      .split(":")
      .pop();
    const gw = new LpNodeProcess([
      "--mode",
      "gateway",
      "-httpAddr",
      "127.0.0.1:0",
      "-rtmpAddr",
      "127.0.0.1:0",
      "-orchAddr",
      `127.0.0.1:${port}`,
      "-maxTicketEV",
      FACE.toString(),
      "-maxTotalEV",
      (FACE * 10n).toString(),
      ...chainFlags(await keystoreDataDir(gatewayKey, PASSWORD, "lp-paid-")),
    ]);
    const httpAddr = String(
      (await gw.waitFor((l) => l["msg"] === "gateway HTTP server listening", 30_000))["addr"],
    );
    const clip = readFileSync(makeClip({ seconds: 2, width: 320, height: 240 }));
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`http://${httpAddr}/live/paid/${i}.ts`, { method: "POST", body: clip });
      expect(res.status, await res.text()).toBe(200);
    }
    const ocli = String(
      (await o.waitFor((l) => l["listener"] === "cli" && typeof l["addr"] === "string"))["addr"],
    );
    const tickets = async () =>
      (
        (await (await fetch(`http://${ocli}/status`)).json()) as {
          Tickets: Record<string, { Count: number; FaceValue: string }>;
        }
      ).Tickets;
    // The gateway paid for 3 segments with winning tickets (the balance left by each ticket can
    // cover a later segment, so there may be fewer tickets than segments).
    const won = (await tickets()).Pending!;
    expect(won.Count).toBeGreaterThanOrEqual(1);
    expect(won.Count).toBeLessThanOrEqual(3);
    expect(won.FaceValue).toBe((FACE * BigInt(won.Count)).toString());
    // The queue redeems a ticket once its params have expired (40 blocks on): a new round is past that.
    await chain.nextRound();
    await waitFor(async () => (await tickets()).Redeemed?.Count === won.Count, {
      what: "every winning ticket redeemed",
      timeoutMs: 60_000,
      intervalMs: 200,
    });
    expect((await tickets()).Redeemed?.FaceValue).toBe(won.FaceValue);
    const [info] = (await chain.publicClient.readContract({
      address: chain.dev.contracts.TicketBroker,
      abi: abis.TicketBroker as Abi,
      functionName: "getSenderInfo",
      args: [privateKeyToAccount(gatewayKey).address],
    })) as [{ deposit: bigint }];
    expect(info.deposit).toBe(DEPOSIT - FACE * BigInt(won.Count));
    const cli = String(
      (await gw.waitFor((l) => l["listener"] === "cli" && typeof l["addr"] === "string"))["addr"],
    );
    const status = (await (await fetch(`http://${cli}/status`)).json()) as {
      Streams: Record<string, { payment: Record<string, unknown>; segmentsOk: number }>;
      Sender: Record<string, unknown>;
    };
    expect(status.Streams["paid"]!.segmentsOk).toBe(3);
    expect(status.Streams["paid"]!.payment).toMatchObject({
      recipient: privateKeyToAccount(orchKey).address,
    });
    expect(status.Sender).toMatchObject({ canPay: true });
  }, 120_000);

  it("an orchestrator SIGKILLed with winning tickets acknowledged redeems each of them once after it restarts", async () => {
    const orchDir = await keystoreDataDir(orchKey, PASSWORD, "lp-paid-");
    const orchestrator = () =>
      new LpNodeProcess([
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
        ...chainFlags(orchDir),
      ]);
    const statusOf = async (node: LpNodeProcess) => {
      const cli = String(
        (await node.waitFor((l) => l["listener"] === "cli" && typeof l["addr"] === "string", 30_000))["addr"],
      );
      return async () =>
        (
          (await (await fetch(`http://${cli}/status`)).json()) as {
            Tickets: Record<string, { Count: number; FaceValue: string }>;
          }
        ).Tickets;
    };
    const since = await chain.publicClient.getBlockNumber({ cacheTime: 0 });
    const first = orchestrator();
    const port = String(
      (await first.waitFor((l) => l["msg"] === "orchestrator TLS port listening", 30_000))["addr"],
    )
      .split(":")
      .pop();
    const gw = new LpNodeProcess([
      "--mode",
      "gateway",
      "-httpAddr",
      "127.0.0.1:0",
      "-rtmpAddr",
      "127.0.0.1:0",
      "-orchAddr",
      `127.0.0.1:${port}`,
      "-maxTicketEV",
      FACE.toString(),
      "-maxTotalEV",
      (FACE * 10n).toString(),
      ...chainFlags(await keystoreDataDir(gatewayKey, PASSWORD, "lp-paid-")),
    ]);
    const httpAddr = String(
      (await gw.waitFor((l) => l["msg"] === "gateway HTTP server listening", 30_000))["addr"],
    );
    const clip = readFileSync(makeClip({ seconds: 2, width: 320, height: 240 }));
    const res = await fetch(`http://${httpAddr}/live/killed/0.ts`, { method: "POST", body: clip });
    expect(res.status, await res.text()).toBe(200);
    const won = (await (await statusOf(first))()).Pending!;
    expect(won.Count).toBeGreaterThanOrEqual(1);
    // Killed before the tickets' params expire: none can have been redeemed.
    await first.kill();
    await gw.kill();

    const second = orchestrator();
    const tickets = await statusOf(second);
    expect((await tickets()).Pending?.Count).toBe(won.Count);
    await chain.nextRound();
    await waitFor(async () => (await tickets()).Redeemed?.Count === won.Count, {
      what: "every acknowledged ticket redeemed after the restart",
      timeoutMs: 60_000,
      intervalMs: 200,
    });
    const redeemed = await chain.publicClient.getContractEvents({
      address: chain.dev.contracts.TicketBroker,
      abi: abis.TicketBroker as Abi,
      eventName: "WinningTicketRedeemed",
      // After the block the first test's last redemption may have landed in.
      fromBlock: since + 1n,
    });
    expect(redeemed).toHaveLength(won.Count);
  }, 120_000);
});
