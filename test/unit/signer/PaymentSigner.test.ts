import { createServer, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { Signer } from "../../../src/eth/signer.js";
import { RemoteSignerClient, RemoteSignerPayments } from "../../../src/gateway/RemoteSigner.js";
import { HttpClient } from "../../../src/http/client.js";
import { silentLogger } from "../../../src/logger/logger.js";
import { parseSenderOptions, type SenderInfo } from "../../../src/payments/Sender.js";
import { minimalBytes } from "../../../src/payments/ticket.js";
import {
  AuthTokenSchema,
  OrchestratorInfoSchema,
  PaymentSchema,
  PriceInfoSchema,
  SegDataSchema,
  TicketExpirationParamsSchema,
  TicketParamsSchema,
} from "../../../src/protocol/gen/lp_rpc_pb.js";
import {
  LV2V_PIXELS_PER_SECOND,
  PaymentSigner,
  type PaymentSignerStore,
  parseMaxPrice,
} from "../../../src/signer/PaymentSigner.js";
import { MAX_SIGNER_BODY_BYTES, SignerServer } from "../../../src/signer/SignerServer.js";
import { SignerStore } from "../../../src/signer/SignerStore.js";
import { SignerError } from "../../../src/signer/state.js";
import { SignerWebhook } from "../../../src/signer/webhook.js";
import { ANVIL_KEYS } from "../../helpers/anvil.js";
import { tempDir } from "../../helpers/tmp.js";

const key = Signer.fromPrivateKey(ANVIL_KEYS[3]);
const ORCH = Buffer.from("70997970c51812dc3a010c7d01b50e0d17dc79c8", "hex");
const FACE = 10n ** 16n;
// winProb (2^256 − 1) / 5: EV = FACE / 5 exactly.
const FIFTH = ((1n << 256n) - 1n) / 5n;
const EV = FACE / 5n;
const funds: SenderInfo = {
  deposit: 10n ** 19n,
  withdrawRound: 0n,
  reserve: { fundsRemaining: 10n ** 18n, claimedInCurrentRound: 0n },
} as SenderInfo;

function infoBlob(opts: {
  expirationBlock?: bigint;
  tokenExpiresInS?: number;
  price?: bigint;
  now: number;
}): string {
  const info = create(OrchestratorInfoSchema, {
    transcoder: "https://orch.example:8935",
    address: ORCH,
    priceInfo: create(PriceInfoSchema, { pricePerUnit: opts.price ?? 1n, pixelsPerUnit: 1n }),
    ticketParams: create(TicketParamsSchema, {
      recipient: ORCH,
      faceValue: minimalBytes(FACE),
      winProb: minimalBytes(FIFTH),
      recipientRandHash: Buffer.alloc(32, 7),
      seed: minimalBytes(42n),
      expirationBlock: minimalBytes(opts.expirationBlock ?? 100n),
      expirationParams: create(TicketExpirationParamsSchema, {
        creationRound: 5n,
        creationRoundBlockHash: Buffer.alloc(32, 9),
      }),
    }),
    authToken: create(AuthTokenSchema, {
      token: Buffer.alloc(32, 1),
      sessionId: "sess",
      expiration: BigInt(Math.floor(opts.now / 1000) + (opts.tokenExpiresInS ?? 1800)),
    }),
  });
  return Buffer.from(toBinary(OrchestratorInfoSchema, info)).toString("base64");
}

let clock = 1_800_000_000_000;
const servers: Server[] = [];
const clients: HttpClient[] = [];
const stores: SignerStore[] = [];
afterEach(async () => {
  for (const st of stores.splice(0)) st.close();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

async function webhook(answer: () => object): Promise<{ hook: SignerWebhook; calls: () => number }> {
  let n = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      n++;
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(answer()));
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const http = new HttpClient({ insecureTls: false });
  clients.push(http);
  const hook = new SignerWebhook(
    { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, headers: {} },
    { http },
  );
  return { hook, calls: () => n };
}

/** A throwaway SQLite store on the test clock, closed after the test. */
function memoryStore(): SignerStore {
  const st = new SignerStore({ datadir: "", fileName: ":memory:" }, () => clock).open();
  stores.push(st);
  return st;
}

function makeSigner(
  hook: SignerWebhook | null = null,
  extra: { maxTicketEV?: string; maxTotalEV?: string; store?: PaymentSignerStore } = {},
) {
  return new PaymentSigner(
    {
      ...parseSenderOptions({
        maxTicketEV: extra.maxTicketEV ?? String(FACE),
        maxTotalEV: extra.maxTotalEV ?? String(FACE * 200n),
      }),
      maxPrices: null,
    },
    {
      key,
      funds: { senderInfo: () => funds },
      time: () => ({
        lastSeenL1Block: 50n,
        lastInitializedRound: 5n,
        lastInitializedBlockHash: `0x${"09".repeat(32)}`,
      }),
      webhook: hook,
      logger: silentLogger(),
      now: () => clock,
      store: extra.store ?? memoryStore(),
    },
  );
}

async function refusal(
  p: Promise<unknown>,
): Promise<{ status: number; message: string; headers: Record<string, string> }> {
  try {
    await p;
  } catch (err) {
    if (err instanceof SignerError) return { status: err.status, message: err.message, headers: err.headers };
    throw err;
  }
  throw new Error("expected a refusal");
}

describe("PaymentSigner", () => {
  it("lv2v: 60 s of 720p30 on the first call, then the seconds since the last one; nonces continue", async () => {
    const s = makeSigner();
    const blob = infoBlob({ now: clock });
    const first = await s.generate({ orchestrator: blob, type: "lv2v" }, {});
    const p1 = fromBinary(PaymentSchema, Buffer.from(first.payment, "base64"));
    // fee = 60 × 27,648,000 × 1 wei, under one EV (2e15): one ticket.
    expect(p1.ticketSenderParams.map((t) => t.senderNonce)).toEqual([1]);
    const st1 = JSON.parse(Buffer.from(first.state.State, "base64").toString());
    expect(st1.Balance).toBe((EV - LV2V_PIXELS_PER_SECOND * 60n).toString());
    expect(st1.Type).toBe("lv2v");
    clock += 10_000;
    const second = await s.generate(
      { orchestrator: blob, type: "lv2v", ManifestID: "m", state: first.state },
      {},
    );
    const p2 = fromBinary(PaymentSchema, Buffer.from(second.payment, "base64"));
    expect(p2.ticketSenderParams.map((t) => t.senderNonce)).toEqual([2]);
    const st2 = JSON.parse(Buffer.from(second.state.State, "base64").toString());
    expect(st2.Balance).toBe((2n * EV - LV2V_PIXELS_PER_SECOND * 70n).toString());
    expect(st2.SequenceNumber).toBe(2);
    // The segment credentials are the signer's over the manifest it was given.
    const seg = fromBinary(SegDataSchema, Buffer.from(second.segCreds, "base64"));
    expect(Buffer.from(seg.manifestId).toString()).toBe("m");
  });

  it("480 with the orchestrator's URL when the auth token is near expiry or the params expired; nothing signed", async () => {
    const s = makeSigner();
    const near = await refusal(
      s.generate({ orchestrator: infoBlob({ now: clock, tokenExpiresInS: 100 }), type: "fixed" }, {}),
    );
    expect(near).toEqual({
      status: 480,
      message: "refresh session for remote signer",
      headers: { "Livepeer-Orchestrator-URL": "https://orch.example:8935" },
    });
    const expired = await refusal(
      s.generate({ orchestrator: infoBlob({ now: clock, expirationBlock: 51n }), type: "fixed" }, {}),
    );
    expect(expired.status).toBe(480);
    expect(s.counters.tickets).toBe(0);
  });

  it("more than 100 tickets is 400; a bad maxPrice unit is 400", async () => {
    const s = makeSigner();
    // 1e11 pixels at 2e7 wei over an EV of 2e15: 1000 tickets.
    const costly = infoBlob({ now: clock, price: 20_000_000n });
    const many = await refusal(s.generate({ orchestrator: costly, type: "", inPixels: 1e11 }, {}));
    expect(many).toEqual({ status: 400, message: "numTickets 1000 exceeds maximum of 100", headers: {} });
    const unit = await refusal(
      s.generate(
        {
          orchestrator: infoBlob({ now: clock }),
          type: "live",
          maxPrice: { price: 1, currency: "wei", unit: "fixed" },
        },
        {},
      ),
    );
    expect(unit.message).toBe("invalid maxPrice: unit fixed does not match job type live");
    expect(s.counters.tickets).toBe(0);
  });

  it("two requests with one state at once: one is signed, the other refused", async () => {
    const s = makeSigner();
    const blob = infoBlob({ now: clock });
    const first = await s.generate({ orchestrator: blob, type: "fixed" }, {});
    const body = { orchestrator: blob, type: "fixed", ManifestID: "m", state: first.state };
    const results = await Promise.allSettled([s.generate(body, {}), s.generate(body, {})]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const bad = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    expect((bad.reason as SignerError).message).toBe("invalid state: replayed or stale");
  });

  it("the webhook's expiry is cached in the state; its auth id may not change", async () => {
    let expiry = 0;
    let authId = "a1";
    const { hook, calls } = await webhook(() => ({ status: 200, expiry, auth_id: authId }));
    const s = makeSigner(hook);
    const blob = infoBlob({ now: clock });
    expiry = Math.floor(clock / 1000) + 60;
    const first = await s.generate({ orchestrator: blob, type: "fixed" }, {});
    expect(calls()).toBe(1);
    const second = await s.generate(
      { orchestrator: blob, type: "fixed", ManifestID: "m", state: first.state },
      {},
    );
    // Within the expiry the webhook is not asked again.
    expect(calls()).toBe(1);
    clock += 61_000;
    authId = "someone-else";
    const changed = await refusal(
      s.generate({ orchestrator: blob, type: "fixed", ManifestID: "m", state: second.state }, {}),
    );
    expect(calls()).toBe(2);
    expect(changed.status).toBe(500);
    // A refused request leaves the state usable: the next answer is about money (two tickets'
    // credit covers a fixed job), not a replay.
    authId = "a1";
    const again = await refusal(
      s.generate({ orchestrator: blob, type: "fixed", ManifestID: "m", state: second.state }, {}),
    );
    expect(again).toEqual({ status: 482, message: "no tickets", headers: {} });
  });

  it("an invalid maxPrice from the webhook is 502", async () => {
    const { hook } = await webhook(() => ({
      status: 200,
      maxPrice: { price: -1, currency: "wei", unit: "fixed" },
    }));
    const s = makeSigner(hook);
    const r = await refusal(s.generate({ orchestrator: infoBlob({ now: clock }), type: "fixed" }, {}));
    expect(r.status).toBe(502);
    expect(s.counters.tickets).toBe(0);
  });

  it("parses request ceilings per unit", () => {
    expect(
      parseMaxPrice({ price: 27648000, currency: "WEI", unit: "720p-pixel-seconds" }, "lv2v")?.ratString(),
    ).toBe("1");
    expect(parseMaxPrice({ price: 3, currency: "wei", unit: "seconds" }, "live")?.ratString()).toBe("3");
    expect(() => parseMaxPrice({ price: 3, currency: "usd", unit: "seconds" }, "live")).toThrow(
      /unsupported currency/,
    );
    expect(parseMaxPrice(undefined, "live")).toBeNull();
  });
});

describe("PaymentSigner across a restart (the store in the data folder)", () => {
  // 1e8 pixels at 2e7 wei: a fee of exactly one EV, so every payment carries one ticket.
  const pay = (s: PaymentSigner, state?: unknown) =>
    s.generate(
      {
        orchestrator: infoBlob({ now: clock, price: 20_000_000n }),
        type: "",
        inPixels: 1e8,
        ...(state ? { ManifestID: "m", state } : {}),
      },
      {},
    );
  const nonces = (r: { payment: string }) =>
    fromBinary(PaymentSchema, Buffer.from(r.payment, "base64")).ticketSenderParams.map((t) => t.senderNonce);

  it("refuses a state replayed after the restart, takes the latest, and keeps nonces unique", async () => {
    const dir = tempDir("lp-signer-store-");
    const beforeStore = new SignerStore({ datadir: dir }, () => clock).open();
    stores.push(beforeStore);
    const before = makeSigner(null, { store: beforeStore });
    const a = await pay(before);
    const b = await pay(before, a.state);
    // A second state paying the same orchestrator session takes the next nonce.
    const other = await pay(before);
    expect([nonces(a), nonces(b), nonces(other)]).toEqual([[1], [2], [3]]);
    beforeStore.close();

    const store = new SignerStore({ datadir: dir }, () => clock).open();
    stores.push(store);
    const after = makeSigner(null, { store });
    expect(await refusal(pay(after, a.state))).toEqual({
      status: 400,
      message: "invalid state: replayed or stale",
      headers: {},
    });
    expect(after.counters.tickets).toBe(0);
    const c = await pay(after, b.state);
    // Nonce 3 went to the other state before the restart: this one continues after it.
    expect(nonces(c)).toEqual([4]);
    expect(await refusal(pay(after, b.state))).toMatchObject({ message: "invalid state: replayed or stale" });
    expect(after.replay.active(60_000)).toBe(2);
  });

  it("refuses a state older than a day by its signed time, and one this signer has no record of", async () => {
    const store = memoryStore();
    const s = makeSigner(null, { store });
    const a = await pay(s);
    const fresh = await pay(s);
    // Another signer with the same key but its own store (or a lost data folder): unknown.
    expect(await refusal(pay(makeSigner(), fresh.state))).toEqual({
      status: 400,
      message: "invalid state: unknown to this signer",
      headers: {},
    });
    clock += 24 * 3600_000 + 1;
    expect(await refusal(pay(s, a.state))).toEqual({
      status: 400,
      message: "invalid state: expired",
      headers: {},
    });
    expect(s.counters.tickets).toBe(2);
  });
});

describe("a gateway paying through the signer (-remoteSignerUrl)", () => {
  it("starts a new state once when the signer no longer knows its state, instead of failing every segment", async () => {
    // The signer's records can be swapped for an empty set: a signer whose data folder was lost.
    let records = memoryStore();
    const store: PaymentSignerStore = {
      get maxAgeMs() {
        return records.maxAgeMs;
      },
      lastSequence: (id) => records.lastSequence(id),
      recordIssued: (id, seq) => records.recordIssued(id, seq),
      activeSince: (since) => records.activeSince(since),
      reserveNonces: (session, from, n) => records.reserveNonces(session, from, n),
    };
    const server = new SignerServer(
      { addr: { host: "127.0.0.1", port: 0 } },
      { logger: silentLogger(), signer: makeSigner(null, { store }), discovery: null },
    );
    await server.start();
    const http = new HttpClient({ insecureTls: false });
    clients.push(http);
    const url = `http://127.0.0.1:${server.port}`;
    const gateway = new RemoteSignerPayments(new RemoteSignerClient({ url, headers: {} }, { http }), {
      url,
      maxPrices: null,
      logger: silentLogger(),
      now: () => clock,
    });
    try {
      await gateway.start();
      const session = gateway.startSession(
        "https://orch.example:8935",
        fromBinary(OrchestratorInfoSchema, Buffer.from(infoBlob({ now: clock }), "base64")),
      );
      const segment = async (seq: number) => {
        const handle = await gateway.paymentFor(
          session,
          [{ width: 426, height: 240, fps: 30, fpsDen: 1 }],
          2000,
        );
        await gateway.segmentSig(
          { manifestId: "m", seq, hash: Buffer.alloc(32, seq), profileNames: ["P240p30fps16x9"] },
          handle,
        );
        return handle;
      };
      await segment(0);
      await segment(1);
      records = memoryStore();
      const after = await segment(2);
      // A new state starts with no credit at the orchestrator: it pays a ticket again.
      expect(after.numTickets).toBe(1);
      expect(gateway.status()).toMatchObject({ payments: 3, refused: 1, stateRestarts: 1 });
      // Each later loss is recovered the same way.
      records = memoryStore();
      await segment(3);
      expect(gateway.status()).toMatchObject({ payments: 4, stateRestarts: 2 });
    } finally {
      await server.stop();
    }
  });
});

describe("SignerServer", () => {
  it("answers in go-livepeer's JSON envelope, caps bodies, and has no discovery route without -remoteDiscovery", async () => {
    const server = new SignerServer(
      { addr: { host: "127.0.0.1", port: 0 } },
      { logger: silentLogger(), signer: makeSigner(), discovery: null },
    );
    await server.start();
    try {
      const base = `http://127.0.0.1:${server.port}`;
      expect((await fetch(`${base}/discover-orchestrators`)).status).toBe(404);
      const big = await fetch(`${base}/generate-live-payment`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "x".repeat(MAX_SIGNER_BODY_BYTES + 1),
      });
      expect(big.status).toBe(413);
      expect((await big.json()) as unknown).toHaveProperty("error.message");
      const missing = await fetch(`${base}/generate-live-payment`, { method: "POST", body: "{}" });
      expect(missing.status).toBe(400);
      expect(await missing.text()).toBe(
        `${JSON.stringify({ error: { message: "missing orchestrator" } })}\n`,
      );
    } finally {
      await server.stop();
    }
  });

  it("takes any Content-Type, an empty or unparsable one too, as go-livepeer (which never reads it)", async () => {
    const { hook, calls } = await webhook(() => ({ status: 403, reason: "no" }));
    let seen: unknown;
    const hooked = makeSigner(hook);
    const authorize = hook.authorize.bind(hook);
    hook.authorize = (incoming, state) => {
      seen = incoming["content-type"];
      return authorize(incoming, state);
    };
    const server = new SignerServer(
      { addr: { host: "127.0.0.1", port: 0 } },
      { logger: silentLogger(), signer: hooked, discovery: null },
    );
    await server.start();
    // node:http sends the header exactly as given (fetch would drop an empty one).
    const post = (path: string, contentType: string | null, body: string) =>
      new Promise<{ status: number; body: string }>((done, fail) => {
        const req = httpRequest(
          {
            host: "127.0.0.1",
            port: server.port,
            method: "POST",
            path,
            headers: contentType === null ? {} : { "content-type": contentType },
          },
          (res) => {
            let text = "";
            res.on("data", (d) => {
              text += d;
            });
            res.on("end", () => done({ status: res.statusCode ?? 0, body: text }));
          },
        );
        req.on("error", fail);
        req.end(body);
      });
    try {
      for (const ct of ["", " ", "bogus", "application/json", null]) {
        const r = await post("/generate-live-payment", ct, "{}");
        expect([ct, r.status, r.body]).toEqual([
          ct,
          400,
          `${JSON.stringify({ error: { message: "missing orchestrator" } })}\n`,
        ]);
        const info = await post("/sign-orchestrator-info", ct, "");
        expect([ct, info.status]).toEqual([ct, 200]);
      }
      // The webhook is shown the header as the caller sent it.
      const refused = await post(
        "/generate-live-payment",
        "",
        JSON.stringify({ orchestrator: infoBlob({ now: clock }), type: "fixed" }),
      );
      expect(refused.status).toBe(403);
      expect(calls()).toBe(1);
      expect(seen).toBe("");
    } finally {
      await server.stop();
    }
  });
});
