import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { parseEther } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { minimalBytes } from "../../../src/payments/ticket.js";
import {
  AuthTokenSchema,
  OrchestratorInfoSchema,
  PaymentSchema,
  PriceInfoSchema,
  TicketExpirationParamsSchema,
  TicketParamsSchema,
} from "../../../src/protocol/gen/lp_rpc_pb.js";
import { ANVIL_KEYS } from "../../helpers/anvil.js";
import { LpNodeProcess, stopAllLpNodes } from "../../helpers/lpNode.js";
import { keystoreDataDir, startTestChain, type TestChain } from "../../helpers/testChain.js";

// A spawned remote signer is killed and started again on the same data folder between two uses of
// one state: the restarted signer must still refuse the older copy, take the latest, and go on
// with the ticket nonces where it left them. The client is plain fetch with hand-made protobufs.

const PASSWORD = "correct horse";
const FACE = parseEther("0.01");
// winProb (2^256 − 1) / 5: EV = FACE / 5. At 2e7 wei a pixel, 1e8 pixels cost exactly one EV.
const WIN_PROB = ((1n << 256n) - 1n) / 5n;
const [, orchKey, signerKey] = ANVIL_KEYS;
const orchAddress = privateKeyToAccount(orchKey).address;

let chain: TestChain;
let datadir: string;
let blob: string;

function startSigner(): LpNodeProcess {
  return new LpNodeProcess([
    "--mode",
    "remote-signer",
    "-httpAddr",
    "127.0.0.1:0",
    ...chain.flags(),
    "-ethPassword",
    PASSWORD,
    "-blockPollingInterval",
    "1",
    "-datadir",
    datadir,
    "-cliAddr",
    "127.0.0.1:0",
    "-maxTicketEV",
    FACE.toString(),
    "-maxTotalEV",
    (FACE * 10n).toString(),
  ]);
}

beforeAll(async () => {
  chain = await startTestChain();
  await chain.send(
    signerKey,
    "TicketBroker",
    "fundDepositAndReserve",
    [parseEther("10"), parseEther("1")],
    parseEther("11"),
  );
  datadir = await keystoreDataDir(signerKey, PASSWORD, "lp-sig-replay-");
  // The signer checks the params' expiry against the chain and the token's against its clock; it
  // does not need the orchestrator itself to sign tickets for it.
  const head = await chain.publicClient.getBlockNumber({ cacheTime: 0 });
  const orch = Buffer.from(orchAddress.slice(2), "hex");
  const info = create(OrchestratorInfoSchema, {
    transcoder: "https://127.0.0.1:1",
    address: orch,
    priceInfo: create(PriceInfoSchema, { pricePerUnit: 20_000_000n, pixelsPerUnit: 1n }),
    ticketParams: create(TicketParamsSchema, {
      recipient: orch,
      faceValue: minimalBytes(FACE),
      winProb: minimalBytes(WIN_PROB),
      recipientRandHash: Buffer.alloc(32, 7),
      seed: minimalBytes(42n),
      expirationBlock: minimalBytes(head + 100_000n),
      expirationParams: create(TicketExpirationParamsSchema, {
        creationRound: 1n,
        creationRoundBlockHash: Buffer.alloc(32, 9),
      }),
    }),
    authToken: create(AuthTokenSchema, {
      token: Buffer.alloc(32, 1),
      sessionId: "sess",
      expiration: BigInt(Math.floor(Date.now() / 1000) + 3600),
    }),
  });
  blob = Buffer.from(toBinary(OrchestratorInfoSchema, info)).toString("base64");
}, 90_000);

afterAll(async () => {
  await stopAllLpNodes();
  await chain?.stop();
});

async function pay(node: LpNodeProcess, state?: unknown) {
  const url = `http://${await node.listenAddr("remote signer listening")}/generate-live-payment`;
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      orchestrator: blob,
      type: "",
      inPixels: 1e8,
      ...(state ? { ManifestID: "m", state } : {}),
    }),
  });
  const json = (await res.json()) as Record<string, unknown>;
  const nonces =
    res.status === 200
      ? fromBinary(PaymentSchema, Buffer.from(json["payment"] as string, "base64")).ticketSenderParams.map(
          (t) => t.senderNonce,
        )
      : [];
  return { status: res.status, json, nonces };
}

type SignerStatus = {
  sessions: number;
  requests: number;
  payments: number;
  tickets: number;
  refused: Record<string, number>;
};
const signerStatus = async (node: LpNodeProcess) =>
  (await node.status<{ RemoteSigner: SignerStatus }>()).RemoteSigner;

describe("remote signer replay protection across a restart", () => {
  it("refuses a replayed state after a kill and restart, takes the latest, and /status shows sessions and requests", async () => {
    const first = startSigner();
    const a = await pay(first);
    expect(a.status, JSON.stringify(a.json)).toBe(200);
    const b = await pay(first, a.json["state"]);
    expect(b.status, JSON.stringify(b.json)).toBe(200);
    const other = await pay(first);
    expect(other.status).toBe(200);
    expect([a.nonces, b.nonces, other.nonces]).toEqual([[1], [2], [3]]);
    // The older copy is refused while the signer runs, too.
    expect((await pay(first, a.json["state"])).status).toBe(400);
    expect(await signerStatus(first)).toMatchObject({
      sessions: 2,
      requests: 4,
      payments: 3,
      tickets: 3,
      refused: { "400": 1 },
    });

    // Killed hard: what it issued was committed before each answer.
    await first.kill();
    const second = startSigner();
    const replay = await pay(second, a.json["state"]);
    expect(replay).toMatchObject({
      status: 400,
      json: { error: { message: "invalid state: replayed or stale" } },
    });
    const c = await pay(second, b.json["state"]);
    expect(c.status, JSON.stringify(c.json)).toBe(200);
    // Nonce 3 went to the other state before the restart: no nonce is signed twice.
    expect(c.nonces).toEqual([4]);
    // Counters restart with the process; live sessions come from the store.
    expect(await signerStatus(second)).toMatchObject({
      sessions: 2,
      requests: 2,
      payments: 1,
      tickets: 1,
      refused: { "400": 1 },
    });
  }, 120_000);
});
