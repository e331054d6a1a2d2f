import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { type Abi, parseEther } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { abis } from "../../src/eth/abis.js";
import { ANVIL_KEYS } from "../helpers/anvil.js";
import { LpNodeProcess, runLpNode, stopAllLpNodes } from "../helpers/lpNode.js";
import { makeClip, removeClips } from "../helpers/media.js";
import { keystoreDataDir, startTestChain, type TestChain } from "../helpers/testChain.js";
import { waitFor } from "../helpers/waitFor.js";

// An offchain lp-node gateway with -remoteSignerUrl streams through an lp-node orchestrator on a
// devnet: it holds no key, the remote signer (spawned lp-node) pays with its deposit.

const PASSWORD = "correct horse";
const FACE = parseEther("0.01");
const DEPOSIT = parseEther("10");
const [deployerKey, orchKey, signerKey] = ANVIL_KEYS;
const signerAddress = privateKeyToAccount(signerKey).address;
let chain: TestChain;
let hook: Server;
const hookHeaders: Record<string, string[]>[] = [];

beforeAll(async () => {
  chain = await startTestChain();
  const o = privateKeyToAccount(orchKey).address;
  await chain.send(deployerKey, "LivepeerToken", "transfer", [o, parseEther("1000")]);
  await chain.send(orchKey, "LivepeerToken", "approve", [
    chain.dev.contracts.BondingManager,
    parseEther("1000"),
  ]);
  await chain.send(orchKey, "BondingManager", "bond", [parseEther("1000"), o]);
  await chain.send(orchKey, "BondingManager", "transcoder", [0n, 1_000_000n]);
  await chain.send(
    signerKey,
    "TicketBroker",
    "fundDepositAndReserve",
    [DEPOSIT, parseEther("1")],
    DEPOSIT + parseEther("1"),
  );
  await chain.nextRound();
  hook = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      hookHeaders.push(JSON.parse(Buffer.concat(chunks).toString()).headers);
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ status: 200 }));
    });
  });
  await new Promise<void>((r) => hook.listen(0, "127.0.0.1", r));
}, 60_000);

afterAll(async () => {
  await stopAllLpNodes();
  removeClips();
  await new Promise<void>((r) => (hook ? hook.close(() => r()) : r()));
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

const cliOf = async (p: LpNodeProcess) =>
  String((await p.waitFor((l) => l["listener"] === "cli" && typeof l["addr"] === "string"))["addr"]);

describe("a gateway paying through a remote signer", () => {
  it("streams offchain, pays with the signer's tickets, and the winners redeem from the signer's deposit", async () => {
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
      ...chainFlags(await keystoreDataDir(orchKey, PASSWORD, "lp-rs-o-")),
    ]);
    const port = String(
      (await o.waitFor((l) => l["msg"] === "orchestrator TLS port listening", 30_000))["addr"],
    )
      .split(":")
      .pop();
    const signer = new LpNodeProcess([
      "--mode",
      "remote-signer",
      "-remoteDiscovery",
      "-orchAddr",
      `127.0.0.1:${port}`,
      "-httpAddr",
      "127.0.0.1:0",
      "-remoteSignerWebhookUrl",
      `http://127.0.0.1:${(hook.address() as AddressInfo).port}/`,
      "-maxTicketEV",
      FACE.toString(),
      "-maxTotalEV",
      (FACE * 10n).toString(),
      ...chainFlags(await keystoreDataDir(signerKey, PASSWORD, "lp-rs-s-")),
    ]);

    const signerAddr = String(
      (await signer.waitFor((l) => l["msg"] === "remote signer listening", 30_000))["addr"],
    );
    const gw = new LpNodeProcess([
      "--mode",
      "gateway",
      "-httpAddr",
      "127.0.0.1:0",
      "-rtmpAddr",
      "127.0.0.1:0",
      "-cliAddr",
      "127.0.0.1:0",
      "-orchAddr",
      `127.0.0.1:${port}`,
      "-remoteSignerUrl",
      `http://${signerAddr}`,
      "-remoteSignerHeaders",
      "X-Api-Key:gw-key-123",
    ]);
    await gw.waitFor((l) => l["msg"] === "paying orchestrators through the remote signer", 30_000);
    const httpAddr = String(
      (await gw.waitFor((l) => l["msg"] === "gateway HTTP server listening", 30_000))["addr"],
    );
    const clip = readFileSync(makeClip({ seconds: 2, width: 320, height: 240 }));
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`http://${httpAddr}/live/rs/${i}.ts`, { method: "POST", body: clip });
      expect(res.status, await res.text()).toBe(200);
    }
    // The signer was asked for each segment, with the gateway's -remoteSignerHeaders.
    expect(hookHeaders.length).toBe(3);
    expect(hookHeaders[0]!["X-Api-Key"]).toEqual(["gw-key-123"]);
    // The headers are a secret of the gateway: never logged.
    expect(gw.stderr).not.toContain("gw-key-123");
    expect(signer.stderr).not.toContain("gw-key-123");

    const gstatus = (await (await fetch(`http://${await cliOf(gw)}/status`)).json()) as {
      Sender: { address: string; payments: number; tickets: number };
    };
    expect(gstatus.Sender.address).toBe(signerAddress);
    expect(gstatus.Sender.payments).toBe(3);
    const sstatus = (await (await fetch(`http://${await cliOf(signer)}/status`)).json()) as {
      RemoteSigner: { tickets: number; payments: number };
    };
    expect(sstatus.RemoteSigner.payments).toBe(3);
    expect(sstatus.RemoteSigner.tickets).toBe(gstatus.Sender.tickets);

    const ocli = await cliOf(o);
    const tickets = async () =>
      (
        (await (await fetch(`http://${ocli}/status`)).json()) as {
          Tickets: Record<string, { Count: number; FaceValue: string }>;
        }
      ).Tickets;
    const won = (await tickets()).Pending!;
    expect(won.Count).toBe(gstatus.Sender.tickets);
    expect(won.Count).toBeGreaterThanOrEqual(1);
    await chain.nextRound();
    await waitFor(async () => (await tickets()).Redeemed?.Count === won.Count, {
      what: "every winning ticket redeemed",
      timeoutMs: 60_000,
      intervalMs: 200,
    });
    const [info] = (await chain.publicClient.readContract({
      address: chain.dev.contracts.TicketBroker,
      abi: abis.TicketBroker as Abi,
      functionName: "getSenderInfo",
      args: [signerAddress],
    })) as [{ deposit: bigint }];
    expect(info.deposit).toBe(DEPOSIT - FACE * BigInt(won.Count));

    // Two rounds later the stream's ticket params have expired: the signer answers 480, the
    // gateway asks the orchestrator again and the segment still goes through.
    await chain.nextRound();
    await chain.nextRound();
    const head = await chain.publicClient.getBlockNumber({ cacheTime: 0 });
    const seen = async (cli: string) => {
      const st = (await (await fetch(`http://${cli}/status`)).json()) as { Round: { lastSeenBlock: string } };
      return BigInt(st.Round.lastSeenBlock) >= head;
    };
    const [scli, ocli2] = [await cliOf(signer), await cliOf(o)];
    await waitFor(async () => (await seen(scli)) && (await seen(ocli2)), {
      what: "the signer and the orchestrator see the new blocks",
      timeoutMs: 20_000,
      intervalMs: 100,
    });
    const late = await fetch(`http://${httpAddr}/live/rs/3.ts`, { method: "POST", body: clip });
    expect(late.status, await late.text()).toBe(200);
    const after = (await (await fetch(`http://${await cliOf(gw)}/status`)).json()) as {
      Sender: { payments: number; refreshed: number };
    };
    expect(after.Sender.refreshed).toBe(1);
    expect(after.Sender.payments).toBe(4);
    // Two segments at once: the session's signer calls go in turn (each needs the last state).
    const both = await Promise.all(
      [4, 5].map((i) => fetch(`http://${httpAddr}/live/rs/${i}.ts`, { method: "POST", body: clip })),
    );
    expect(both.map((r) => r.status)).toEqual([200, 200]);

    // Without -orchAddr the gateway finds the orchestrator through the signer's discovery.
    const gw2 = new LpNodeProcess([
      "--mode",
      "gateway",
      "-httpAddr",
      "127.0.0.1:0",
      "-rtmpAddr",
      "127.0.0.1:0",
      "-cliAddr",
      "127.0.0.1:0",
      "-remoteSignerUrl",
      `http://${signerAddr}`,
    ]);
    const http2 = String(
      (await gw2.waitFor((l) => l["msg"] === "gateway HTTP server listening", 30_000))["addr"],
    );
    const res = await fetch(`http://${http2}/live/rs2/0.ts`, { method: "POST", body: clip });
    expect(res.status, await res.text()).toBe(200);
    const g2 = (await (await fetch(`http://${await cliOf(gw2)}/status`)).json()) as {
      Sender: { payments: number };
      OrchestratorPool: string[];
    };
    expect(g2.Sender.payments).toBe(1);
    expect(g2.OrchestratorPool).toEqual([`https://127.0.0.1:${port}`]);
  }, 180_000);

  it("a gateway whose signer does not answer stops at start with go-livepeer's text", async () => {
    const r = await runLpNode(
      [
        "--mode",
        "gateway",
        "-httpAddr",
        "127.0.0.1:0",
        "-rtmpAddr",
        "127.0.0.1:0",
        "-cliAddr",
        "127.0.0.1:0",
        "-orchAddr",
        "127.0.0.1:1",
        "-remoteSignerUrl",
        "http://127.0.0.1:1",
      ],
      {},
      30_000,
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("Unable to query remote signer");
  });

  it("refuses a malformed -remoteSignerUrl", async () => {
    const r = await runLpNode(["--mode", "gateway", "-remoteSignerUrl", "http://[::1"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("Invalid remote signer URL");
  });
});
