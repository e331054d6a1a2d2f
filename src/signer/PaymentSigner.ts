/**
 * The remote signer's payment logic, without HTTP (go-livepeer server/remote_signer.go
 * GenerateLivePayment and SignOrchestratorInfo): it checks the orchestrator blob and the signed
 * state, works out the billable units and the tickets due, applies the price ceilings and the auth
 * webhook, and only then signs tickets and segment credentials with the node's key. Every refusal
 * is a SignerError with go-livepeer's status and text, and leaves nothing signed.
 */
import { randomBytes } from "node:crypto";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { type Address, getAddress, verifyMessage } from "viem";
import { errorMessage, isLpError } from "../errors/LpError.js";
import { checkSignature } from "../eth/signer.js";
import type { Logger } from "../logger/logger.js";
import type { MaxPrices } from "../payments/pricing.js";
import { validatePriceIncrease } from "../payments/pricing.js";
import { Rat } from "../payments/rat.js";
import {
  paymentMessage,
  Sender,
  type SenderFunds,
  type SenderInfo,
  type SenderOptions,
  type SenderTime,
  ticketParamsFromWire,
} from "../payments/Sender.js";
import { ticketEV } from "../payments/ticket.js";
import {
  type Capabilities,
  CapabilitiesSchema,
  type OrchestratorInfo,
  OrchestratorInfoSchema,
  PaymentSchema,
  type SegData,
  SegDataSchema,
} from "../protocol/gen/lp_rpc_pb.js";
import { keccak, segmentFlatten, segmentProfiles } from "../protocol/segment.js";
import {
  goTime,
  openState,
  parseGoTime,
  type RemotePaymentState,
  ReplayGuard,
  type ReplayStore,
  type SignedState,
  SignerError,
  signState,
} from "./state.js";
import type { SignerWebhook, WebhookDecision } from "./webhook.js";

/** go-livepeer's HTTPStatusRefreshSession: the gateway must get a fresh OrchestratorInfo. */
export const STATUS_REFRESH_SESSION = 480;
/** HTTPStatusPriceExceeded. */
export const STATUS_PRICE_EXCEEDED = 481;
/** HTTPStatusNoTickets: the balance already covers this payment. */
export const STATUS_NO_TICKETS = 482;
/** Most tickets one payment may carry. */
export const MAX_TICKETS = 100;
/** Pixels of one second of 720p30, go-livepeer's LV2V billing unit. */
export const LV2V_PIXELS_PER_SECOND = 1280n * 720n * 30n;
/**
 * Largest inPixels of one transcoded-segment payment: a minute of 8K at 120 fps. Anything above
 * is a client bug or an attack on the deposit.
 */
export const MAX_IN_PIXELS = 7680 * 4320 * 120 * 60;
/** The auth token is refreshed in its last 3 minutes (go-livepeer shouldRefreshSession). */
const AUTH_REFRESH_MARGIN_S = 180;
/** Ticket params must stay valid for more than this many L1 blocks. */
const PARAMS_EXPIRY_BUFFER = 1n;
/** Largest request fields (base64 protobufs), before decoding. */
const MAX_BLOB_CHARS = 256 * 1024;

/** Job types a payment is for. */
export type JobType = "" | "live" | "lv2v" | "fixed";
const JOB_TYPES: readonly string[] = ["", "live", "lv2v", "fixed"];
const UNIT_OF_TYPE: Record<JobType, string> = {
  "": "pixels",
  live: "seconds",
  lv2v: "720p-pixel-seconds",
  fixed: "fixed",
};

/** The key that signs: the chain layer's Signer fits. */
export interface SignerKey {
  readonly address: Address;
  /** Personal-sign over a 32-byte hash (tickets, InfoSig, segment credentials). */
  signHash(hash: Uint8Array): Promise<Uint8Array | `0x${string}`>;
  /** Personal-sign over arbitrary bytes (the state). */
  signMessage(message: Uint8Array): Promise<Uint8Array>;
}

/** Options: the sender's limits and the -maxPricePerUnit ceilings. */
export interface PaymentSignerOptions extends SenderOptions {
  maxPrices: MaxPrices | null;
  /** Read the deposit and reserve at most this often (ms). */
  fundsRefreshMs?: number;
}

/** The signer's persistent records: issued states and used nonces (SignerStore). */
export interface PaymentSignerStore extends ReplayStore {
  /** Reserve `n` nonces after max(from, the last used); returns the last nonce before them. */
  reserveNonces(pmSession: string, from: number, n: number): number;
}

/** Collaborators. */
export interface PaymentSignerDeps {
  key: SignerKey;
  store: PaymentSignerStore;
  funds: SenderFunds;
  time: () => SenderTime;
  webhook: SignerWebhook | null;
  logger: Logger;
  now?: () => number;
}

/** A signed payment: base64 Payment and SegData protobufs and the next state. */
export interface SignedPayment {
  payment: string;
  segCreds: string;
  state: SignedState;
}

/** Counters for /status. */
export interface SignerCounters {
  requests: number;
  payments: number;
  tickets: number;
  /** Sum of the signed tickets' EV, wei. */
  evSigned: Rat;
  refused: Record<string, number>;
}

function b64Blob(value: unknown, what: string): Buffer | null {
  if (value === undefined || value === null || value === "") return null;
  if (
    typeof value !== "string" ||
    value.length > MAX_BLOB_CHARS ||
    value.length % 4 !== 0 ||
    !/^[A-Za-z0-9+/]*={0,2}$/.test(value)
  )
    throw new SignerError(400, `invalid ${what}: not base64`);
  return Buffer.from(value, "base64");
}

/** Go's JSON decoding matches keys case-insensitively: the first key that matches wins. */
function field(obj: Record<string, unknown>, name: string): unknown {
  if (name in obj) return obj[name];
  const lower = name.toLowerCase();
  for (const k of Object.keys(obj)) if (k.toLowerCase() === lower) return obj[k];
  return undefined;
}

function hex(bytes: Uint8Array): string {
  return `0x${Buffer.from(bytes).toString("hex")}`;
}

/** A price per unit as a rational (wei per billable unit). */
function priceOf(p: { pricePerUnit: bigint; pixelsPerUnit: bigint }): Rat {
  return Rat.of(p.pricePerUnit, p.pixelsPerUnit);
}

/** The job's (capability, models) pairs, for the per-capability ceiling. */
function jobModels(caps: Capabilities | null): Map<number, string[]> | null {
  const per = caps?.constraints?.PerCapability;
  if (!per) return null;
  const out = new Map<number, string[]>();
  for (const [cap, c] of Object.entries(per)) out.set(Number(cap), Object.keys(c.models ?? {}));
  return out.size > 0 ? out : null;
}

/** A JSON number literal, the only text Go's json.Number takes (in a number or in a string). */
const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

/**
 * A maxPrice (go-livepeer's LiveRunnerPriceInfo: `price` a json.Number, so a JSON number or a
 * numeric string, read exactly as a decimal; `currency` "wei"; `unit` the job type's, both
 * trimmed and any case) as a ceiling on the orchestrator's price per unit, compared as it is:
 * go-livepeer compares an lv2v ceiling in "720p-pixel-seconds" to the price per pixel unchanged.
 * Type "" (a transcoded segment, an lp-node extension) takes the unit "pixels".
 */
export function parseMaxPrice(raw: unknown, type: JobType, status = 400, prefix = ""): Rat | null {
  if (raw === undefined || raw === null) return null;
  const fail = (message: string) => new SignerError(status, `${prefix}${message}`);
  if (typeof raw !== "object" || Array.isArray(raw)) throw fail("invalid maxPrice");
  const m = raw as Record<string, unknown>;
  const priceRaw = field(m, "price");
  const currency = field(m, "currency") ?? "";
  const unit = field(m, "unit") ?? "";
  if (typeof currency !== "string" || typeof unit !== "string") throw fail("invalid maxPrice");
  let price: Rat | null = null;
  const text =
    typeof priceRaw === "number" && Number.isFinite(priceRaw)
      ? String(priceRaw)
      : typeof priceRaw === "string"
        ? priceRaw
        : null;
  if (text !== null && text.length <= 100 && JSON_NUMBER.test(text)) {
    try {
      price = Rat.parse(text);
    } catch {
      price = null;
    }
  }
  if (!price || price.sign() <= 0) throw fail("maxPrice.price must be a positive decimal");
  if (currency.trim().toLowerCase() !== "wei") throw fail("maxPrice.currency must be wei");
  if (unit.trim().toLowerCase() !== UNIT_OF_TYPE[type])
    throw fail(`maxPrice.unit must be ${UNIT_OF_TYPE[type]} for payment type ${type}`);
  return price;
}

/**
 * go-livepeer's price check: the lowest of the ceilings given applies; above it is 481 naming it.
 */
function checkCeilings(price: Rat, ceilings: [source: string, max: Rat | null][]): void {
  let effective: [string, Rat] | null = null;
  for (const [source, max] of ceilings)
    if (max && (!effective || max.lt(effective[1]))) effective = [source, max];
  if (effective && price.gt(effective[1]))
    throw new SignerError(
      STATUS_PRICE_EXCEEDED,
      `orchestrator price ${price.floatString(3)} exceeds ${effective[0]} ceiling ${effective[1].floatString(3)}`,
    );
}

/** The remote signer's payments (go-livepeer's remote signer node). */
export class PaymentSigner {
  readonly counters: SignerCounters = {
    requests: 0,
    payments: 0,
    tickets: 0,
    evSigned: Rat.ZERO,
    refused: {},
  };
  readonly replay: ReplayGuard;
  private readonly now: () => number;
  private funds: SenderInfo | null = null;
  private fundsAt = -Infinity;
  private infoSig: Uint8Array | null = null;

  constructor(
    private readonly options: PaymentSignerOptions,
    private readonly deps: PaymentSignerDeps,
  ) {
    this.now = deps.now ?? Date.now;
    this.replay = new ReplayGuard(deps.store, this.now);
    // Fail at start on bad limits, with the Sender's texts.
    new Sender(options, { signer: deps.key, funds: deps.funds, time: deps.time });
  }

  /** The address tickets are sent from. */
  get address(): Address {
    return getAddress(this.deps.key.address);
  }

  /** POST /sign-orchestrator-info: the InfoSig over this node's EIP-55 address. */
  async orchestratorInfo(): Promise<{ address: string; signature: string }> {
    if (!this.infoSig)
      this.infoSig = toBytes(await this.deps.key.signHash(keccak(Buffer.from(this.address, "ascii"))));
    return { address: this.address, signature: hex(this.infoSig) };
  }

  /** The deposit and reserve, read again at most every fundsRefreshMs. */
  private async senderInfo(): Promise<SenderInfo> {
    const t = this.now();
    if (!this.funds || t - this.fundsAt >= (this.options.fundsRefreshMs ?? 5000)) {
      this.fundsAt = t;
      this.funds = await this.deps.funds.senderInfo(this.address);
    }
    return this.funds;
  }

  /** Count a refusal by status for /status. */
  refused(status: number): void {
    const k = String(status);
    this.counters.refused[k] = (this.counters.refused[k] ?? 0) + 1;
  }

  /**
   * POST /generate-live-payment. `body` is the parsed JSON request, `headers` the incoming
   * request's headers (forwarded to the webhook; Signer-Auth-Id read from them).
   */
  async generate(
    body: unknown,
    headers: Record<string, string | string[] | undefined>,
  ): Promise<SignedPayment> {
    this.counters.requests += 1;
    if (typeof body !== "object" || body === null || Array.isArray(body))
      throw new SignerError(400, "invalid request: not a JSON object");
    const req = body as Record<string, unknown>;

    // 1. The orchestrator blob.
    const blob = b64Blob(field(req, "orchestrator"), "orchestrator");
    if (!blob) throw new SignerError(400, "missing orchestrator");
    let info: OrchestratorInfo;
    try {
      info = fromBinary(OrchestratorInfoSchema, blob);
    } catch (err) {
      throw new SignerError(400, `invalid orchestrator: ${errorMessage(err)}`);
    }
    const price = info.priceInfo;
    if (!price || price.pricePerUnit <= 0n || price.pixelsPerUnit <= 0n)
      throw new SignerError(400, "missing or zero priceInfo");
    if (!info.ticketParams) throw new SignerError(400, "missing ticketParams in OrchestratorInfo");
    if (!info.authToken) throw new SignerError(400, "missing authToken in OrchestratorInfo");
    let params: ReturnType<typeof ticketParamsFromWire>;
    try {
      params = ticketParamsFromWire(info.ticketParams, price);
    } catch (err) {
      throw new SignerError(400, `invalid ticketParams: ${errorMessage(err)}`);
    }
    const orchAddress = (info.address.length === 20 ? hex(info.address) : params.recipient).toLowerCase();
    const capsBlob = b64Blob(field(req, "capabilities"), "capabilities");
    let caps: Capabilities | null = null;
    if (capsBlob) {
      try {
        caps = fromBinary(CapabilitiesSchema, capsBlob);
      } catch (err) {
        throw new SignerError(400, `invalid capabilities: ${errorMessage(err)}`);
      }
    }
    const segBlob = b64Blob(field(req, "segment"), "segment");
    let segment: SegData | null = null;
    if (segBlob) {
      try {
        segment = fromBinary(SegDataSchema, segBlob);
      } catch (err) {
        throw new SignerError(400, `invalid segment: ${errorMessage(err)}`);
      }
    }
    const typeRaw = field(req, "type") ?? "";
    if (typeof typeRaw !== "string") throw new SignerError(400, "invalid job type");
    const appRaw = field(req, "app") ?? "";
    if (typeof appRaw !== "string" || appRaw.length > 256) throw new SignerError(400, "invalid app");
    const manifestRaw = field(req, "ManifestID") ?? "";
    if (typeof manifestRaw !== "string" || manifestRaw.length > 512)
      throw new SignerError(400, "invalid manifestID");

    // The state: checked, then claimed so that a copy of it cannot be used again.
    const stateRaw = field(req, "state");
    const hasState =
      typeof stateRaw === "object" &&
      stateRaw !== null &&
      !(
        field(stateRaw as Record<string, unknown>, "State") == null &&
        field(stateRaw as Record<string, unknown>, "Sig") == null
      );
    const nowMs = this.now();
    let state: RemotePaymentState;
    let firstCall = false;
    if (hasState) {
      const s = stateRaw as Record<string, unknown>;
      state = await openState(
        { State: field(s, "State"), Sig: field(s, "Sig") },
        {
          sign: async () => new Uint8Array(),
          verify: (message, sig) => ownSignature(this.address, message, sig),
        },
      );
      if (manifestRaw === "") throw new SignerError(400, "missing manifestID");
      if (state.OrchestratorAddress.toLowerCase() !== orchAddress)
        throw new SignerError(400, "orchestratorAddress mismatch");
      if (state.App !== appRaw) throw new SignerError(400, "app mismatch");
      if (state.Type !== "" && state.Type !== typeRaw) throw new SignerError(400, "job type mismatch");
      if (state.InitialPixelsPerUnit <= 0 || state.InitialPricePerUnit < 0)
        throw new SignerError(400, "invalid state");
    } else {
      firstCall = true;
      state = {
        // Longer than go-livepeer's 4 bytes (the state is opaque to gateways): ids are kept for a
        // day and must not collide.
        StateID: randomBytes(16).toString("hex"),
        PMSessionID: "",
        LastUpdate: goTime(nowMs),
        OrchestratorAddress: orchAddress,
        App: appRaw,
        AuthExpiry: 0,
        SenderNonce: 0,
        Balance: "0",
        InitialPricePerUnit: Number(price.pricePerUnit),
        InitialPixelsPerUnit: Number(price.pixelsPerUnit),
        Type: typeRaw,
        SequenceNumber: 0,
        AuthID: "",
      };
      if (
        !Number.isSafeInteger(state.InitialPricePerUnit) ||
        !Number.isSafeInteger(state.InitialPixelsPerUnit)
      )
        throw new SignerError(400, "priceInfo out of range");
    }
    if (!JOB_TYPES.includes(typeRaw)) throw new SignerError(400, "invalid job type");
    const type = typeRaw as JobType;
    const release = hasState ? this.replay.claim(state) : () => {};
    try {
      const out = await this.sign(req, headers, {
        info,
        params,
        caps,
        segment,
        type,
        state,
        firstCall,
        nowMs,
        manifest: manifestRaw,
      });
      return out;
    } finally {
      release();
    }
  }

  private async sign(
    req: Record<string, unknown>,
    headers: Record<string, string | string[] | undefined>,
    c: {
      info: OrchestratorInfo;
      params: ReturnType<typeof ticketParamsFromWire>;
      caps: Capabilities | null;
      segment: SegData | null;
      type: JobType;
      state: RemotePaymentState;
      firstCall: boolean;
      nowMs: number;
      manifest: string;
    },
  ): Promise<SignedPayment> {
    const { info, params, caps, type, nowMs } = c;
    const price = info.priceInfo!;
    let balance: Rat;
    try {
      balance = Rat.parse(c.state.Balance);
    } catch {
      throw new SignerError(400, "invalid state");
    }
    // 2. The PM session: the nonce restarts when the orchestrator's params changed.
    const pmSession = params.recipientRandHash.toLowerCase();
    const stateNonce = c.state.PMSessionID === pmSession ? c.state.SenderNonce : 0;

    // 3. A token near expiry or expired params: the gateway must ask the orchestrator again.
    const time = this.deps.time();
    const exp = Number(info.authToken!.expiration);
    if (
      nowMs / 1000 > exp - AUTH_REFRESH_MARGIN_S ||
      params.expirationBlock - time.lastSeenL1Block <= PARAMS_EXPIRY_BUFFER
    ) {
      if (params.expirationBlock === 0n) throw new SignerError(400, "ticketParams expiration block is 0");
      throw new SignerError(STATUS_REFRESH_SESSION, "refresh session for remote signer", {
        headers: { "Livepeer-Orchestrator-URL": info.transcoder },
      });
    }

    // 4. Billable units.
    const last = parseGoTime(c.state.LastUpdate);
    if (last === null) throw new SignerError(400, "invalid state");
    const seconds = Math.max(0, (nowMs - last) / 1000);
    let units: bigint;
    switch (type) {
      case "lv2v":
        units = c.firstCall
          ? LV2V_PIXELS_PER_SECOND * 60n
          : BigInt(Math.floor(Number(LV2V_PIXELS_PER_SECOND) * seconds));
        break;
      case "live":
        units = c.firstCall ? 10n : BigInt(Math.ceil(seconds));
        break;
      case "fixed":
        units = 1n;
        break;
      default: {
        const px = field(req, "inPixels") ?? 0;
        if (typeof px !== "number" || !Number.isFinite(px)) throw new SignerError(400, "invalid inPixels");
        if (px > MAX_IN_PIXELS || !Number.isSafeInteger(px))
          throw new SignerError(400, `inPixels ${px} exceeds maximum of ${MAX_IN_PIXELS}`);
        units = BigInt(Math.max(0, Math.trunc(px)));
      }
    }
    if (units <= 0n) throw new SignerError(400, "missing billable unit or job type");

    // 5. Price ceilings known before the webhook: the signer's, the request's, the session's first.
    const current = priceOf(price);
    const initial = Rat.of(BigInt(c.state.InitialPricePerUnit), BigInt(c.state.InitialPixelsPerUnit));
    checkCeilings(current, [
      ["configured maximum price", this.options.maxPrices?.capabilitiesMaxPrice(jobModels(caps)) ?? null],
      ["request maxPrice", parseMaxPrice(field(req, "maxPrice"), type)],
      ["initial session price", initial],
    ]);

    // 6. Tickets due for the fee at the session's first price.
    const ev = ticketEV(params.faceValue, params.winProb);
    if (ev.sign() <= 0) throw new SignerError(400, "invalid ticketParams: zero ticket EV");
    const fee = initial.mul(units);
    const minCredit = fee.gt(ev) ? fee : ev;
    const numTickets = balance.gte(minCredit) ? 0n : minCredit.sub(balance).div(ev).ceil();
    // A transcoded segment must still carry the sender's signed credentials when its balance
    // already covers it: it gets a payment without tickets (what a local gateway sends).
    if (numTickets === 0n && !(type === "" && c.segment))
      throw new SignerError(STATUS_NO_TICKETS, "no tickets");
    if (numTickets > BigInt(MAX_TICKETS))
      throw new SignerError(400, `numTickets ${numTickets} exceeds maximum of ${MAX_TICKETS}`);
    const n = Number(numTickets);

    // 7. The current price as expected_price: more than doubled since the first is refused.
    try {
      validatePriceIncrease(
        { pricePerUnit: price.pricePerUnit, pixelsPerUnit: price.pixelsPerUnit },
        {
          pricePerUnit: BigInt(c.state.InitialPricePerUnit),
          pixelsPerUnit: BigInt(c.state.InitialPixelsPerUnit),
        },
      );
    } catch (err) {
      throw new SignerError(STATUS_PRICE_EXCEEDED, errorMessage(err));
    }
    const info0 = await this.senderInfo().catch((err) => {
      throw new SignerError(503, `cannot read the sender's deposit and reserve: ${errorMessage(err)}`);
    });
    // Nonces are reserved before any await that follows: concurrent payments never share one. A
    // refusal below only leaves a gap in the nonces, which is harmless.
    let before: number;
    try {
      before = this.deps.store.reserveNonces(pmSession, stateNonce, n);
    } catch (err) {
      throw new SignerError(500, `cannot record the ticket nonces: ${errorMessage(err)}`, { cause: err });
    }

    // 8. The next state, as go-livepeer builds it: the first is sequence 0, the job type follows
    // the request; the auth fields change only after the webhook.
    const next: RemotePaymentState = {
      ...c.state,
      PMSessionID: pmSession,
      LastUpdate: goTime(c.nowMs),
      SenderNonce: before + n,
      Balance: balance.add(ev.mul(numTickets)).sub(fee).ratString(),
      Type: type,
      SequenceNumber: c.firstCall ? 0 : c.state.SequenceNumber + 1,
    };

    // 9. The auth webhook, shown the updated state (go-livepeer's timing), unless its last answer
    // still holds (until the end of the second of its expiry). Nothing is signed before it agrees.
    let decision: WebhookDecision | null = null;
    const cached = c.state.AuthExpiry !== 0 && Math.floor(nowMs / 1000) <= c.state.AuthExpiry;
    if (this.deps.webhook && !cached) {
      decision = await this.deps.webhook.authorize(headers, next);
      next.AuthExpiry = decision.expiry;
      checkCeilings(current, [
        [
          "auth webhook maxPrice",
          parseMaxPrice(decision.maxPrice, type, 502, "signer auth invalid maxPrice: "),
        ],
      ]);
    }
    // The webhook's auth id, else the caller's Signer-Auth-Id header; once set it may not change.
    const authId = decision?.authId || headerValue(headers, "signer-auth-id");
    if (authId !== "" && next.AuthID !== authId) {
      if (next.AuthID !== "") throw new SignerError(500, "remote signer auth ID changed");
      next.AuthID = authId;
    }

    // 10. Sign the tickets and the segment credentials.
    const sender = new Sender(this.options, {
      signer: this.deps.key,
      funds: { senderInfo: () => info0 },
      time: this.deps.time,
    });
    const sid = sender.startSessionWithNonce(params, before);
    let batch: Awaited<ReturnType<Sender["createTicketBatch"]>> | null = null;
    try {
      if (n > 0) batch = await sender.createTicketBatch(sid, n);
    } catch (err) {
      if (isLpError(err, "TICKET_SIGNING_FAILED"))
        throw new SignerError(500, errorMessage(err), { cause: err });
      throw new SignerError(400, errorMessage(err), { cause: err });
    }
    const payment = paymentMessage(this.address, batch, {
      pricePerUnit: price.pricePerUnit,
      pixelsPerUnit: price.pixelsPerUnit,
    });
    const manifest = c.manifest !== "" ? c.manifest : randomBytes(8).toString("hex");
    const seg = c.segment ?? create(SegDataSchema, {});
    seg.manifestId = Buffer.from(manifest, "utf8");
    seg.authToken = info.authToken;
    if (caps) seg.capabilities = caps;
    const flat = segmentFlatten({
      manifestId: seg.manifestId,
      seq: seg.seq < 0n ? -seg.seq : seg.seq,
      hash: seg.hash,
      profileNames: segmentProfiles(seg).map((p) => p.name),
    });
    seg.sig = toBytes(await this.deps.key.signHash(keccak(flat)));

    const signed = await signState(next, {
      sign: (m) => this.deps.key.signMessage(m),
      verify: async () => false,
    });
    // Committed before the answer leaves: after a crash or restart this state is the only one accepted.
    try {
      this.replay.issue(next.StateID, next.SequenceNumber);
    } catch (err) {
      throw new SignerError(500, `cannot record the issued state: ${errorMessage(err)}`, { cause: err });
    }
    this.counters.payments += 1;
    this.counters.tickets += n;
    this.counters.evSigned = this.counters.evSigned.add(ev.mul(numTickets));
    this.deps.logger.debug(
      {
        stateID: next.StateID,
        orchestrator: c.state.OrchestratorAddress,
        type,
        tickets: n,
        seq: next.SequenceNumber,
      },
      "signed payment",
    );
    return {
      payment: Buffer.from(toBinary(PaymentSchema, payment)).toString("base64"),
      segCreds: Buffer.from(toBinary(SegDataSchema, seg)).toString("base64"),
      state: signed,
    };
  }
}

/** Whether `address` personal-signed `message` with `sig` (v 27/28, low s, as go-livepeer checks). */
async function ownSignature(address: Address, message: Uint8Array, sig: Uint8Array): Promise<boolean> {
  try {
    checkSignature(sig);
    return await verifyMessage({ address, message: { raw: message }, signature: sig });
  } catch {
    return false;
  }
}

function headerValue(headers: Record<string, string | string[] | undefined>, name: string): string {
  const v = headers[name];
  return (Array.isArray(v) ? v[0] : v) ?? "";
}

function toBytes(sig: Uint8Array | `0x${string}`): Uint8Array {
  return typeof sig === "string" ? Buffer.from(sig.slice(2), "hex") : sig;
}
