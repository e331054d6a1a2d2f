import { mkdirSync } from "node:fs";
import { toBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
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
  keccak256,
  type PublicClient,
  parseEther,
  toHex,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { foundry } from "viem/chains";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { abis, ticketBrokerAbi } from "../../../src/eth/abis.js";
import { ChainClient } from "../../../src/eth/ChainClient.js";
import { advanceToNextRound, type DevnetDeployment, deployDevnet } from "../../../src/eth/deploy.js";
import { encryptKeystore, LIGHT_SCRYPT, writeKeystoreFile } from "../../../src/eth/keystore.js";
import { chainConfigFromOptions } from "../../../src/eth/networks.js";
import { recoverHashSigner, Signer } from "../../../src/eth/signer.js";
import { Rat } from "../../../src/payments/rat.js";
import { paymentMessage, Sender, ticketParamsFromWire } from "../../../src/payments/Sender.js";
import { ticketEV } from "../../../src/payments/ticket.js";
import type { TicketBatch, TicketParams } from "../../../src/payments/types.js";
import {
  type OrchestratorInfo,
  Orchestrator as OrchestratorService,
  type Payment,
  PaymentSchema,
} from "../../../src/protocol/gen/lp_rpc_pb.js";
import { keccak, segmentFlatten } from "../../../src/protocol/segment.js";
import { ANVIL_KEYS, type Anvil, startAnvil } from "../../helpers/anvil.js";
import { h2request } from "../../helpers/h2.js";
import { EchoTranscoder, type RunningOrchestrator, startOrchestrator } from "../../helpers/orchestrator.js";
import { tempDir } from "../../helpers/tmp.js";
import { waitFor } from "../../helpers/waitFor.js";
import { decodeResult, P240, SegData, segmentHeaders } from "../../helpers/wireClient.js";

// One anvil chain with the devnet contracts, a registered and active orchestrator account and a
// funded gateway. An lp-node orchestrator runs in process on that chain; the test plays the gateway
// with the payments Sender and hand-made wire requests, so every byte of a bad payment is ours.

const [deployerKey, orchKey, gatewayKey, otherKey] = ANVIL_KEYS;
const deployer = privateKeyToAccount(deployerKey);
const orch = privateKeyToAccount(orchKey);
const gateway = privateKeyToAccount(gatewayKey);
const gatewaySigner = Signer.fromPrivateKey(gatewayKey);
const otherSigner = Signer.fromPrivateKey(otherKey);
const PASSWORD = "recipient test";
const DEPOSIT = parseEther("10");
const RESERVE = parseEther("1");

let anvil: Anvil;
let direct: PublicClient;
let dev: DevnetDeployment;
let keystoreDir: string;
let gatewayChain: ChainClient;
const wallet = (a: Account) => createWalletClient({ account: a, chain: foundry, transport: http(anvil.url) });

type Rpc = (args: { method: string; params: unknown[] }) => Promise<unknown>;
const rpc = (method: string, params: unknown[] = []) =>
  (direct.request as unknown as Rpc)({ method, params });
const mine = (n: number) => rpc("anvil_mine", [toHex(n)]);

async function send(
  from: Account,
  name: keyof typeof abis,
  fn: string,
  args: unknown[] = [],
  value?: bigint,
) {
  const hash = await wallet(from).writeContract({
    address: dev.contracts[name],
    abi: abis[name] as Abi,
    functionName: fn,
    args,
    value,
  });
  expect((await direct.waitForTransactionReceipt({ hash, pollingInterval: 20 })).status).toBe("success");
}

const read = <T>(name: keyof typeof abis, fn: string, args: unknown[] = []) =>
  direct.readContract({
    address: dev.contracts[name],
    abi: abis[name] as Abi,
    functionName: fn,
    args,
  }) as Promise<T>;

const nextRound = () =>
  advanceToNextRound({ wallet: wallet(deployer), publicClient: direct }, dev.contracts.RoundsManager);

beforeAll(async () => {
  anvil = await startAnvil();
  direct = createPublicClient({
    chain: foundry,
    transport: http(anvil.url),
    pollingInterval: 20,
  }) as PublicClient;
  dev = await deployDevnet({ wallet: wallet(deployer), publicClient: direct });
  await nextRound();
  await send(deployer, "LivepeerToken", "transfer", [orch.address, parseEther("1000")]);
  await send(orch, "LivepeerToken", "approve", [dev.contracts.BondingManager, parseEther("1000")]);
  await send(orch, "BondingManager", "bond", [parseEther("1000"), orch.address]);
  await send(orch, "BondingManager", "transcoder", [0n, 1_000_000n]);
  await send(gateway, "TicketBroker", "fundDepositAndReserve", [DEPOSIT, RESERVE], DEPOSIT + RESERVE);
  const other = privateKeyToAccount(otherKey);
  await send(other, "TicketBroker", "fundDepositAndReserve", [DEPOSIT, RESERVE], DEPOSIT + RESERVE);
  await nextRound();
  keystoreDir = tempDir("lp-recipient-ks-");
  mkdirSync(keystoreDir, { recursive: true });
  await writeKeystoreFile(
    keystoreDir,
    await encryptKeystore(hexToBytes(orchKey), PASSWORD, { scrypt: LIGHT_SCRYPT }),
  );
  await writeKeystoreFile(
    keystoreDir,
    await encryptKeystore(hexToBytes(deployerKey), PASSWORD, { scrypt: LIGHT_SCRYPT }),
  );
  const { config } = chainConfigFromOptions({
    network: "devnet",
    ethUrl: anvil.url,
    ethController: dev.controller,
  });
  gatewayChain = await ChainClient.connect({ config: config! });
}, 90_000);

afterAll(async () => {
  await gatewayChain?.close();
  await anvil?.stop();
});

/** The orchestrator on the chain: an EchoTranscoder counts what reaches transcoding. */
async function startPaidOrchestrator(
  extra: string[] = [],
  account: Address = orch.address,
  datadir?: string,
) {
  const echo = new EchoTranscoder();
  const o = await startOrchestrator(
    echo,
    [
      "-network",
      "devnet",
      "-ethUrl",
      anvil.url,
      "-ethController",
      dev.controller,
      "-ethKeystorePath",
      keystoreDir,
      "-ethAcctAddr",
      account,
      "-ethPassword",
      PASSWORD,
      "-blockPollingInterval",
      "1",
      "-startupAvailabilityCheck=false",
      "-pricePerUnit",
      "3",
      "-pixelsPerUnit",
      "2",
      ...extra,
    ],
    { recipient: { initialBackoffMs: 50, maxBackoffMs: 500 } },
    { datadir },
  );
  return { o, echo, recipient: o.orchestrator.recipient! };
}

/** The gateway's side: GetOrchestrator for its own address, a ticket session, and /segment posts. */
class TestGateway {
  readonly sender: Sender;
  info!: OrchestratorInfo;
  params!: TicketParams;
  sessionId!: string;
  private seq = 0;

  constructor(
    private readonly o: RunningOrchestrator,
    options: { maxEV?: bigint } = {},
  ) {
    this.sender = new Sender(
      {
        maxEV: Rat.of(options.maxEV ?? 3_000_000_000_000n),
        maxTotalEV: Rat.of(10n ** 30n),
        depositMultiplier: 1,
      },
      {
        signer: gatewaySigner,
        funds: { senderInfo: (a: Address) => gatewayChain.senderInfo(a) },
        time: () => this.time,
      },
    );
  }

  time = {
    lastSeenL1Block: 0n,
    lastInitializedRound: 0n,
    lastInitializedBlockHash: `0x${"00".repeat(32)}` as const,
  };

  async refreshTime() {
    const round = await read<bigint>("RoundsManager", "lastInitializedRound");
    this.time = {
      lastSeenL1Block: await direct.getBlockNumber({ cacheTime: 0 }),
      lastInitializedRound: round,
      lastInitializedBlockHash: (await read<`0x${string}`>("RoundsManager", "blockHashForRound", [
        round,
      ])) as never,
    };
  }

  /** GetOrchestrator as `signer`, with its InfoSig (or `sig` when given). */
  async discover(signer: Signer = gatewaySigner, sig?: Uint8Array) {
    const client = createClient(
      OrchestratorService,
      createGrpcTransport({ baseUrl: this.o.uri, nodeOptions: { rejectUnauthorized: false } }),
    );
    const infoSig =
      sig ?? toBytes(await signer.signHash(keccak256(Buffer.from(signer.address, "ascii"), "bytes")));
    this.info = await client.getOrchestrator(
      { address: hexToBytes(signer.address), sig: infoSig },
      { timeoutMs: 10_000 },
    );
    this.params = ticketParamsFromWire(this.info.ticketParams!, this.info.priceInfo);
    this.sessionId = this.sender.startSession(this.params);
    await this.refreshTime();
  }

  get authSession(): string {
    return this.info.authToken!.sessionId;
  }

  get price(): Rat {
    return Rat.of(this.info.priceInfo!.pricePerUnit, this.info.priceInfo!.pixelsPerUnit);
  }

  async batch(n: number, sessionId = this.sessionId): Promise<TicketBatch> {
    await this.refreshTime();
    return this.sender.createTicketBatch(sessionId, n);
  }

  payment(batch: TicketBatch | null): Payment {
    return paymentMessage(gateway.address, batch, {
      pricePerUnit: this.info.priceInfo!.pricePerUnit,
      pixelsPerUnit: this.info.priceInfo!.pixelsPerUnit,
    });
  }

  /** POST one segment with this Livepeer-Payment header value. */
  async post(paymentHeader: string, segSigner: Signer = gatewaySigner) {
    const data = Buffer.from(`segment ${++this.seq} ${"x".repeat(500)}`);
    const at = this.info.authToken!;
    const headers = segmentHeaders(
      { token: Buffer.from(at.token), sessionId: at.sessionId, expiration: Number(at.expiration) },
      { seq: this.seq, data, profiles: [P240] },
    );
    // The segment credentials signed as a go-livepeer gateway signs them.
    const seg = SegData.decode(Buffer.from(headers["livepeer-segment"]!, "base64")) as unknown as {
      sig: Uint8Array;
    };
    const flat = segmentFlatten({
      manifestId: Buffer.from("test-manifest"),
      seq: BigInt(this.seq),
      hash: keccak(data),
      profileNames: [P240.name],
    });
    seg.sig = toBytes(await segSigner.signHash(keccak(flat)));
    headers["livepeer-segment"] = Buffer.from(SegData.encode(seg as never).finish()).toString("base64");
    headers["livepeer-payment"] = paymentHeader;
    return h2request(this.o.uri, "/segment", { method: "POST", headers, body: data });
  }
}

const toBytes = (sig: Uint8Array | `0x${string}`) => (typeof sig === "string" ? hexToBytes(sig) : sig);
const header = (p: Payment) => Buffer.from(toBinary(PaymentSchema, p)).toString("base64");
const PIXELS = BigInt(P240.width * P240.height);

describe("an orchestrator paid with tickets on a devnet", () => {
  let o: RunningOrchestrator;
  let echo: EchoTranscoder;
  let recipient: Awaited<ReturnType<typeof startPaidOrchestrator>>["recipient"];
  let gw: TestGateway;

  beforeAll(async () => {
    await nextRound();
    ({ o, echo, recipient } = await startPaidOrchestrator());
    gw = new TestGateway(o);
    await gw.discover();
  }, 60_000);

  afterAll(async () => {
    await o?.stop();
  });

  it("quotes its account, ticket params for the requesting gateway and the auto-adjusted price", async () => {
    expect(getAddress(bytesToHex(gw.info.address))).toBe(orch.address);
    expect(gw.params.recipient).toBe(orch.address);
    // 3/2 wei per pixel plus the redemption overhead (1 + 1/100 with the default faceValue), to 3 decimals.
    expect(gw.price.eq(Rat.of(1515, 1000))).toBe(true);
    expect(gw.params.faceValue > 0n).toBe(true);
    // 40 blocks after the last block the orchestrator's watcher has seen (it polls each second, so it
    // may trail the head the test read by a block or two on a loaded machine).
    const seen = gw.params.expirationBlock - 40n;
    expect(seen <= gw.time.lastSeenL1Block && seen >= gw.time.lastSeenL1Block - 3n).toBe(true);
    // Params for another address do not verify for this gateway: recipientRand binds the sender.
    const other = new TestGateway(o);
    await other.discover(otherSigner);
    expect(other.params.recipientRandHash).not.toBe(gw.params.recipientRandHash);
  });

  it("signs a Ping's value with its key, as go-livepeer's orchestrator Sign", async () => {
    const client = createClient(
      OrchestratorService,
      createGrpcTransport({ baseUrl: o.uri, nodeOptions: { rejectUnauthorized: false } }),
    );
    const value = Buffer.from("ping at 2026-12-01T02:00:00Z");
    const pong = await client.ping({ value }, { timeoutMs: 10_000 });
    expect(pong.value).toHaveLength(65);
    expect(await recoverHashSigner(keccak256(value, "bytes"), pong.value)).toBe(orch.address);
  });

  it("transcodes a paid segment, credits the ticket's EV and debits exactly pixels x price", async () => {
    const batch = await gw.batch(1);
    const res = await gw.post(header(gw.payment(batch)));
    expect(res.status).toBe(200);
    const result = decodeResult(res.body);
    expect(result.data.segments).toHaveLength(1);
    expect(echo.jobs).toHaveLength(1);
    const ev = ticketEV(gw.params.faceValue, gw.params.winProb);
    expect(recipient.balance(gateway.address, gw.authSession)?.eq(ev.sub(gw.price.mul(PIXELS)))).toBe(true);
    // The reply carries fresh params at the session's pinned price.
    expect(result.info.priceInfo.pricePerUnit).toBe(Number(gw.info.priceInfo!.pricePerUnit));
    expect(result.info.ticketParams.recipientRandHash).not.toEqual(
      Buffer.from(gw.params.recipientRandHash.slice(2), "hex"),
    );
  });

  it("refuses a session whose credit is below one ticket's EV with go-livepeer's Insufficient balance", async () => {
    const before = recipient.balance(gateway.address, gw.authSession);
    const jobs = echo.jobs.length;
    const res = await gw.post(header(gw.payment(null)));
    expect(res.status).toBe(400);
    expect(res.body.toString()).toBe("Insufficient balance\n");
    expect(echo.jobs).toHaveLength(jobs);
    expect(recipient.balance(gateway.address, gw.authSession)?.eq(before!)).toBe(true);
  });

  /** A refused payment: its status and text, nothing transcoded, no balance moved. */
  async function expectRefused(paymentHeader: string, status: number, text: string | RegExp) {
    const before = recipient.balance(gateway.address, gw.authSession);
    const jobs = echo.jobs.length;
    const res = await gw.post(paymentHeader);
    expect(res.status).toBe(status);
    if (typeof text === "string") expect(res.body.toString()).toBe(`${text}\n`);
    else expect(res.body.toString()).toMatch(text);
    expect(echo.jobs).toHaveLength(jobs);
    const after = recipient.balance(gateway.address, gw.authSession);
    expect(after === null ? before === null : before !== null && after.eq(before)).toBe(true);
  }

  it("serves nothing to a payment that claims price 0 and carries no tickets (go-livepeer would)", async () => {
    const fresh = new TestGateway(o);
    await fresh.discover();
    const jobs = echo.jobs.length;
    const p = fresh.payment(null);
    p.expectedPrice!.pricePerUnit = 0n;
    const res = await fresh.post(header(p));
    expect(res.status).toBe(400);
    expect(res.body.toString()).toBe("Insufficient balance\n");
    expect(echo.jobs).toHaveLength(jobs);
    expect(recipient.balance(gateway.address, fresh.authSession)).toBeNull();
  });

  it("refuses a GetOrchestrator whose InfoSig is not its address's, and a segment another key signed", async () => {
    const stranger = new TestGateway(o);
    await expect(stranger.discover(gatewaySigner, new Uint8Array(65))).rejects.toThrow(
      "Invalid orchestrator request: orchestrator req sig check failed",
    );
    const forgedInfoSig = toBytes(
      await otherSigner.signHash(keccak256(Buffer.from(gateway.address, "ascii"), "bytes")),
    );
    await expect(stranger.discover(gatewaySigner, forgedInfoSig)).rejects.toThrow(
      "orchestrator req sig check failed",
    );
    const batch = await gw.batch(1);
    const before = recipient.balance(gateway.address, gw.authSession);
    const jobs = echo.jobs.length;
    const res = await gw.post(header(gw.payment(batch)), otherSigner);
    expect(res.status).toBe(403);
    expect(res.body.toString()).toBe("ErrSegSig\n");
    expect(echo.jobs).toHaveLength(jobs);
    expect(recipient.balance(gateway.address, gw.authSession)?.eq(before!)).toBe(true);
  });

  it("refuses a ticket signed by another key", async () => {
    const batch = await gw.batch(1);
    const forged = await otherSigner.signHash(new Uint8Array(32).fill(7));
    batch.senderParams[0]!.sig = typeof forged === "string" ? forged : bytesToHex(forged);
    await expectRefused(header(gw.payment(batch)), 400, "invalid ticket signature");
  });

  it("refuses a ticket for another recipient", async () => {
    const wrong = { ...gw.params, recipient: getAddress(otherSigner.address) };
    const sid = gw.sender.startSession({ ...wrong, recipientRandHash: `0x${"11".repeat(32)}` });
    const batch = await gw.batch(1, sid);
    await expectRefused(header(gw.payment(batch)), 400, "invalid ticket recipient");
  });

  it("refuses a price different from the one quoted (the recipientRand no longer matches)", async () => {
    const batch = await gw.batch(1);
    const p = gw.payment(batch);
    p.expectedPrice!.pricePerUnit = 1n;
    p.expectedPrice!.pixelsPerUnit = 1000n;
    await expectRefused(header(p), 400, "invalid recipientRand for ticket recipientRandHash");
  });

  it("refuses a replayed ticket", async () => {
    const batch = await gw.batch(1);
    const h = header(gw.payment(batch));
    const first = await gw.post(h);
    expect(first.status).toBe(200);
    await expectRefused(
      h,
      400,
      `invalid ticket senderNonce: already seen sender=${gateway.address} nonce=${batch.senderParams[0]!.senderNonce}`,
    );
  });

  it("refuses garbage, non-protobuf and oversized Livepeer-Payment headers with go-livepeer's 402", async () => {
    await expectRefused("not base64!", 402, "base64 decode error: illegal base64 data");
    await expectRefused(
      Buffer.from([0xff, 0xff, 0xff]).toString("base64"),
      402,
      /^protobuf unmarshal error: /,
    );
    // 40 KB of bytes that are not a Payment: refused before any ticket work or body read.
    await expectRefused(Buffer.alloc(30_000, 0xff).toString("base64"), 402, /^protobuf unmarshal error: /);
  });

  it("refuses tickets whose params expired", async () => {
    const batch = await gw.batch(1);
    const expiry = gw.params.expirationBlock;
    await mine(41);
    await waitFor(
      () => BigInt((o.node.status()["Round"] as { lastSeenBlock: string }).lastSeenBlock) >= expiry,
      {
        what: "the node to see the expiration block",
        timeoutMs: 20_000,
      },
    );
    await expectRefused(header(gw.payment(batch)), 400, "TicketParams expired");
    await nextRound();
  });

  it("shows the tickets and the senders it follows in /status", async () => {
    expect(o.node.status()["Tickets"]).toMatchObject({ Pending: { Count: 0 }, Redeemed: { Count: 0 } });
    // The gateway and the other address that asked for params (the monitor adds a sender once its
    // first chain read is back, which a loaded machine may delay).
    await waitFor(() => o.node.status()["SendersMonitored"] === 2, {
      what: "2 senders monitored",
      timeoutMs: 10_000,
    });
  });
});

describe("winning tickets on a devnet", () => {
  const FACE = parseEther("0.01");
  let running: Awaited<ReturnType<typeof startPaidOrchestrator>> | null = null;

  afterEach(async () => {
    await running?.o.stop();
    running = null;
  });

  const transferred = async () =>
    (
      await direct.getContractEvents({
        address: dev.contracts.TicketBroker,
        abi: ticketBrokerAbi,
        eventName: "WinningTicketTransfer",
        args: { sender: gateway.address, recipient: orch.address },
        fromBlock: 0n,
      })
    ).reduce((sum, l) => sum + (l.args.amount ?? 0n), 0n);

  const redeemedNonces = async () =>
    (
      await direct.getContractEvents({
        address: dev.contracts.TicketBroker,
        abi: ticketBrokerAbi,
        eventName: "WinningTicketRedeemed",
        args: { sender: gateway.address },
        fromBlock: 0n,
      })
    ).map((l) => Number(l.args.senderNonce));

  const pendingFees = async () =>
    read<bigint>("BondingManager", "pendingFees", [
      orch.address,
      await read<bigint>("RoundsManager", "currentRound"),
    ]);

  it("stores every winning ticket before answering and redeems each once on chain", async () => {
    await nextRound();
    // EV one wei below the face value: winProb is 1 - 1e-16 of the maximum, so every ticket wins,
    // and a go-livepeer gateway still accepts the params (it refuses EV >= faceValue).
    running = await startPaidOrchestrator([
      "-ticketEV",
      (FACE - 1n).toString(),
      "-maxFaceValue",
      FACE.toString(),
    ]);
    const { o, echo, recipient } = running;
    const gw = new TestGateway(o, { maxEV: FACE });
    await gw.discover();
    expect(gw.params.faceValue).toBe(FACE);
    const ev = ticketEV(gw.params.faceValue, gw.params.winProb);
    const transferredBefore = await transferred();
    const feesBefore = await pendingFees();
    const depositBefore = (await gatewayChain.senderInfo(gateway.address)).deposit;

    for (let i = 0; i < 3; i++) {
      const res = await gw.post(header(gw.payment(await gw.batch(1))));
      expect(res.status).toBe(200);
      // Durable before the answer: the store already holds it.
      const stats = recipient.ticketStats();
      expect(stats.pending.count + stats.submitted.count + stats.redeemed.count).toBe(i + 1);
    }
    expect(echo.jobs).toHaveLength(3);
    // Each ticket credited its EV (= faceValue), each segment debited pixels x price.
    expect(
      recipient.balance(gateway.address, gw.authSession)?.eq(ev.mul(3n).sub(gw.price.mul(3n * PIXELS))),
    ).toBe(true);

    // Redeemable once the params expired (recipientRand may then be revealed).
    await mine(41);
    await nextRound();
    await waitFor(() => recipient.ticketStats().redeemed.count === 3, {
      what: "3 tickets redeemed",
      timeoutMs: 60_000,
    });
    expect(recipient.ticketStats().redeemed.faceValue).toBe(3n * FACE);
    expect((await redeemedNonces()).sort()).toEqual([1, 2, 3]);
    expect((await transferred()) - transferredBefore).toBe(3n * FACE);
    expect((await gatewayChain.senderInfo(gateway.address)).deposit).toBe(depositBefore - 3n * FACE);
    // pendingFees of a new round: the orchestrator keeps all fees (feeShare 100%).
    expect((await pendingFees()) - feesBefore).toBe(3n * FACE);
    expect(o.node.status()["Tickets"]).toMatchObject({
      Redeemed: { Count: 3, FaceValue: (3n * FACE).toString() },
    });
  }, 120_000);
  it("pays for 100 segments at a 1-in-4 win probability: each winner is redeemed once, deposit and fees move by exactly their face values", async () => {
    await nextRound();
    // EV a quarter of the face value: winProb is 1/4 of the maximum. (More winners than about 45
    // would push redemptions, one block each, past the tickets' two-round validity.)
    running = await startPaidOrchestrator([
      "-ticketEV",
      (FACE / 4n).toString(),
      "-maxFaceValue",
      FACE.toString(),
    ]);
    const { o, echo, recipient } = running;
    const gw = new TestGateway(o, { maxEV: FACE });
    await gw.discover();
    expect(gw.params.faceValue).toBe(FACE);
    const since = await direct.getBlockNumber({ cacheTime: 0 });
    const transferredBefore = await transferred();
    const feesBefore = await pendingFees();
    const depositBefore = (await gatewayChain.senderInfo(gateway.address)).deposit;
    // The gateway's credit can run ahead of its spend, so not every segment needs a ticket; send
    // one per segment anyway, as a gateway whose balance is exhausted would.
    for (let i = 0; i < 100; i++) {
      const res = await gw.post(header(gw.payment(await gw.batch(1))));
      expect(res.status).toBe(200);
    }
    expect(echo.jobs).toHaveLength(100);
    const stored = recipient.ticketStats();
    const winners = stored.pending.count + stored.submitted.count + stored.redeemed.count;
    // 100 draws at 1/4 (mean 25, sd 4.3): anything outside 5..45 would mean the winning check is wrong.
    expect(winners).toBeGreaterThan(5);
    expect(winners).toBeLessThan(45);

    await mine(41);
    await nextRound();
    // Each redemption mines a block: about 50 of them cross a round boundary (rounds of 50 blocks),
    // and a ticket cannot be redeemed in a round nobody initialised. A live network has round
    // initialisers; here the test plays one.
    await waitFor(
      async () => {
        if (!(await read<boolean>("RoundsManager", "currentRoundInitialized")))
          await send(deployer, "RoundsManager", "initializeRound");
        return recipient.ticketStats().redeemed.count === winners;
      },
      { what: `${winners} tickets redeemed`, timeoutMs: 90_000, intervalMs: 200 },
    );
    const logs = await redeemedSince(since);
    const nonces = logs.map((l) => Number(l.args.senderNonce));
    expect(new Set(nonces).size).toBe(winners);
    expect(nonces).toHaveLength(winners);
    expect((await transferred()) - transferredBefore).toBe(BigInt(winners) * FACE);
    expect((await gatewayChain.senderInfo(gateway.address)).deposit).toBe(
      depositBefore - BigInt(winners) * FACE,
    );
    expect((await pendingFees()) - feesBefore).toBe(BigInt(winners) * FACE);
  }, 180_000);
});

describe("winning tickets across a restart", () => {
  it("keeps the tickets it acknowledged and redeems each once after it comes back", async () => {
    const FACE = parseEther("0.01");
    const flags = ["-ticketEV", (FACE - 1n).toString(), "-maxFaceValue", FACE.toString()];
    const datadir = tempDir("lp-recipient-restart-");
    await nextRound();
    const since = await direct.getBlockNumber({ cacheTime: 0 });
    const first = await startPaidOrchestrator(flags, orch.address, datadir);
    const gw = new TestGateway(first.o, { maxEV: FACE });
    await gw.discover();
    const nonces: number[] = [];
    for (let i = 0; i < 2; i++) {
      const batch = await gw.batch(1);
      nonces.push(batch.senderParams[0]!.senderNonce);
      expect((await gw.post(header(gw.payment(batch)))).status).toBe(200);
    }
    // Stopped before the params expire: nothing can have been redeemed yet.
    expect(first.recipient.ticketStats().pending.count).toBe(2);
    await first.o.stop();

    const second = await startPaidOrchestrator(flags, orch.address, datadir);
    try {
      expect(second.recipient.ticketStats().pending.count).toBe(2);
      expect(await redeemedSince(since)).toHaveLength(0);
      await mine(41);
      await nextRound();
      await waitFor(() => second.recipient.ticketStats().redeemed.count === 2, {
        what: "2 tickets redeemed after the restart",
        timeoutMs: 60_000,
      });
      expect((await redeemedSince(since)).map((l) => Number(l.args.senderNonce)).sort()).toEqual(nonces);
    } finally {
      await second.o.stop();
    }
  }, 120_000);
});

/** WinningTicketRedeemed logs of the gateway's tickets since a block. */
const redeemedSince = (fromBlock: bigint) =>
  direct.getContractEvents({
    address: dev.contracts.TicketBroker,
    abi: ticketBrokerAbi,
    eventName: "WinningTicketRedeemed",
    args: { sender: gateway.address },
    fromBlock,
  });

describe("an orchestrator that is not active in the round", () => {
  it("refuses payments with go-livepeer's text and transcodes nothing", async () => {
    // The deployer's account never registered as an orchestrator.
    const { o, echo, recipient } = await startPaidOrchestrator([], deployer.address);
    try {
      const gw = new TestGateway(o);
      await gw.discover();
      expect(gw.params.recipient).toBe(deployer.address);
      const round = await read<bigint>("RoundsManager", "lastInitializedRound");
      const res = await gw.post(header(gw.payment(await gw.batch(1))));
      expect(res.status).toBe(400);
      expect(res.body.toString()).toBe(
        `orchestrator ${deployer.address} is inactive in round ${round}, cannot process payments\n`,
      );
      expect(echo.jobs).toHaveLength(0);
      expect(recipient.balance(gateway.address, gw.authSession)).toBeNull();
    } finally {
      await o.stop();
    }
  }, 60_000);
});
