import { createServer, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { Signer } from "../../../src/eth/signer.js";
import {
  RemoteSignerClient,
  RemoteSignerPayments,
  SEGMENT_UNSUPPORTED,
} from "../../../src/gateway/RemoteSigner.js";
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
import { goTime, parseGoTime, SignerError } from "../../../src/signer/state.js";
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
    // go-livepeer numbers a state's answers from 0 (server/remote_signer.go GenerateLivePayment).
    expect(st1.SequenceNumber).toBe(0);
    expect(st2.SequenceNumber).toBe(1);
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
    // go-livepeer's text (server/remote_signer.go parseRemotePaymentMaxPrice).
    expect(unit.message).toBe("maxPrice.unit must be seconds for payment type live");
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
    // A fixed job priced at one EV: every call needs a ticket, so none stops at 482 first.
    const blob = infoBlob({ now: clock, price: EV });
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
    expect(changed.message).toBe("remote signer auth ID changed");
    // A refused request leaves the state usable (not a replay); a webhook that gives no auth id
    // keeps the one in the state, as go-livepeer does.
    authId = "";
    const again = await s.generate(
      { orchestrator: blob, type: "fixed", ManifestID: "m", state: second.state },
      {},
    );
    expect(calls()).toBe(3);
    expect(JSON.parse(Buffer.from(again.state.State, "base64").toString()).AuthID).toBe("a1");
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

  it("parses request ceilings as go-livepeer's LiveRunnerPriceInfo", () => {
    // ai/runner/live_runner.go: price is a json.Number (a JSON number or a numeric string), read
    // exactly; server/remote_signer.go trims and lower-cases currency and unit, and compares an
    // lv2v ceiling to the orchestrator's price per pixel unchanged.
    expect(
      parseMaxPrice({ price: 27648000, currency: "WEI", unit: "720p-pixel-seconds" }, "lv2v")?.ratString(),
    ).toBe("27648000");
    expect(parseMaxPrice({ price: 3, currency: "wei", unit: "seconds" }, "live")?.ratString()).toBe("3");
    expect(parseMaxPrice({ price: "1300", currency: " wei ", unit: " Seconds" }, "live")?.ratString()).toBe(
      "1300",
    );
    expect(parseMaxPrice({ price: 0.1, currency: "wei", unit: "fixed" }, "fixed")?.ratString()).toBe("1/10");
    expect(parseMaxPrice({ price: "2.5e3", currency: "wei", unit: "fixed" }, "fixed")?.ratString()).toBe(
      "2500",
    );
    for (const price of [0, -1, "abc", "0x10", " 5", true, null])
      expect(() => parseMaxPrice({ price, currency: "wei", unit: "seconds" }, "live")).toThrow(
        "maxPrice.price must be a positive decimal",
      );
    expect(() => parseMaxPrice({ price: 3, currency: "usd", unit: "seconds" }, "live")).toThrow(
      "maxPrice.currency must be wei",
    );
    expect(parseMaxPrice(undefined, "live")).toBeNull();
  });

  it("481 names the lowest ceiling, in go-livepeer's words", async () => {
    const s = makeSigner();
    const r = await refusal(
      s.generate(
        {
          orchestrator: infoBlob({ now: clock, price: 1500n }),
          type: "live",
          maxPrice: { price: "1300", currency: "wei", unit: "seconds" },
        },
        {},
      ),
    );
    // server/remote_signer.go checkRemotePaymentPrice.
    expect(r).toEqual({
      status: 481,
      message: "orchestrator price 1500.000 exceeds request maxPrice ceiling 1300.000",
      headers: {},
    });
    // A ceiling equal to the price passes (the ceiling a go-livepeer client copies from discovery).
    const ok = await s.generate(
      {
        orchestrator: infoBlob({ now: clock, price: 1300n }),
        type: "lv2v",
        maxPrice: { price: 1300, currency: "wei", unit: "720p-pixel-seconds" },
      },
      {},
    );
    expect(ok.payment.length).toBeGreaterThan(0);
  });

  it("the webhook sees the updated state, as go-livepeer sends it", async () => {
    const seen: Record<string, unknown>[] = [];
    const seenHeaders: Record<string, unknown>[] = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => {
        const body = JSON.parse(Buffer.concat(chunks).toString());
        seen.push(body.state);
        seenHeaders.push(body.headers);
        res.writeHead(200, { "content-type": "application/json" }).end('{"status":200}');
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
    const s = makeSigner(hook);
    const blob = infoBlob({ now: clock, price: EV });
    const first = await s.generate(
      { orchestrator: blob, type: "fixed" },
      { host: "signer.internal:8935", "signer-auth-id": "caller-1", "x-request-id": "r1" },
    );
    // The caller's headers as Go's Request.Header holds them: canonical names, lists, no Host.
    expect(seenHeaders[0]).toEqual({ "Signer-Auth-Id": ["caller-1"], "X-Request-Id": ["r1"] });
    clock += 1000;
    await s.generate({ orchestrator: blob, type: "fixed", ManifestID: "m", state: first.state }, {});
    // server/remote_signer.go calls authLivePayment after balance, nonce, time and sequence are
    // updated, before the auth fields are: the first call is sequence 0 with one ticket's nonce.
    expect(seen[0]).toMatchObject({
      SequenceNumber: 0,
      SenderNonce: 1,
      Balance: "0",
      Type: "fixed",
      PMSessionID: `0x${"07".repeat(32)}`,
      AuthID: "",
      AuthExpiry: 0,
    });
    expect(seen[1]).toMatchObject({ SequenceNumber: 1, SenderNonce: 2, AuthID: "caller-1" });
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

describe("the state's LastUpdate", () => {
  it("is written as Go's time.Time marshals (RFC3339Nano: no trailing zeros) and read back", () => {
    expect(goTime(Date.UTC(2027, 0, 15, 8, 0, 0, 0))).toBe("2027-01-15T08:00:00Z");
    expect(goTime(Date.UTC(2027, 0, 15, 8, 0, 0, 100))).toBe("2027-01-15T08:00:00.1Z");
    expect(goTime(Date.UTC(2027, 0, 15, 8, 0, 0, 123))).toBe("2027-01-15T08:00:00.123Z");
    for (const ms of [0, 100, 120, 123]) {
      const t = Date.UTC(2027, 0, 15, 8, 0, 0, ms);
      expect(parseGoTime(goTime(t))).toBe(t);
    }
    // A state written before this change (nanosecond digits) still reads.
    expect(parseGoTime("2027-01-15T08:00:00.123000000Z")).toBe(Date.UTC(2027, 0, 15, 8, 0, 0, 123));
  });
});

describe("RemoteSignerPayments with a go-livepeer signer", () => {
  it("says a signer that signs an empty segment cannot pay for transcoding, instead of sending a bad signature", async () => {
    // go-livepeer's GenerateLivePayment (server/remote_signer.go) has no `segment` field: Go's JSON
    // decoder drops it and genSegCreds signs an empty segment. This server does the same.
    const signer = makeSigner();
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", async () => {
        if (req.url === "/sign-orchestrator-info") {
          res.writeHead(200).end(JSON.stringify(await signer.orchestratorInfo()));
          return;
        }
        const body = JSON.parse(Buffer.concat(chunks).toString());
        delete body.segment;
        try {
          res.writeHead(200).end(JSON.stringify(await signer.generate(body, {})));
        } catch (err) {
          res.writeHead((err as SignerError).status).end(JSON.stringify({ error: { message: "x" } }));
        }
      });
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const http = new HttpClient({ insecureTls: false });
    clients.push(http);
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const gateway = new RemoteSignerPayments(new RemoteSignerClient({ url, headers: {} }, { http }), {
      url,
      maxPrices: null,
      logger: silentLogger(),
      now: () => clock,
    });
    await gateway.start();
    const session = gateway.startSession(
      "https://orch.example:8935",
      fromBinary(OrchestratorInfoSchema, Buffer.from(infoBlob({ now: clock }), "base64")),
    );
    const handle = await gateway.paymentFor(session, [{ width: 426, height: 240, fps: 30, fpsDen: 1 }], 2000);
    await expect(
      gateway.segmentSig(
        { manifestId: "m", seq: 1, hash: Buffer.alloc(32, 1), profileNames: ["P240p30fps16x9"] },
        handle,
      ),
    ).rejects.toThrow(SEGMENT_UNSUPPORTED);
    expect(gateway.status()).toMatchObject({ lastError: SEGMENT_UNSUPPORTED });
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
