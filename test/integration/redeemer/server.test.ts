import type { SecureClientSessionOptions } from "node:http2";
import { toBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { type Abi, type Address, bytesToHex, type Hash, hexToBytes, parseEther, toHex } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { resolveConfig } from "../../../src/config/resolve.js";
import { abis } from "../../../src/eth/abis.js";
import { Signer } from "../../../src/eth/signer.js";
import { silentLogger } from "../../../src/logger/logger.js";
import { LpNode } from "../../../src/node/LpNode.js";
import type { NodeStatus } from "../../../src/node/status.js";
import { RedeemerClient } from "../../../src/payments/RedeemerClient.js";
import { toWireTicket } from "../../../src/payments/redeemerTicket.js";
import { MAX_WIN_PROB, recipientRandHashOf, ticketHash } from "../../../src/payments/ticket.js";
import type { SignedTicket } from "../../../src/payments/types.js";
import { TicketRedeemer, TicketSchema } from "../../../src/protocol/gen/redeemer_pb.js";
import type { Redeemer } from "../../../src/redeemer/Redeemer.js";
import {
  DEFAULT_REDEEMER_LIMITS,
  type RedeemerBackend,
  RedeemerServer,
} from "../../../src/redeemer/RedeemerServer.js";
import { type RedeemerRoleLimits, redeemerRole } from "../../../src/redeemer/role.js";
import { ANVIL_KEYS } from "../../helpers/anvil.js";
import { ManualClock } from "../../helpers/clock.js";
import { INSECURE_TLS, loadNetPackage, TLS_NAME_OPTIONS } from "../../helpers/grpcClient.js";
import { chainNodeFlags, senderDeposit, senderReserve, startPaidChain } from "../../helpers/paidChain.js";
import { keystoreDataDir, setBalance, type TestChain } from "../../helpers/testChain.js";
import { tempDir } from "../../helpers/tmp.js";
import { waitFor } from "../../helpers/waitFor.js";

// A redeemer on a devnet (anvil, the devnet contracts, a registered orchestrator account and a
// funded gateway), run in process; an independent grpc-js client loaded from proto/redeemer.proto
// plays the orchestrator, then lp-node's own RedeemerClient does.

const PASSWORD = "redeemer test";
const DEPOSIT = parseEther("10");
const RESERVE = parseEther("1");
const FACE = parseEther("0.01");
const [, orchKey, gatewayKey, otherKey] = ANVIL_KEYS;
const orch = privateKeyToAccount(orchKey).address;
const gateway = privateKeyToAccount(gatewayKey).address;
const gatewaySigner = Signer.fromPrivateKey(gatewayKey);
const otherSigner = Signer.fromPrivateKey(otherKey);

let chain: TestChain;
let redeemerDir: string;
let nonce = 0;

beforeAll(async () => {
  chain = await startPaidChain({
    orchestrator: orchKey,
    sender: gatewayKey,
    deposit: DEPOSIT,
    reserve: RESERVE,
  });
  redeemerDir = await keystoreDataDir(orchKey, PASSWORD, "lp-redeemer-");
}, 90_000);

afterAll(async () => {
  await chain?.stop();
});

interface RunningRedeemer {
  node: LpNode;
  redeemer: Redeemer;
  server: RedeemerServer;
  port: number;
  stop(): Promise<void>;
}

const running: RunningRedeemer[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) await r.stop();
});

async function startRedeemer(
  port = 0,
  limits: RedeemerRoleLimits = {},
  more: { datadir?: string; flags?: string[] } = {},
): Promise<RunningRedeemer> {
  const r = resolveConfig(
    [
      "--mode",
      "redeemer",
      ...chainNodeFlags(chain, { password: PASSWORD, datadir: more.datadir ?? redeemerDir }),
      "-httpAddr",
      `127.0.0.1:${port}`,
      ...(more.flags ?? []),
    ],
    { env: {}, readFile: () => null },
  );
  if (r.kind !== "ok") throw new Error(`bad config: ${JSON.stringify(r)}`);
  let parts: ReturnType<typeof redeemerRole> | null = null;
  const node = new LpNode(r.config, {
    logger: silentLogger(),
    roles: {
      redeemer: (config, ctx) => {
        parts = redeemerRole(config, ctx, { queue: { initialBackoffMs: 50, maxBackoffMs: 300 }, ...limits });
        return parts;
      },
    },
  });
  await node.start();
  const p = parts!;
  const out: RunningRedeemer = {
    node,
    redeemer: p.redeemer,
    server: p.server,
    port: p.server.port,
    stop: () => node.stop(),
  };
  running.push(out);
  return out;
}

/** A winning ticket (winProb = max) from `signer` to `recipient`, ripe for redemption now. */
async function makeTicket(
  options: { recipient?: Address; signer?: Signer; faceValue?: bigint } = {},
): Promise<SignedTicket> {
  const read = <T>(fn: string, args: unknown[] = []) =>
    chain.publicClient.readContract({
      address: chain.dev.contracts.RoundsManager,
      abi: abis.RoundsManager as Abi,
      functionName: fn,
      args,
    }) as Promise<T>;
  const round = await read<bigint>("lastInitializedRound");
  const blockHash = await read<Hash>("blockHashForRound", [round]);
  const recipientRand = BigInt(toHex(crypto.getRandomValues(new Uint8Array(32))));
  const signer = options.signer ?? gatewaySigner;
  const ticket = {
    recipient: options.recipient ?? orch,
    sender: signer.address,
    faceValue: options.faceValue ?? FACE,
    winProb: MAX_WIN_PROB,
    senderNonce: ++nonce,
    recipientRandHash: recipientRandHashOf(recipientRand),
    creationRound: round,
    creationRoundBlockHash: blockHash,
    paramsExpirationBlock: await chain.publicClient.getBlockNumber({ cacheTime: 0 }),
    pricePerPixel: { num: 1n, den: 1n },
  };
  const sig = bytesToHex(await signer.signHash(hexToBytes(ticketHash(ticket))));
  return { ...ticket, sig, recipientRand };
}

/** net.Ticket as grpc-js/proto-loader objects take it, from our own encoding's field values. */
function plainTicket(t: SignedTicket) {
  const w = toWireTicket(t);
  return {
    ticket_params: {
      recipient: Buffer.from(w.ticketParams!.recipient),
      face_value: Buffer.from(w.ticketParams!.faceValue),
      win_prob: Buffer.from(w.ticketParams!.winProb),
      recipient_rand_hash: Buffer.from(w.ticketParams!.recipientRandHash),
      expiration_block: Buffer.from(w.ticketParams!.expirationBlock),
    },
    sender: Buffer.from(w.sender),
    expiration_params: {
      creation_round: w.expirationParams!.creationRound.toString(),
      creation_round_block_hash: Buffer.from(w.expirationParams!.creationRoundBlockHash),
    },
    sender_params: { sender_nonce: w.senderParams!.senderNonce, sig: Buffer.from(w.senderParams!.sig) },
    recipient_rand: Buffer.from(w.recipientRand),
  };
}

/** An independent client: grpc-js with proto-loader over proto/redeemer.proto, no code of ours. */
function grpcRedeemer(port: number) {
  const pkg = loadNetPackage("redeemer.proto");
  const client = new pkg.TicketRedeemer(`127.0.0.1:${port}`, INSECURE_TLS, TLS_NAME_OPTIONS);
  const unary = <T>(method: string, req: object): Promise<T> =>
    new Promise((done, fail) =>
      client[method](req, { deadline: Date.now() + 8000 }, (err: grpc.ServiceError | null, res: T) =>
        err ? fail(err) : done(res),
      ),
    );
  return {
    queueTicket: (t: object) => unary<object>("QueueTicket", t),
    maxFloat: (sender: Address) =>
      unary<{ max_float: Buffer }>("MaxFloat", { sender: Buffer.from(hexToBytes(sender)) }),
    monitor: (sender: Address | Buffer): grpc.ClientReadableStream<{ max_float: Buffer }> =>
      client.MonitorMaxFloat({ sender: Buffer.isBuffer(sender) ? sender : Buffer.from(hexToBytes(sender)) }),
    close: () => client.close(),
  };
}

const big = (b: Buffer) => (b.length === 0 ? 0n : BigInt(`0x${b.toString("hex")}`));

function refusal(p: Promise<unknown>): Promise<grpc.ServiceError> {
  return p.then(
    () => {
      throw new Error("expected a refusal");
    },
    (err: grpc.ServiceError) => err,
  );
}

const depositOf = (sender: Address) => senderDeposit(chain, sender);

/** The server's /status section. */
function statusOf(server: RedeemerServer): Record<string, unknown> {
  const s: Record<string, unknown> = {};
  server.status(s as NodeStatus);
  return s;
}

const reserveOf = (sender: Address) => senderReserve(chain, sender);

describe("the redeemer's gRPC port", () => {
  it("answers MaxFloat with the reserve allocation and pushes a new value on MonitorMaxFloat when the reserve grows", async () => {
    const r = await startRedeemer();
    const c = grpcRedeemer(r.port);
    try {
      // One orchestrator in the pool: the whole reserve is its allocation.
      const before = await reserveOf(gateway);
      expect(big((await c.maxFloat(gateway)).max_float)).toBe(before);
      const stream = c.monitor(gateway);
      const updates: bigint[] = [];
      stream.on("data", (u: { max_float: Buffer }) => updates.push(big(u.max_float)));
      stream.on("error", () => undefined);
      // The stream is open once the server has subscribed; a reserve top-up is a chain event.
      await waitFor(() => (r.node.status()["Redeemer"] as { MaxFloatStreams: number }).MaxFloatStreams === 1);
      await chain.send(gatewayKey, "TicketBroker", "fundReserve", [], parseEther("0.5"));
      await waitFor(() => updates.includes(before + parseEther("0.5")), { what: "a max float update" });
      stream.cancel();
      await waitFor(
        () => (r.node.status()["Redeemer"] as { MaxFloatStreams: number }).MaxFloatStreams === 0,
        {
          what: "the cancelled stream released",
        },
      );
    } finally {
      c.close();
    }
  });

  it("queues a winning ticket once, and refuses tickets for another recipient, forged, malformed or oversize ones without storing them", async () => {
    const r = await startRedeemer();
    const c = grpcRedeemer(r.port);
    try {
      const depth = () => r.node.status()["QueueDepth"];
      const good = await makeTicket();
      // Its params expire far ahead, so it stays queued (a ripe one could be redeemed mid-test).
      await c.queueTicket(plainTicket({ ...good, paramsExpirationBlock: 10n ** 9n }));
      await c.queueTicket(plainTicket({ ...good, paramsExpirationBlock: 10n ** 9n }));
      expect(depth()).toBe(1);

      const other = privateKeyToAccount(otherKey).address;
      const wrong = await refusal(c.queueTicket(plainTicket(await makeTicket({ recipient: other }))));
      expect(wrong.code).toBe(grpc.status.PERMISSION_DENIED);
      // Connect percent-encodes grpc-message beyond what the spec requires (the comma); Go's
      // grpc decodes every %XX, grpc-js only what decodeURI does.
      expect(decodeURIComponent(wrong.details)).toBe(
        `invalid ticket recipient ${other.toLowerCase()}, expected ${orch}`,
      );

      // Signed by a key that is not the ticket's sender.
      const forged = await makeTicket({ signer: otherSigner });
      const bad = await refusal(c.queueTicket(plainTicket({ ...forged, sender: gateway })));
      expect(bad.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(decodeURIComponent(bad.details)).toBe("invalid ticket: invalid ticket signature");

      const t = await makeTicket();
      const wrongRand = await refusal(
        c.queueTicket(plainTicket({ ...t, recipientRand: t.recipientRand + 1n })),
      );
      expect(wrongRand.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(decodeURIComponent(wrongRand.details)).toMatch(/recipientRand/);

      const short = plainTicket(await makeTicket());
      short.sender = short.sender.subarray(0, 3);
      const malformed = await refusal(c.queueTicket(short));
      expect(malformed.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(decodeURIComponent(malformed.details)).toBe("invalid ticket: sender must be 20 bytes, got 3");

      // Validly signed, but by a sender with neither deposit nor reserve: it could never be
      // redeemed, so it is refused and not stored (go-livepeer would queue it).
      const unfunded = await refusal(c.queueTicket(plainTicket(await makeTicket({ signer: otherSigner }))));
      expect(unfunded.code).toBe(grpc.status.FAILED_PRECONDITION);
      expect(decodeURIComponent(unfunded.details)).toBe(
        `sender ${otherSigner.address} has no deposit or reserve to redeem the ticket from`,
      );

      const huge = plainTicket(await makeTicket());
      huge.recipient_rand = Buffer.alloc(64 * 1024, 1);
      const oversize = await refusal(c.queueTicket(huge));
      expect(oversize.code).toBe(grpc.status.RESOURCE_EXHAUSTED);

      const noSender = await refusal(c.maxFloat("0x01" as Address));
      expect(noSender.code).toBe(grpc.status.INVALID_ARGUMENT);

      expect(depth()).toBe(1);
      expect((r.node.status()["Redeemer"] as { TicketsRefused: number }).TicketsRefused).toBe(5);
    } finally {
      c.close();
    }
  });

  it("bounds the streams of one client without taking them from another", async () => {
    const r = await startRedeemer(0, { server: { maxStreamsPerClient: 2 } });
    const a = grpcRedeemer(r.port);
    try {
      const open = [a.monitor(gateway), a.monitor(orch)];
      for (const s of open) s.on("error", () => undefined);
      await waitFor(() => (r.node.status()["Redeemer"] as { MaxFloatStreams: number }).MaxFloatStreams === 2);
      const third = a.monitor(gateway);
      const err = await new Promise<grpc.ServiceError>((done) => third.on("error", done));
      expect(err.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      open[0]!.cancel();
      await waitFor(() => (r.node.status()["Redeemer"] as { MaxFloatStreams: number }).MaxFloatStreams === 1);
      const again = a.monitor(gateway);
      again.on("error", () => undefined);
      await waitFor(() => (r.node.status()["Redeemer"] as { MaxFloatStreams: number }).MaxFloatStreams === 2);
      for (const s of [open[1]!, again]) s.cancel();
    } finally {
      a.close();
    }
  });

  it("remembers no made-up sender, and refuses a new sender with RESOURCE_EXHAUSTED while every one it keeps is in use", async () => {
    const r = await startRedeemer(
      0,
      { maxSenders: 1 },
      { datadir: await keystoreDataDir(orchKey, PASSWORD, "lp-redeemer-") },
    );
    const c = grpcRedeemer(r.port);
    const monitored = () => r.node.status()["SendersMonitored"];
    const streams = () => (r.node.status()["Redeemer"] as { MaxFloatStreams: number }).MaxFloatStreams;
    try {
      // Addresses with nothing on chain are answered (0), not kept.
      for (let i = 0; i < 20; i++) {
        const madeUp = privateKeyToAccount(generatePrivateKey()).address;
        expect(big((await c.maxFloat(madeUp)).max_float)).toBe(0n);
      }
      expect(monitored()).toBe(0);
      expect(big((await c.maxFloat(gateway)).max_float)).toBe(await reserveOf(gateway));
      expect(monitored()).toBe(1);
      // The one sender kept is in use by a stream: a second funded sender finds no room.
      const stream = c.monitor(gateway);
      stream.on("error", () => undefined);
      await waitFor(() => streams() === 1);
      const secondKey = generatePrivateKey();
      const second = privateKeyToAccount(secondKey).address;
      await setBalance(chain, second);
      await chain.send(secondKey, "TicketBroker", "fundDeposit", [], parseEther("1"));
      const full = await refusal(c.maxFloat(second));
      expect(full.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(decodeURIComponent(full.details)).toBe("too many senders monitored: all 1 are in use");
      // A made-up sender needs no room.
      expect(big((await c.maxFloat(privateKeyToAccount(generatePrivateKey()).address)).max_float)).toBe(0n);
      // Once the stream ends, the least recently used sender makes room.
      stream.cancel();
      await waitFor(() => streams() === 0);
      await c.maxFloat(second);
      expect(monitored()).toBe(1);
    } finally {
      c.close();
    }
  });

  it("bounds the calls one client has in flight at 32 without taking them from another client", async () => {
    const held: (() => void)[] = [];
    const backend: RedeemerBackend = {
      recipient: orch,
      queueTicket: async () => ({ hash: "0x", inserted: false }),
      // Held until the test lets it go: a slow chain read.
      maxFloat: () => new Promise<bigint>((done) => held.push(() => done(7n))),
      onMaxFloatChange: () => () => undefined,
    };
    const server = new RedeemerServer(
      { addr: { host: "127.0.0.1", port: 0 }, certHost: "localhost" },
      { logger: silentLogger(), backend },
    );
    await server.start();
    const a = grpcRedeemer(server.port);
    // Another client address on the loopback network.
    const session = new Http2SessionManager(
      `https://127.0.0.1:${server.port}`,
      {},
      // net.connect's option, which http2.connect passes on (its type does not list it).
      { rejectUnauthorized: false, localAddress: "127.0.0.2" } as SecureClientSessionOptions,
    );
    const b = createClient(
      TicketRedeemer,
      createGrpcTransport({ baseUrl: `https://127.0.0.1:${server.port}`, sessionManager: session }),
    );
    const inFlight = () => (statusOf(server)["Redeemer"] as { CallsInFlight: number }).CallsInFlight;
    try {
      expect(DEFAULT_REDEEMER_LIMITS.maxCallsPerClient).toBe(32);
      const calls = Promise.all(Array.from({ length: 32 }, () => a.maxFloat(gateway)));
      calls.catch(() => undefined);
      await waitFor(() => held.length === 32, { what: "32 calls held by the backend" });
      const over = await refusal(a.maxFloat(gateway));
      expect(over.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(decodeURIComponent(over.details)).toBe("too many calls in flight from 127.0.0.1 (at most 32)");
      expect(held).toHaveLength(32);
      // The other client is served meanwhile.
      const other = b.maxFloat({ sender: hexToBytes(gateway) });
      await waitFor(() => held.length === 33, { what: "the other client's call reaching the backend" });
      expect(inFlight()).toBe(33);
      for (const release of held.splice(0)) release();
      expect((await other).maxFloat).toEqual(new Uint8Array([7]));
      for (const res of await calls) expect(big(res.max_float)).toBe(7n);
      // Slots come back once the calls end.
      const again = a.maxFloat(gateway);
      await waitFor(() => held.length === 1);
      held.splice(0)[0]!();
      expect(big((await again).max_float)).toBe(7n);
      expect(inFlight()).toBe(0);
    } finally {
      a.close();
      session.abort();
      await server.stop();
    }
  });

  it("accepts and redeems tickets for -ethOrchAddr, sending from its own (hot) key, and refuses tickets made out to that key", async () => {
    const hotKey = generatePrivateKey();
    const hot = privateKeyToAccount(hotKey).address;
    await setBalance(chain, hot);
    const r = await startRedeemer(
      0,
      {},
      {
        datadir: await keystoreDataDir(hotKey, PASSWORD, "lp-redeemer-hot-"),
        flags: ["-ethOrchAddr", orch.toLowerCase()],
      },
    );
    const c = grpcRedeemer(r.port);
    try {
      expect(r.redeemer.recipient).toBe(orch);
      expect(r.node.status()["RedeemerRecipient"]).toBe(orch);
      const toHot = await refusal(c.queueTicket(plainTicket(await makeTicket({ recipient: hot }))));
      expect(toHot.code).toBe(grpc.status.PERMISSION_DENIED);
      expect(decodeURIComponent(toHot.details)).toBe(
        `invalid ticket recipient ${hot.toLowerCase()}, expected ${orch}`,
      );
      const before = await depositOf(gateway);
      await c.queueTicket(plainTicket(await makeTicket()));
      await waitFor(() => r.redeemer.ticketStats().redeemed.count === 1, {
        what: "the ticket redeemed",
        timeoutMs: 30_000,
      });
      expect(before - (await depositOf(gateway))).toBe(FACE);
      // The hot key sent the redemption; the broker paid the ticket's recipient.
      expect(await chain.publicClient.getTransactionCount({ address: hot })).toBe(1);
      expect(r.redeemer.ticketStats().failed.count).toBe(0);
    } finally {
      c.close();
    }
  });

  it("redeems a queued ticket on the TicketBroker: the deposit falls by exactly its face value", async () => {
    const r = await startRedeemer();
    const c = grpcRedeemer(r.port);
    try {
      const before = await depositOf(gateway);
      await c.queueTicket(plainTicket(await makeTicket()));
      await waitFor(() => r.redeemer.ticketStats().redeemed.count >= 1, {
        what: "the ticket redeemed",
        timeoutMs: 30_000,
      });
      expect(before - (await depositOf(gateway))).toBe(FACE);
      expect(r.node.status()["RedeemedValue"]).toBe(r.redeemer.ticketStats().redeemed.faceValue.toString());
    } finally {
      c.close();
    }
  });
});

describe("the orchestrator's redeemer client", () => {
  it("caches a max float, keeps it fresh from the stream, drops it when the stream fails and after 5 minutes unused", async () => {
    const r = await startRedeemer();
    const clock = new ManualClock();
    const client = new RedeemerClient(
      { url: `https://127.0.0.1:${r.port}`, datadir: tempDir("lp-redeemer-client-") },
      { clock },
    );
    await client.start(new AbortController().signal);
    try {
      const first = await client.maxFloat(gateway);
      expect(first).toBe(await reserveOf(gateway));
      expect(client.cachedSenders()).toEqual([gateway]);
      await waitFor(() => (r.node.status()["Redeemer"] as { MaxFloatStreams: number }).MaxFloatStreams === 1);
      await chain.send(gatewayKey, "TicketBroker", "fundReserve", [], parseEther("0.25"));
      // Served from the cache, which the stream updated: no fallback is consulted.
      await waitFor(
        async () => (await client.maxFloat(gateway, async () => -1n)) === first + parseEther("0.25"),
        { what: "the cached max float updated by the stream" },
      );
      // Unused for 5 minutes: dropped and its stream closed.
      await clock.advance(5 * 60_000);
      expect(client.cachedSenders()).toEqual([]);
      await waitFor(() => (r.node.status()["Redeemer"] as { MaxFloatStreams: number }).MaxFloatStreams === 0);
      // Fetched again; then the redeemer goes away: the stream error drops the entry, and with the
      // redeemer unreachable the caller's own estimate answers.
      await client.maxFloat(gateway);
      expect(client.cachedSenders()).toEqual([gateway]);
      await r.stop();
      await waitFor(() => client.cachedSenders().length === 0, {
        what: "the cache dropped on the stream's end",
      });
      expect(await client.maxFloat(gateway, async () => 42n)).toBe(42n);
      await expect(client.maxFloat(gateway)).rejects.toThrow();
    } finally {
      await client.stop();
    }
  });

  it("caches no zero max float and at most maxCachedSenders, closing the stream of the one it drops", async () => {
    const r = await startRedeemer();
    const streams = () => (r.node.status()["Redeemer"] as { MaxFloatStreams: number }).MaxFloatStreams;
    const client = new RedeemerClient(
      { url: `https://127.0.0.1:${r.port}`, datadir: tempDir("lp-redeemer-client-"), maxCachedSenders: 1 },
      {},
    );
    await client.start(new AbortController().signal);
    try {
      // A gateway with nothing on chain (anyone can ask for params with a fresh key): no cache, no stream.
      expect(await client.maxFloat(privateKeyToAccount(generatePrivateKey()).address)).toBe(0n);
      expect(client.cachedSenders()).toEqual([]);
      await client.maxFloat(gateway);
      await waitFor(() => streams() === 1);
      const thirdKey = generatePrivateKey();
      const third = privateKeyToAccount(thirdKey).address;
      await setBalance(chain, third);
      await chain.send(thirdKey, "TicketBroker", "fundReserve", [], parseEther("1"));
      expect(await client.maxFloat(third)).toBe(parseEther("1"));
      expect(client.cachedSenders()).toEqual([third]);
      // The kept sender's stream is open: it brings a top-up (sent again until the stream, which
      // opens in the background, is there to see one).
      await waitFor(
        async () => {
          await chain.send(thirdKey, "TicketBroker", "fundReserve", [], parseEther("0.1"));
          return (await client.maxFloat(third, async () => -1n)) > parseEther("1");
        },
        { what: "a top-up through the kept stream", intervalMs: 100 },
      );
      expect(client.cachedSenders()).toEqual([third]);
      // The dropped sender's stream is closed.
      await waitFor(() => streams() === 1, { what: "one stream left" });
    } finally {
      await client.stop();
    }
  });

  it("keeps winning tickets in a durable outbox while the redeemer is down and delivers each once when it returns", async () => {
    const first = await startRedeemer();
    const port = first.port;
    const before = first.redeemer.ticketStats();
    await first.stop();
    const datadir = tempDir("lp-redeemer-client-");
    const client = () =>
      new RedeemerClient(
        {
          url: `https://127.0.0.1:${port}`,
          datadir,
          connectTimeoutMs: 500,
          initialBackoffMs: 50,
          maxBackoffMs: 200,
        },
        {},
      );
    const a = client();
    await a.start(new AbortController().signal);
    const tickets = [await makeTicket(), await makeTicket()];
    for (const t of tickets) await a.add({ ...t, paramsExpirationBlock: 10n ** 9n });
    await a.idle();
    expect(a.outboxStats().pending.count).toBe(2);
    // The orchestrator restarts too: the outbox is on disk.
    await a.stop();
    const b = client();
    await b.start(new AbortController().signal);
    try {
      expect(b.outboxStats().pending.count).toBe(2);
      const second = await startRedeemer(port);
      await waitFor(() => b.outboxStats().pending.count === 0, {
        what: "the outbox delivered",
        timeoutMs: 30_000,
      });
      expect(b.outboxStats().delivered).toEqual({ count: 2, faceValue: 2n * FACE });
      const after = second.redeemer.ticketStats();
      expect(after.pending.count - before.pending.count).toBe(2);
      // Handed over again by mistake, they are not queued twice.
      for (const t of tickets) await second.redeemer.queueTicket({ ...t, paramsExpirationBlock: 10n ** 9n });
      expect(second.redeemer.ticketStats().pending.count - before.pending.count).toBe(2);
      // A ticket the redeemer refuses for good is kept, marked refused, and not retried.
      await b.add(await makeTicket({ recipient: privateKeyToAccount(otherKey).address }));
      await waitFor(() => b.outboxStats().refused.count === 1, { what: "the refusal recorded" });
      expect(b.outboxStats().pending.count).toBe(0);
    } finally {
      await b.stop();
    }
  });
});

// Keeps the import of the wire encoder honest: what we send is exactly what protobuf-es encodes.
it("encodes net.Ticket with the fields protoTicket fills", async () => {
  const t = await makeTicket();
  const bytes = toBinary(TicketSchema, toWireTicket(t));
  expect(bytes.length).toBeGreaterThan(200);
  expect(toWireTicket(t).ticketParams!.seed.length).toBe(0);
  expect(toWireTicket(t).ticketParams!.expirationParams).toBeUndefined();
});
