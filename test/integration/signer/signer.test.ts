import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { keccak_256 } from "@noble/hashes/sha3.js";
import { type Hex, hexToBytes, keccak256, parseEther, recoverMessageAddress, stringToBytes } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Rat } from "../../../src/payments/rat.js";
import {
  CapabilitiesSchema,
  type OrchestratorInfo,
  OrchestratorInfoSchema,
  OrchestratorRequestSchema,
  PaymentSchema,
  SegDataSchema,
  TranscodeResultSchema,
  VideoProfileSchema,
} from "../../../src/protocol/gen/lp_rpc_pb.js";
import { ANVIL_KEYS } from "../../helpers/anvil.js";
import { INSECURE_TLS, TLS_NAME_OPTIONS } from "../../helpers/grpcClient.js";
import { h2request } from "../../helpers/h2.js";
import { LpNodeProcess, runLpNode, stopAllLpNodes } from "../../helpers/lpNode.js";
import { makeClip, removeClips } from "../../helpers/media.js";
import {
  onChainOrchestratorArgs,
  onChainSignerArgs,
  senderDeposit,
  startPaidChain,
  ticketsOf,
  waitForBlockSeen,
  waitForRedeemed,
} from "../../helpers/paidChain.js";
import { keystoreDataDir, type TestChain } from "../../helpers/testChain.js";

// A remote signer (spawned lp-node) pays an lp-node orchestrator on a devnet for a client that is
// not our gateway: plain fetch for the signer's JSON API, grpc-js for GetOrchestrator, and the
// generated protobuf types for the wire messages.

const PASSWORD = "correct horse";
const FACE = parseEther("0.01");
const DEPOSIT = parseEther("10");
const WEBHOOK_SECRET = "Bearer hook-s3cret-value";
const [deployerKey, orchKey, signerKey] = ANVIL_KEYS;
const signerAddress = privateKeyToAccount(signerKey).address;

let chain: TestChain;
let orch: LpNodeProcess;
let signer: LpNodeProcess;
let orchOrigin: string;
let signerUrl: string;
let hook: Server;
let hookMode: "ok" | "garbage" | "refuse" | "hang" | "http500" = "ok";
const hookCalls: { headers: IncomingMessage["headers"]; body: Record<string, unknown> }[] = [];
let clip: Buffer;

beforeAll(async () => {
  chain = await startPaidChain({
    orchestrator: orchKey,
    sender: signerKey,
    deposit: DEPOSIT,
    reserve: parseEther("1"),
  });

  hook = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      hookCalls.push({ headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString()) });
      if (hookMode === "hang") return; // never answers: the signer's 5 s timeout must fire
      if (hookMode === "http500") return res.writeHead(500).end("boom");
      res.writeHead(200, { "content-type": "application/json" });
      if (hookMode === "garbage") return res.end("{not json");
      if (hookMode === "refuse")
        return res.end(JSON.stringify({ status: 403, reason: "caller not allowed" }));
      res.end(JSON.stringify({ status: 200, auth_id: "caller-1" }));
    });
  });
  await new Promise<void>((r) => hook.listen(0, "127.0.0.1", r));

  // Every ticket wins (EV one wei under the face value), so each is redeemed on the TicketBroker.
  orch = new LpNodeProcess(
    onChainOrchestratorArgs(chain, await keystoreDataDir(orchKey, PASSWORD, "lp-sig-o-"), {
      password: PASSWORD,
      face: FACE,
    }),
  );
  const port = await orch.orchestratorPort();
  orchOrigin = `https://127.0.0.1:${port}`;
  signer = new LpNodeProcess(
    onChainSignerArgs(chain, await keystoreDataDir(signerKey, PASSWORD, "lp-sig-s-"), {
      password: PASSWORD,
      face: FACE,
      orchAddr: `127.0.0.1:${port}`,
      webhookUrl: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/auth`,
      extra: ["-remoteSignerWebhookHeaders", `Authorization:${WEBHOOK_SECRET}`],
    }),
  );
  signerUrl = `http://${await signer.listenAddr("remote signer listening")}`;
  await signer.cliAddr();
  await orch.cliAddr();
  clip = readFileSync(makeClip({ seconds: 2, width: 320, height: 240 }));
}, 90_000);

afterAll(async () => {
  await stopAllLpNodes();
  await new Promise<void>((r) => (hook ? hook.close(() => r()) : r()));
  removeClips();
  await chain?.stop();
});

/** GetOrchestrator over grpc-js, returning O's answer as the exact bytes it sent. */
function getOrchestratorBytes(address: Uint8Array, sig: Uint8Array): Promise<Buffer> {
  const client = new grpc.Client(orchOrigin.replace("https://", ""), INSECURE_TLS, TLS_NAME_OPTIONS);
  const req = create(OrchestratorRequestSchema, {
    address,
    sig,
    capabilities: create(CapabilitiesSchema, { bitstring: [0x1003n] }),
  });
  return new Promise((done, fail) => {
    client.makeUnaryRequest(
      "/net.Orchestrator/GetOrchestrator",
      (m: Uint8Array) => Buffer.from(m),
      (b: Buffer) => b,
      toBinary(OrchestratorRequestSchema, req),
      { deadline: Date.now() + 8000 },
      (err, res) => {
        client.close();
        if (err) fail(err);
        else done(res!);
      },
    );
  });
}

async function signerPost(path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${signerUrl}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text);
  } catch {
    // the status carries the outcome
  }
  return { status: res.status, json, headers: res.headers, text };
}

async function signerStatus(): Promise<Record<string, number>> {
  return (await signer.status<{ RemoteSigner: Record<string, number> }>()).RemoteSigner;
}

const P240 = create(VideoProfileSchema, {
  name: "P240p30fps16x9",
  width: 426,
  height: 240,
  bitrate: 600000,
  fps: 30,
});
const INPIXELS = 426 * 240 * 30 * 2;

function segmentBlob(seq: number, data: Buffer): string {
  const seg = create(SegDataSchema, {
    seq: BigInt(seq),
    hash: keccak_256(data),
    duration: 2000,
    capabilities: create(CapabilitiesSchema, { bitstring: [0x1003n] }),
    fullProfiles: [P240],
  });
  return Buffer.from(toBinary(SegDataSchema, seg)).toString("base64");
}

/** O's quoted price per unit with 3 decimals (as go-livepeer's 481 text shows it), from a blob. */
function priceOf(blob: string): string {
  const p = fromBinary(OrchestratorInfoSchema, Buffer.from(blob, "base64")).priceInfo!;
  return Rat.of(p.pricePerUnit, p.pixelsPerUnit).floatString(3);
}

let infoBlob: string;
let info: OrchestratorInfo;

describe("remote signer on a devnet", () => {
  it("signs the InfoSig for its own address", async () => {
    const r = await signerPost("/sign-orchestrator-info", "");
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toContain("application/json");
    expect(r.text.endsWith("\n")).toBe(true);
    expect(r.json["address"]).toBe(signerAddress);
    const recovered = await recoverMessageAddress({
      message: { raw: keccak256(stringToBytes(signerAddress)) },
      signature: r.json["signature"] as Hex,
    });
    expect(recovered).toBe(signerAddress);
    const bytes = await getOrchestratorBytes(
      hexToBytes(signerAddress),
      hexToBytes(r.json["signature"] as Hex),
    );
    infoBlob = bytes.toString("base64");
    info = fromBinary(OrchestratorInfoSchema, bytes);
    // O made its ticket params for the signer's address (the gateway's would be refused).
    expect(info.ticketParams?.recipient.length).toBe(20);
  });

  it('pays for transcoded segments (type "" with inPixels): O accepts them and the winners redeem on the TicketBroker', async () => {
    let state: unknown;
    let blob = infoBlob;
    let tickets = 0;
    for (let seq = 0; seq < 3; seq++) {
      const r = await signerPost(
        "/generate-live-payment",
        {
          orchestrator: blob,
          type: "",
          inPixels: INPIXELS,
          ManifestID: "signer-stream",
          segment: segmentBlob(seq, clip),
          ...(state ? { state } : {}),
        },
        { "Signer-Auth-Id": "caller-1" },
      );
      expect(r.status, r.text).toBe(200);
      const payment = fromBinary(PaymentSchema, Buffer.from(r.json["payment"] as string, "base64"));
      expect(Buffer.from(payment.sender).toString("hex")).toBe(signerAddress.slice(2).toLowerCase());
      tickets += payment.ticketSenderParams.length;
      state = r.json["state"];
      const res = await h2request(orchOrigin, "/segment", {
        method: "POST",
        headers: {
          "content-type": "video/MP2T",
          "livepeer-segment": r.json["segCreds"] as string,
          "livepeer-payment": r.json["payment"] as string,
        },
        body: clip,
      });
      expect(res.status, res.body.toString()).toBe(200);
      const result = fromBinary(TranscodeResultSchema, res.body);
      expect(result.result.case, String(result.result.case === "error" ? result.result.value : "")).toBe(
        "data",
      );
      // O's reply carries fresh ticket params: the next payment is made against them.
      blob = Buffer.from(toBinary(OrchestratorInfoSchema, result.info!)).toString("base64");
    }
    // A payment tops the credit at O up to at least one ticket's EV: the first two segments carry a
    // ticket each; then the credit (2 EV − 2 fees) exceeds one EV and the third carries the
    // sender's signed credentials with a payment without tickets, which O accepts too.
    expect(tickets).toBe(2);
    // The webhook was asked with the configured header, and the caller's headers.
    expect(hookCalls.length).toBeGreaterThan(0);
    expect(hookCalls[0]!.headers["authorization"]).toBe(WEBHOOK_SECRET);
    expect((hookCalls[0]!.body["headers"] as Record<string, string[]>)["Signer-Auth-Id"]).toEqual([
      "caller-1",
    ]);
    // Webhook headers never reach the logs.
    expect(signer.stderr).not.toContain("hook-s3cret");

    expect((await ticketsOf(orch)).Pending?.Count).toBe(tickets);
    await chain.nextRound();
    await waitForRedeemed(orch, tickets, "every winning ticket redeemed");
    expect(await senderDeposit(chain, signerAddress)).toBe(DEPOSIT - FACE * BigInt(tickets));
    const st = await signerStatus();
    expect(st["tickets"]).toBe(tickets);
    expect(st["payments"]).toBe(3);
    expect(st["sessions"]).toBe(1);
  }, 120_000);

  describe("refusals: the status and text, and no ticket signed", () => {
    // A fresh OrchestratorInfo (the previous params were redeemed a round ago).
    let blob: string;
    let fixedState: Record<string, string>;
    let olderState: Record<string, string>;
    beforeAll(async () => {
      const sig = await signerPost("/sign-orchestrator-info", "");
      blob = (
        await getOrchestratorBytes(hexToBytes(signerAddress), hexToBytes(sig.json["signature"] as Hex))
      ).toString("base64");
      hookMode = "ok";
      const first = await signerPost("/generate-live-payment", {
        orchestrator: blob,
        type: "fixed",
        app: "a",
      });
      expect(first.status, first.text).toBe(200);
      olderState = first.json["state"] as Record<string, string>;
      fixedState = olderState;
    });

    const refused = async (
      body: unknown,
      status: number,
      message: string,
      headers?: Record<string, string>,
    ) => {
      const before = await signerStatus();
      const r = await signerPost("/generate-live-payment", body, headers);
      expect(r.status, r.text).toBe(status);
      expect(r.headers.get("content-type")).toContain("application/json");
      expect(r.json).toEqual({ error: { message } });
      const after = await signerStatus();
      expect(after["tickets"]).toBe(before["tickets"]);
      expect(after["payments"]).toBe(before["payments"]);
      return r;
    };

    it("a forged state (edited balance, original signature)", async () => {
      const json = JSON.parse(Buffer.from(fixedState["State"]!, "base64").toString());
      json.Balance = "1000000000000000000000";
      const forged = { State: Buffer.from(JSON.stringify(json)).toString("base64"), Sig: fixedState["Sig"] };
      await refused(
        { orchestrator: blob, type: "fixed", app: "a", ManifestID: "m", state: forged },
        400,
        "invalid sig",
      );
    });

    it("a replayed state (an older copy after a newer one was issued)", async () => {
      const seg = {
        orchestrator: blob,
        type: "",
        app: "r",
        inPixels: 100,
        ManifestID: "m",
        segment: segmentBlob(0, clip),
      };
      const a = await signerPost("/generate-live-payment", seg);
      expect(a.status, a.text).toBe(200);
      const b = await signerPost("/generate-live-payment", { ...seg, state: a.json["state"] });
      expect(b.status, b.text).toBe(200);
      await refused({ ...seg, state: a.json["state"] }, 400, "invalid state: replayed or stale");
      // A request refused for another reason leaves the state usable, once.
      await refused({ ...seg, state: b.json["state"], maxPrice: "x" }, 400, "invalid maxPrice");
      const c = await signerPost("/generate-live-payment", { ...seg, state: b.json["state"] });
      expect(c.status, c.text).toBe(200);
      await refused({ ...seg, state: b.json["state"] }, 400, "invalid state: replayed or stale");
    });

    it("a state for another orchestrator", async () => {
      const other = fromBinary(OrchestratorInfoSchema, Buffer.from(blob, "base64"));
      other.address = hexToBytes(privateKeyToAccount(deployerKey).address);
      const otherBlob = Buffer.from(toBinary(OrchestratorInfoSchema, other)).toString("base64");
      await refused(
        { orchestrator: otherBlob, type: "fixed", app: "a", ManifestID: "m", state: fixedState },
        400,
        "orchestratorAddress mismatch",
      );
    });

    it("a wrong job type or app", async () => {
      await refused(
        { orchestrator: blob, type: "live", app: "a", ManifestID: "m", state: fixedState },
        400,
        "job type mismatch",
      );
      await refused(
        { orchestrator: blob, type: "fixed", app: "b", ManifestID: "m", state: fixedState },
        400,
        "app mismatch",
      );
      await refused({ orchestrator: blob, type: "video" }, 400, "invalid job type");
      await refused({ orchestrator: blob, type: "fixed", state: fixedState }, 400, "missing manifestID");
    });

    it("a malformed orchestrator blob", async () => {
      await refused({ type: "fixed" }, 400, "missing orchestrator");
      await refused({ orchestrator: "not base64!", type: "fixed" }, 400, "invalid orchestrator: not base64");
      const r = await signerPost("/generate-live-payment", {
        orchestrator: Buffer.from([0xff, 0xff, 0xff]).toString("base64"),
        type: "fixed",
      });
      expect(r.status).toBe(400);
      expect(String((r.json["error"] as { message: string }).message)).toMatch(/^invalid orchestrator: /);
      const noPrice = fromBinary(OrchestratorInfoSchema, Buffer.from(blob, "base64"));
      noPrice.priceInfo = undefined;
      await refused(
        {
          orchestrator: Buffer.from(toBinary(OrchestratorInfoSchema, noPrice)).toString("base64"),
          type: "fixed",
        },
        400,
        "missing or zero priceInfo",
      );
      const noParams = fromBinary(OrchestratorInfoSchema, Buffer.from(blob, "base64"));
      noParams.ticketParams = undefined;
      await refused(
        {
          orchestrator: Buffer.from(toBinary(OrchestratorInfoSchema, noParams)).toString("base64"),
          type: "fixed",
        },
        400,
        "missing ticketParams in OrchestratorInfo",
      );
      const bad = await signerPost("/generate-live-payment", "{not json");
      expect(bad.status).toBe(400);
      expect((bad.json["error"] as { message: string }).message).toMatch(/^invalid request: /);
    });

    it("an absurd or missing inPixels", async () => {
      await refused(
        { orchestrator: blob, type: "", inPixels: 1e15 },
        400,
        "inPixels 1000000000000000 exceeds maximum of 238878720000",
      );
      await refused({ orchestrator: blob, type: "", inPixels: -5 }, 400, "missing billable unit or job type");
      await refused({ orchestrator: blob, type: "" }, 400, "missing billable unit or job type");
      await refused({ orchestrator: blob, type: "", inPixels: "many" }, 400, "invalid inPixels");
    });

    it("a price above the request's ceiling is 481", async () => {
      await refused(
        {
          orchestrator: blob,
          type: "",
          inPixels: 100,
          maxPrice: { price: 0.5, currency: "wei", unit: "pixels" },
        },
        481,
        // server/remote_signer.go checkRemotePaymentPrice
        `orchestrator price ${priceOf(blob)} exceeds request maxPrice ceiling 0.500`,
      );
    });

    it("the webhook refuses, answers garbage, fails or times out", async () => {
      const body = { orchestrator: blob, type: "fixed", app: "w" };
      try {
        hookMode = "refuse";
        await refused(body, 403, "caller not allowed");
        hookMode = "garbage";
        await refused(body, 500, "Internal Server Error");
        hookMode = "http500";
        await refused(body, 500, "Internal Server Error");
        hookMode = "hang";
        await refused(body, 500, "Internal Server Error");
      } finally {
        hookMode = "ok";
      }
      expect(signer.stderr).not.toContain("hook-s3cret");
    }, 30_000);

    it("expired ticket params are 480 with the orchestrator's URL to ask again", async () => {
      await chain.nextRound();
      await chain.nextRound();
      const head = await chain.publicClient.getBlockNumber({ cacheTime: 0 });
      await waitForBlockSeen([signer], head, "the signer sees the new blocks");
      const r = await refused(
        { orchestrator: blob, type: "fixed" },
        480,
        "refresh session for remote signer",
      );
      expect(r.headers.get("livepeer-orchestrator-url")).toBe(orchOrigin);
    });
  });

  it("lists the orchestrators it can pay with -remoteDiscovery", async () => {
    const all = await fetch(`${signerUrl}/discover-orchestrators`);
    expect(all.status).toBe(200);
    expect(await all.json()).toEqual([{ address: orchOrigin, score: 1 }]);
    // A transcoding orchestrator offers no AI pipeline: a capability filter leaves nothing.
    const ai = await fetch(`${signerUrl}/discover-orchestrators?caps=live-video-to-video/streamdiffusion`);
    expect(ai.status).toBe(200);
    expect(await ai.json()).toEqual([]);
  });

  it("refuses to start on a public -httpAddr without a webhook", async () => {
    const r = await runLpNode([
      "--mode",
      "remote-signer",
      "-httpAddr",
      "0.0.0.0:0",
      ...chain.flags(),
      "-ethPassword",
      PASSWORD,
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      "Refusing to start: remote signer on public -httpAddr 0.0.0.0:0 with no -remoteSignerWebhookUrl signs payments from this node's deposit for any caller. Set the webhook, or pass -remoteSignerAllowNoAuth to override.",
    );
  });
});
