import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { create } from "@bufbuild/protobuf";
import {
  type Abi,
  type Account,
  type Address,
  bytesToHex,
  createPublicClient,
  createWalletClient,
  getAddress,
  hexToBytes,
  http,
  type PublicClient,
  parseEther,
  type Transport,
  type WalletClient,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { foundry } from "viem/chains";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { abis } from "../../../src/eth/abis.js";
import { BlockWatcher } from "../../../src/eth/BlockWatcher.js";
import { ChainClient } from "../../../src/eth/ChainClient.js";
import { advanceToNextRound, type DevnetDeployment, deployDevnet } from "../../../src/eth/deploy.js";
import { chainConfigFromOptions } from "../../../src/eth/networks.js";
import { RoundWatcher } from "../../../src/eth/RoundWatcher.js";
import { Signer } from "../../../src/eth/signer.js";
import { Gateway, SegmentFailure } from "../../../src/gateway/Gateway.js";
import { jobCapabilities, OrchestratorClient } from "../../../src/gateway/OrchestratorClient.js";
import { StaticOrchestrators } from "../../../src/gateway/OrchestratorList.js";
import { selfSignedCert } from "../../../src/http/tls.js";
import { silentLogger } from "../../../src/logger/logger.js";
import { PRESETS } from "../../../src/media/profiles.js";
import { GatewayPayments } from "../../../src/payments/GatewayPayments.js";
import { maxPricesFromFlags } from "../../../src/payments/pricing.js";
import { Rat } from "../../../src/payments/rat.js";
import { RecipientRandSource } from "../../../src/payments/recipientRand.js";
import { SigVerifier } from "../../../src/payments/sig.js";
import { minimalBytes, ticketEV, ticketHashBytes } from "../../../src/payments/ticket.js";
import { TicketParamsMaker } from "../../../src/payments/ticketParams.js";
import type { Ticket, TicketParams } from "../../../src/payments/types.js";
import { SenderNonceTracker, TicketValidator } from "../../../src/payments/validator.js";
import {
  type OrchestratorInfo,
  OrchestratorInfoSchema,
  TranscodeResultSchema,
} from "../../../src/protocol/gen/lp_rpc_pb.js";
import type { ProfileSpec } from "../../../src/protocol/profiles.js";
import {
  decodePaymentHeader,
  decodeSegmentHeader,
  encodeTranscodeResult,
  keccak,
  segmentFlatten,
  segmentProfiles,
} from "../../../src/protocol/segment.js";
import { MemoryStore } from "../../../src/storage/MemoryStore.js";
import { ANVIL_KEYS, type Anvil, startAnvil } from "../../helpers/anvil.js";

// The gateway as a paying sender on anvil with the devnet contracts: its deposit and reserve are
// real TicketBroker state, its chain time comes from the real watchers, and a stand-in
// orchestrator on a TLS port checks every payment as a recipient does (the validator, signature
// recovery, nonces) before it answers.

const [deployerKey, orchKey, gatewayKey, poorKey] = ANVIL_KEYS;
const deployer = privateKeyToAccount(deployerKey);
const orch = privateKeyToAccount(orchKey);
const gateway = privateKeyToAccount(gatewayKey);
const DEPOSIT = parseEther("10");
const RESERVE = parseEther("1");
/** 1000 wei per pixel. */
const PRICE = { pricePerUnit: 1000n, pixelsPerUnit: 1n };
const TICKET_EV = 8_000_000_000n;

type Wallet = WalletClient<Transport, typeof foundry, Account>;
let anvil: Anvil;
let direct: PublicClient;
let dev: DevnetDeployment;
let client: ChainClient;
let blocks: BlockWatcher;
let rounds: RoundWatcher;
const cleanups: (() => Promise<void> | void)[] = [];

async function send(
  from: Account,
  name: keyof typeof abis,
  fn: string,
  args: unknown[] = [],
  value?: bigint,
) {
  const wallet: Wallet = createWalletClient({ account: from, chain: foundry, transport: http(anvil.url) });
  const hash = await wallet.writeContract({
    address: dev.contracts[name],
    abi: abis[name] as Abi,
    functionName: fn,
    args,
    value,
  });
  const receipt = await direct.waitForTransactionReceipt({ hash, pollingInterval: 20 });
  expect(receipt.status).toBe("success");
}

beforeAll(async () => {
  anvil = await startAnvil();
  direct = createPublicClient({
    chain: foundry,
    transport: http(anvil.url),
    pollingInterval: 20,
  }) as PublicClient;
  const wallet = createWalletClient({ account: deployer, chain: foundry, transport: http(anvil.url) });
  dev = await deployDevnet({ wallet, publicClient: direct });
  await advanceToNextRound({ wallet, publicClient: direct }, dev.contracts.RoundsManager);
  await send(gateway, "TicketBroker", "fundDepositAndReserve", [DEPOSIT, RESERVE], DEPOSIT + RESERVE);
  await advanceToNextRound({ wallet, publicClient: direct }, dev.contracts.RoundsManager);

  const { config } = chainConfigFromOptions({
    network: "devnet",
    ethUrl: anvil.url,
    ethController: dev.controller,
  });
  client = await ChainClient.connect({ config: config! });
  blocks = new BlockWatcher(
    {
      addresses: {
        TicketBroker: client.addresses.TicketBroker,
        RoundsManager: client.addresses.RoundsManager,
        BondingManager: client.addresses.BondingManager,
      },
      pollingIntervalMs: 50,
    },
    { client: client.publicClient },
  );
  rounds = new RoundWatcher(
    { roundsManager: client.addresses.RoundsManager, bondingManager: client.addresses.BondingManager },
    { client: client.publicClient, blocks },
  );
  const signal = new AbortController().signal;
  await blocks.start(signal);
  await rounds.start(signal);
}, 60_000);

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

afterAll(async () => {
  await rounds?.stop();
  await blocks?.stop();
  await client?.close();
  await anvil?.stop();
});

const profiles: ProfileSpec[] = [{ ...PRESETS["P240p30fps16x9"]! }, { ...PRESETS["P360p30fps16x9"]! }];
const caps = jobCapabilities(profiles);
/** The pixels a 2 s segment of the ladder really has (what the orchestrator reports). */
const pixelsOf = (p: ProfileSpec) => BigInt(p.width * p.height * 30 * 2);

async function paymentsFor(
  key: `0x${string}`,
  options: { maxPricePerUnit?: string; maxTicketEV?: string } = {},
): Promise<GatewayPayments> {
  const maxPrices = await maxPricesFromFlags({ maxPricePerUnit: options.maxPricePerUnit ?? "0" }, null);
  const payments = new GatewayPayments(
    { maxPrices, maxTicketEV: options.maxTicketEV },
    {
      signer: Signer.fromPrivateKey(key),
      funds: { senderInfo: (a) => client.senderInfo(a) },
      time: () => rounds.state,
      logger: silentLogger(),
    },
  );
  await payments.start();
  return payments;
}

/** The recipient's side, as an orchestrator on a chain has it. */
function recipient(options: { maxFloat?: bigint; redeemGas?: bigint } = {}) {
  const rand = new RecipientRandSource();
  const maker = new TicketParamsMaker(
    { recipient: orch.address, ev: TICKET_EV, redeemGas: options.redeemGas ?? 1_200_000n },
    { clock: rounds, gasPrice: () => 1_000_000_000n, maxFloat: () => options.maxFloat ?? RESERVE, rand },
  );
  const validator = new TicketValidator(
    { recipient: orch.address },
    { verifier: new SigVerifier(), rand, clock: rounds, nonces: new SenderNonceTracker() },
  );
  return { maker, validator };
}

function wireInfo(
  uri: string,
  params: TicketParams | null,
  price: { pricePerUnit: bigint; pixelsPerUnit: bigint },
  sessionId: string,
): OrchestratorInfo {
  return create(OrchestratorInfoSchema, {
    transcoder: uri,
    address: hexToBytes(orch.address),
    capabilities: caps,
    priceInfo: price,
    authToken: {
      token: new Uint8Array(32),
      sessionId,
      expiration: BigInt(Math.floor(Date.now() / 1000) + 3600),
    },
    ticketParams: params
      ? {
          recipient: hexToBytes(params.recipient),
          faceValue: minimalBytes(params.faceValue),
          winProb: minimalBytes(params.winProb),
          recipientRandHash: hexToBytes(params.recipientRandHash),
          seed: minimalBytes(params.seed),
          expirationBlock: minimalBytes(params.expirationBlock),
          expirationParams: {
            creationRound: params.expirationParams.creationRound,
            creationRoundBlockHash: hexToBytes(params.expirationParams.creationRoundBlockHash),
          },
        }
      : undefined,
  });
}

interface Received {
  seq: bigint;
  sender: Address;
  segSigOk: boolean;
  tickets: { nonce: number; ev: Rat; error: string | null; signer: Address }[];
  expectedPrice: { pricePerUnit: bigint; pixelsPerUnit: bigint } | null;
  recipientRandHash: string | null;
}

/**
 * A stand-in orchestrator: GetOrchestrator answers come from `info()`, /segment checks its payment
 * as a recipient would and answers the real pixels, with `replyInfo()` as the fresh info.
 */
async function paidOrchestrator(opts: {
  info: (sessionId: string) => Promise<OrchestratorInfo>;
  replyInfo?: (sessionId: string) => Promise<OrchestratorInfo | undefined>;
  validator: TicketValidator;
}) {
  const received: Received[] = [];
  const verifier = new SigVerifier();
  let getInfoCalls = 0;
  const server = http2.createSecureServer(
    { ...selfSignedCert("127.0.0.1"), allowHTTP1: true },
    (req, res) => {
      if (req.url.startsWith("/stream/")) {
        res.writeHead(200).end(`rendition ${req.url}`);
        return;
      }
      req.resume();
      req.on("end", async () => {
        const seg = decodeSegmentHeader(String(req.headers["livepeer-segment"]));
        const payment = decodePaymentHeader(String(req.headers["livepeer-payment"] ?? ""));
        const sender = getAddress(bytesToHex(payment.sender));
        const flat = segmentFlatten({
          manifestId: seg.manifestId,
          seq: seg.seq,
          hash: seg.hash,
          profileNames: segmentProfiles(seg).map((p) => p.name),
        });
        const rec: Received = {
          seq: seg.seq,
          sender,
          segSigOk: verifier.verify(sender, keccak(flat), seg.sig),
          tickets: [],
          expectedPrice: payment.expectedPrice
            ? {
                pricePerUnit: payment.expectedPrice.pricePerUnit,
                pixelsPerUnit: payment.expectedPrice.pixelsPerUnit,
              }
            : null,
          recipientRandHash: payment.ticketParams ? bytesToHex(payment.ticketParams.recipientRandHash) : null,
        };
        const tp = payment.ticketParams;
        if (tp && payment.expirationParams) {
          const pricePerPixel = Rat.of(
            payment.expectedPrice!.pricePerUnit,
            payment.expectedPrice!.pixelsPerUnit,
          );
          for (const sp of payment.ticketSenderParams) {
            const ticket: Ticket = {
              recipient: getAddress(bytesToHex(tp.recipient)),
              sender,
              faceValue: BigInt(bytesToHex(tp.faceValue)),
              winProb: BigInt(bytesToHex(tp.winProb)),
              senderNonce: sp.senderNonce,
              recipientRandHash: bytesToHex(tp.recipientRandHash),
              creationRound: payment.expirationParams.creationRound,
              creationRoundBlockHash: bytesToHex(payment.expirationParams.creationRoundBlockHash),
              paramsExpirationBlock: BigInt(bytesToHex(tp.expirationBlock)),
              pricePerPixel,
            };
            const r = await opts.validator.receiveTicket(ticket, sp.sig, BigInt(bytesToHex(tp.seed)));
            rec.tickets.push({
              nonce: sp.senderNonce,
              ev: ticketEV(ticket.faceValue, ticket.winProb),
              error: r.error?.message ?? null,
              signer: verifier.recoverAddress(ticketHashBytes(ticket), sp.sig),
            });
          }
        }
        received.push(rec);
        const sessionId = seg.authToken?.sessionId ?? "";
        const result = create(TranscodeResultSchema, {
          seq: seg.seq,
          info: (await opts.replyInfo?.(sessionId)) ?? undefined,
          result: {
            case: "data",
            value: {
              segments: segmentProfiles(seg).map((p) => ({
                url: `${origin}/stream/${sessionId}/${p.name}/${seg.seq}.ts`,
                pixels: BigInt(p.width * p.height * 30 * 2),
              })),
            },
          },
        });
        res.writeHead(200).end(encodeTranscodeResult(result));
      });
    },
  );
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        for (const s of sessions) s.destroy();
        server.close(() => r());
      }),
  );
  let n = 0;
  return {
    origin,
    received,
    getInfoCalls: () => getInfoCalls,
    getInfo: async () => {
      getInfoCalls += 1;
      const info = await opts.info(`sess${++n}`);
      info.transcoder = origin;
      return info;
    },
  };
}

/** A gateway over the real segment client; GetOrchestrator answers come from each stand-in. */
function gatewayWith(
  payments: GatewayPayments | null,
  orchs: { origin: string; getInfo: () => Promise<OrchestratorInfo> }[],
) {
  const real = new OrchestratorClient();
  cleanups.push(() => real.close());
  const byUri = new Map(orchs.map((o) => [o.origin, o]));
  const client = Object.assign(Object.create(real) as OrchestratorClient, {
    getInfo: (uri: string) => byUri.get(uri)!.getInfo(),
    endSession: async () => {},
  });
  const g = new Gateway(
    {
      profiles,
      orchestrators: new StaticOrchestrators(orchs.map((o) => o.origin)),
      maxAttempts: 3,
      maxStreams: 10,
      discoveryTimeoutMs: 2000,
      blocklist: [],
      minVersion: "",
    },
    { logger: silentLogger(), client, store: new MemoryStore(), payments },
  );
  return g;
}

const segment = (seq: number) => ({
  seq,
  data: Buffer.from(`segment ${seq}`),
  durationMs: 2000,
  ext: ".ts" as const,
});

describe("the gateway pays orchestrators with tickets (anvil, devnet contracts)", () => {
  it("pays 5 segments: every ticket verifies as a recipient checks it, EV covers the fee, nonces increase, signatures recover to the gateway", async () => {
    const payments = await paymentsFor(gatewayKey);
    const { maker, validator } = recipient();
    const o = await paidOrchestrator({
      validator,
      info: async (sid) =>
        wireInfo("", await maker.ticketParams(gateway.address, Rat.of(1000n, 1n)), PRICE, sid),
    });
    const g = gatewayWith(payments, [o]);
    const s = await g.open("paid", "", null, { width: 640, height: 360 }, "http");
    for (let seq = 0; seq < 5; seq++) {
      const out = await g.processSegment(s, segment(seq));
      expect(out.renditions).toHaveLength(2);
    }

    expect(o.received).toHaveLength(5);
    // Σ W×H×30 fps×2 s × 1.02 × 1000 wei per pixel.
    const feeEstimate = Rat.of(profiles.reduce((sum, p) => sum + pixelsOf(p), 0n))
      .mul(Rat.fromFloat64(1.02))
      .mul(1000n);
    let credited = Rat.ZERO;
    let spent = Rat.ZERO;
    const nonces: number[] = [];
    for (const r of o.received) {
      expect(r.sender).toBe(gateway.address);
      expect(r.segSigOk).toBe(true);
      expect(r.expectedPrice).toEqual(PRICE);
      for (const t of r.tickets) {
        expect(t.error).toBeNull();
        expect(t.signer).toBe(gateway.address);
        nonces.push(t.nonce);
        credited = credited.add(t.ev);
      }
      spent = spent.add(feeEstimate);
      // What the recipient holds after each segment covers the fee estimated for it.
      expect(credited.gte(spent)).toBe(true);
    }
    // The first segment needs ceil(fee / EV) tickets; the leftover credit makes later ones cheaper.
    const ev = o.received[0]!.tickets[0]!.ev;
    expect(o.received[0]!.tickets.length).toBe(Number(feeEstimate.div(ev).ceil()));
    expect(nonces).toEqual(nonces.map((_, i) => i + 1));
    // The gateway's balance is what it credited minus the exact pixels × price it was charged.
    const pixels = profiles.reduce((sum, p) => sum + pixelsOf(p), 0n);
    const session = s.pool.known[0]!.payment!;
    expect(session.balance.current()!.eq(credited.sub(Rat.of(pixels * 1000n * 5n, 1n)))).toBe(true);
    expect(payments.sessionStatus(session)).toMatchObject({ pricePerUnit: "1000", pixelsPerUnit: "1" });
    expect(payments.status()).toMatchObject({
      address: gateway.address,
      deposit: DEPOSIT.toString(),
      reserve: RESERVE.toString(),
      canPay: true,
    });
  });

  it("skips orchestrators above -maxPricePerUnit, without ticket params or with params that fail the sender's checks", async () => {
    const payments = await paymentsFor(gatewayKey, { maxPricePerUnit: "2000" });
    const { maker, validator } = recipient();
    // Redemption so dear that the face value (100 ETH) is more than the 10 ETH deposit covers.
    const { maker: greedy } = recipient({ maxFloat: parseEther("100"), redeemGas: 1_000_000_000n });
    const make = (priceUnit: bigint, withParams: boolean, m = maker) =>
      paidOrchestrator({
        validator,
        info: async (sid) =>
          wireInfo(
            "",
            withParams ? await m.ticketParams(gateway.address, Rat.of(priceUnit, 1n)) : null,
            { pricePerUnit: priceUnit, pixelsPerUnit: 1n },
            sid,
          ),
      });
    const expensive = await make(3000n, true);
    const noParams = await make(1000n, false);
    // A face value of 100 ETH is more than the 10 ETH deposit can cover.
    const tooBig = await make(1000n, true, greedy);
    const fine = await make(2000n, true);
    const all = [expensive, noParams, tooBig, fine];
    expect(await payments.refusal(await all[0]!.getInfo())).toMatch(/above -maxPricePerUnit/);
    expect(await payments.refusal(await all[1]!.getInfo())).toBe("no ticket params");
    expect(await payments.refusal(await all[2]!.getInfo())).toMatch(
      /^invalid ticket params: ticket faceValue \d+ > max faceValue 10000000000000000000$/,
    );
    expect(await payments.refusal(await all[3]!.getInfo())).toBeNull();
    const infos = await Promise.all(all.map((o) => o.getInfo()));
    expect(infos.filter((info) => !payments.aboveMaxPrice(info))).toHaveLength(3);

    const g = gatewayWith(payments, all);
    const s = await g.open("filtered", "", null, { width: 640, height: 360 }, "http");
    for (let seq = 0; seq < 3; seq++) await g.processSegment(s, segment(seq));
    expect(s.pool.known.map((k) => k.uri)).toEqual([fine.origin]);
    expect(fine.received).toHaveLength(3);
    for (const o of [expensive, noParams, tooBig]) expect(o.received).toHaveLength(0);
  });

  it("refuses an orchestrator whose price more than doubles mid-session", async () => {
    const payments = await paymentsFor(gatewayKey);
    const { maker, validator } = recipient();
    let price = PRICE;
    const quote = async (sid: string) =>
      wireInfo(
        o.origin,
        await maker.ticketParams(gateway.address, Rat.of(price.pricePerUnit, 1n)),
        price,
        sid,
      );
    const o = await paidOrchestrator({ validator, info: quote, replyInfo: quote });
    const g = gatewayWith(payments, [o]);
    const s = await g.open("doubling", "", null, { width: 640, height: 360 }, "http");
    await g.processSegment(s, segment(0));
    // Exactly double is still accepted.
    price = { pricePerUnit: 2000n, pixelsPerUnit: 1n };
    await g.processSegment(s, segment(1));
    expect(s.pool.known).toHaveLength(1);
    expect(s.pool.known[0]!.payment!.price).toEqual(price);
    price = { pricePerUnit: 2001n, pixelsPerUnit: 1n };
    await g.processSegment(s, segment(2));
    // The reply quoting 2001 (> 2 × 1000) dropped the orchestrator: nothing more is paid to it.
    expect(s.pool.known).toHaveLength(0);
    expect(s.pool.suspendedList()).toEqual([o.origin]);
    // Params re-issued in replies start a new ticket session: nonces count from 1 again.
    expect(o.received.map((r) => r.tickets[0]?.nonce)).toEqual([1, 1, 1]);
  });

  it("refreshes expired ticket params once and pays with the fresh ones", async () => {
    const payments = await paymentsFor(gatewayKey);
    const { maker, validator } = recipient();
    let stale = true;
    const o = await paidOrchestrator({
      validator,
      info: async (sid) => {
        const p = await maker.ticketParams(gateway.address, Rat.of(1000n, 1n));
        // The first params expire with the next block: usable at discovery, stale when paying.
        if (stale) p.expirationBlock = rounds.state.lastSeenL1Block + 2n;
        stale = false;
        return wireInfo("", p, PRICE, sid);
      },
    });
    const g = gatewayWith(payments, [o]);
    const s = await g.open("expiring", "", null, { width: 640, height: 360 }, "http");
    await s.pool.refresh();
    expect(s.pool.known).toHaveLength(1);
    await (direct.request as unknown as (a: { method: string; params: unknown[] }) => Promise<unknown>)({
      method: "anvil_mine",
      params: ["0x1"],
    });
    await waitForBlock(s.pool.known[0]!.payment!.params.expirationBlock - 1n);
    await g.processSegment(s, segment(0));
    expect(o.getInfoCalls()).toBe(2);
    expect(o.received).toHaveLength(1);
    expect(o.received[0]!.tickets.length).toBeGreaterThan(0);
    for (const t of o.received[0]!.tickets) expect(t.error).toBeNull();
  });

  it("a gateway with no deposit or reserve refuses to stream, with go-livepeer's reason", async () => {
    const poor = privateKeyToAccount(poorKey);
    const payments = await paymentsFor(poorKey);
    expect(payments.fundsProblem()).toBe("no sender reserve");
    expect(payments.status()).toMatchObject({
      address: poor.address,
      deposit: "0",
      reserve: "0",
      canPay: false,
    });
    const g = gatewayWith(payments, []);
    const err = await g.open("broke", "", null, { width: 640, height: 360 }, "http").catch((e) => e);
    expect(err).toBeInstanceOf(SegmentFailure);
    expect(err.status).toBe(503);
    expect(err.message).toBe("cannot pay for transcoding: no sender reserve");
    expect(g.streams.size).toBe(0);
  });
});

async function waitForBlock(n: bigint): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (rounds.state.lastSeenL1Block < n) {
    if (Date.now() > deadline) throw new Error(`block ${n} not seen`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
