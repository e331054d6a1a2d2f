import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { parseEther } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ANVIL_KEYS } from "../helpers/anvil.js";
import { GATEWAY_ON_PORT_0, LpNodeProcess, runLpNode, stopAllLpNodes } from "../helpers/lpNode.js";
import { makeClip, removeClips } from "../helpers/media.js";
import {
  onChainOrchestratorArgs,
  onChainSignerArgs,
  senderDeposit,
  startPaidChain,
  ticketsOf,
  waitForBlockSeen,
  waitForRedeemed,
} from "../helpers/paidChain.js";
import { keystoreDataDir, type TestChain } from "../helpers/testChain.js";

// An offchain lp-node gateway with -remoteSignerUrl streams through an lp-node orchestrator on a
// devnet: it holds no key, the remote signer (spawned lp-node) pays with its deposit.

const PASSWORD = "correct horse";
const FACE = parseEther("0.01");
const DEPOSIT = parseEther("10");
const [, orchKey, signerKey] = ANVIL_KEYS;
const signerAddress = privateKeyToAccount(signerKey).address;
let chain: TestChain;
let hook: Server;
const hookHeaders: Record<string, string[]>[] = [];

beforeAll(async () => {
  chain = await startPaidChain({
    orchestrator: orchKey,
    sender: signerKey,
    deposit: DEPOSIT,
    reserve: parseEther("1"),
  });
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

describe("a gateway paying through a remote signer", () => {
  it("streams offchain, pays with the signer's tickets, and the winners redeem from the signer's deposit", async () => {
    const o = new LpNodeProcess(
      onChainOrchestratorArgs(chain, await keystoreDataDir(orchKey, PASSWORD, "lp-rs-o-"), {
        password: PASSWORD,
        face: FACE,
      }),
    );
    const port = await o.orchestratorPort();
    const signer = new LpNodeProcess(
      onChainSignerArgs(chain, await keystoreDataDir(signerKey, PASSWORD, "lp-rs-s-"), {
        password: PASSWORD,
        face: FACE,
        orchAddr: `127.0.0.1:${port}`,
        webhookUrl: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/`,
      }),
    );

    const signerAddr = await signer.listenAddr("remote signer listening");
    const gw = new LpNodeProcess([
      ...GATEWAY_ON_PORT_0,
      "-orchAddr",
      `127.0.0.1:${port}`,
      "-remoteSignerUrl",
      `http://${signerAddr}`,
      "-remoteSignerHeaders",
      "X-Api-Key:gw-key-123",
    ]);
    await gw.waitFor((l) => l["msg"] === "paying orchestrators through the remote signer", 30_000);
    const httpAddr = await gw.gatewayHttpAddr();
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

    const gstatus = await gw.status<{ Sender: { address: string; payments: number; tickets: number } }>();
    expect(gstatus.Sender.address).toBe(signerAddress);
    expect(gstatus.Sender.payments).toBe(3);
    const sstatus = await signer.status<{ RemoteSigner: { tickets: number; payments: number } }>();
    expect(sstatus.RemoteSigner.payments).toBe(3);
    expect(sstatus.RemoteSigner.tickets).toBe(gstatus.Sender.tickets);

    const won = (await ticketsOf(o)).Pending!;
    expect(won.Count).toBe(gstatus.Sender.tickets);
    expect(won.Count).toBeGreaterThanOrEqual(1);
    await chain.nextRound();
    await waitForRedeemed(o, won.Count, "every winning ticket redeemed");
    expect(await senderDeposit(chain, signerAddress)).toBe(DEPOSIT - FACE * BigInt(won.Count));

    // Two rounds later the stream's ticket params have expired: the signer answers 480, the
    // gateway asks the orchestrator again and the segment still goes through.
    await chain.nextRound();
    await chain.nextRound();
    const head = await chain.publicClient.getBlockNumber({ cacheTime: 0 });
    await waitForBlockSeen([signer, o], head, "the signer and the orchestrator see the new blocks");
    const late = await fetch(`http://${httpAddr}/live/rs/3.ts`, { method: "POST", body: clip });
    expect(late.status, await late.text()).toBe(200);
    const after = await gw.status<{ Sender: { payments: number; refreshed: number } }>();
    expect(after.Sender.refreshed).toBe(1);
    expect(after.Sender.payments).toBe(4);
    // Two segments at once: the session's signer calls go in turn (each needs the last state).
    const both = await Promise.all(
      [4, 5].map((i) => fetch(`http://${httpAddr}/live/rs/${i}.ts`, { method: "POST", body: clip })),
    );
    expect(both.map((r) => r.status)).toEqual([200, 200]);

    // Without -orchAddr the gateway finds the orchestrator through the signer's discovery.
    const gw2 = new LpNodeProcess([...GATEWAY_ON_PORT_0, "-remoteSignerUrl", `http://${signerAddr}`]);
    const http2 = await gw2.gatewayHttpAddr();
    const res = await fetch(`http://${http2}/live/rs2/0.ts`, { method: "POST", body: clip });
    expect(res.status, await res.text()).toBe(200);
    const g2 = await gw2.status<{ Sender: { payments: number }; OrchestratorPool: string[] }>();
    expect(g2.Sender.payments).toBe(1);
    expect(g2.OrchestratorPool).toEqual([`https://127.0.0.1:${port}`]);
  }, 180_000);

  it("a gateway whose signer does not answer stops at start with go-livepeer's text", async () => {
    const r = await runLpNode(
      [...GATEWAY_ON_PORT_0, "-orchAddr", "127.0.0.1:1", "-remoteSignerUrl", "http://127.0.0.1:1"],
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
