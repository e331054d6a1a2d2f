/**
 * The gateway's side of payments, behind one interface the gateway calls (go-livepeer
 * server/segment_rpc.go genPayment, newBalanceUpdate, completeBalanceUpdate and validatePrice;
 * server/broadcast.go's per-session PM state; discovery's max-price filter): per orchestrator
 * session the ticket params are checked and a Sender session started, each segment gets its
 * Livepeer-Payment header, and the balance is settled from the pixels the orchestrator reports.
 * Built only on a chain; offchain the gateway holds null and sends an empty header.
 */
import { type Address, getAddress, type Hex } from "viem";
import { errorMessage, LpError } from "../errors/LpError.js";
import type { Logger } from "../logger/logger.js";
import type { OrchestratorInfo } from "../protocol/gen/lp_rpc_pb.js";
import { encodePaymentHeader, keccak, segmentFlatten } from "../protocol/segment.js";
import { AddressBalances, Balance } from "./balances.js";
import { estimateFee, type FeeProfile, SegmentPayment } from "./fees.js";
import { type MaxPrices, type PriceInfoValue, ratPriceInfo, validatePriceIncrease } from "./pricing.js";
import type { Rat } from "./rat.js";
import {
  parseSenderOptions,
  paymentMessage,
  Sender,
  type SenderFlags,
  type SenderFunds,
  type SenderInfo,
  type SenderTime,
  type TicketSigner,
  ticketParamsFromWire,
} from "./Sender.js";
import type { TicketParams } from "./types.js";

/** Stable codes of the gateway's payment refusals. */
export type GatewayPaymentsErrorCode = "NO_TICKET_PARAMS" | "NO_PRICE" | "CANNOT_PAY";

/** A payment the gateway will not make, with the reason as the message. */
export class GatewayPaymentsError extends LpError {
  declare readonly code: GatewayPaymentsErrorCode;

  constructor(code: GatewayPaymentsErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
  }
}

/** Options of GatewayPayments: the sender limits as flag text and the price ceilings. */
export interface GatewayPaymentsOptions extends SenderFlags {
  /** -maxPricePerUnit / -maxPricePerCapability ceilings; null means any price. */
  maxPrices: MaxPrices | null;
  /** Read the sender's funds again at most this often (ms); default 5 s. */
  fundsRefreshMs?: number;
}

/** Collaborators: the key, the TicketBroker's view of its funds, the chain time, logs and a clock. */
export interface GatewayPaymentsDeps {
  signer: TicketSigner;
  funds: SenderFunds;
  time: () => SenderTime;
  logger: Logger;
  now?: () => number;
}

/** The payment state of one orchestrator session of one stream. */
export interface PaymentSession {
  /** The orchestrator's URI (for logs). */
  readonly uri: string;
  /** The ticket recipient (the orchestrator's address). */
  readonly recipient: Address;
  /** The orchestrator's session id (its auth token's session_id): the balance key, as go-livepeer's. */
  readonly orchSessionId: string;
  /** The price quoted when the session started: a later price above twice this is refused. */
  readonly initialPrice: PriceInfoValue;
  /** The price in force now (the latest OrchestratorInfo's). */
  price: PriceInfoValue;
  /** The current ticket params and their Sender session id. */
  params: TicketParams;
  senderSessionId: string;
  readonly balance: Balance;
}

/** One segment's payment: the header value, and the staged balance update to settle. */
export interface SegmentPaymentHandle {
  header: string;
  /** How many tickets the header carries. */
  numTickets: number;
  readonly update: SegmentPayment;
  readonly session: PaymentSession;
}

const DEFAULT_FUNDS_REFRESH_MS = 5_000;

/** The price an OrchestratorInfo quotes, or null when it has none (or pixelsPerUnit 0). */
export function quotedPrice(info: OrchestratorInfo): PriceInfoValue | null {
  const p = info.priceInfo;
  if (!p || p.pixelsPerUnit <= 0n || p.pricePerUnit < 0n) return null;
  return { pricePerUnit: p.pricePerUnit, pixelsPerUnit: p.pixelsPerUnit };
}

/**
 * The gateway as a paying sender: composes the Sender (tickets), AddressBalances (credit per
 * orchestrator session), SegmentPayment (fee estimate and settlement) and the price checks.
 */
export class GatewayPayments {
  readonly sender: Sender;
  readonly balances = new AddressBalances();
  private readonly maxPrices: MaxPrices | null;
  private readonly fundsRefreshMs: number;
  private readonly now: () => number;
  private funds: SenderInfo | null = null;
  private fundsAt = -Infinity;
  private fundsError: string | null = null;
  private infoSig: Uint8Array | null = null;

  constructor(
    options: GatewayPaymentsOptions,
    private readonly deps: GatewayPaymentsDeps,
  ) {
    this.sender = new Sender(parseSenderOptions(options), {
      signer: deps.signer,
      // The Sender asks for the funds on every batch: it gets the cached reading.
      funds: { senderInfo: () => this.cachedFunds() },
      time: deps.time,
    });
    this.maxPrices = options.maxPrices;
    this.fundsRefreshMs = options.fundsRefreshMs ?? DEFAULT_FUNDS_REFRESH_MS;
    this.now = deps.now ?? Date.now;
  }

  /** The address tickets are sent from. */
  get address(): Address {
    return this.deps.signer.address;
  }

  /**
   * Read the deposit and reserve and sign the InfoSig (at start). Returns why the gateway cannot
   * pay (go-livepeer's sender texts), or null when it can; the caller logs it.
   */
  async start(): Promise<string | null> {
    this.infoSig = await this.deps.signer.signHash(keccak(Buffer.from(this.address, "ascii"))).then(toBytes);
    await this.refreshFunds(true);
    return this.fundsProblem();
  }

  /** OrchestratorRequest.address and .sig: the InfoSig over the EIP-55 address text, made at start. */
  orchestratorRequestCreds(): { address: Uint8Array; sig: Uint8Array } {
    if (!this.infoSig) throw new Error("GatewayPayments.start() has not run");
    return { address: Buffer.from(this.address.slice(2), "hex"), sig: this.infoSig };
  }

  /** Read the sender's funds now (a new block, or before refusing a stream). */
  async refreshFunds(force = false): Promise<void> {
    if (!force && this.now() - this.fundsAt < this.fundsRefreshMs) return;
    this.fundsAt = this.now();
    try {
      this.funds = await this.deps.funds.senderInfo(this.address);
      this.fundsError = null;
    } catch (err) {
      this.fundsError = `cannot read the sender's deposit and reserve: ${errorMessage(err)}`;
      this.deps.logger.warn({ err: errorMessage(err) }, "cannot read the sender's deposit and reserve");
    }
  }

  private async cachedFunds(): Promise<SenderInfo> {
    if (this.funds) {
      // A segment never waits on the RPC: the last reading is used while a newer one is fetched.
      void this.refreshFunds();
      return this.funds;
    }
    await this.refreshFunds();
    if (!this.funds) throw new GatewayPaymentsError("CANNOT_PAY", this.fundsError ?? "sender funds unknown");
    return this.funds;
  }

  /**
   * Why the gateway cannot pay with its current funds (go-livepeer's validateSender texts), or
   * null. Judged on the last reading.
   */
  fundsProblem(): string | null {
    if (!this.funds) return this.fundsError ?? "sender funds unknown";
    const f = this.funds;
    const round = this.deps.time().lastInitializedRound;
    if (f.withdrawRound !== 0n && f.withdrawRound <= round + 1n)
      return "unable to validate sender: deposit and reserve is set to unlock soon";
    if (f.reserve.fundsRemaining === 0n) return "no sender reserve";
    if (f.deposit === 0n) return "no sender deposit";
    return null;
  }

  /** The last reading of the deposit and reserve (for /status). */
  get senderFunds(): SenderInfo | null {
    return this.funds;
  }

  /** The -maxPricePerUnit ceiling per pixel for a job, or null for any price. */
  maxPrice(): Rat | null {
    return this.maxPrices?.capabilitiesMaxPrice(null) ?? null;
  }

  /**
   * Whether an orchestrator may be used (discovery): it must quote a price at most the ceiling,
   * send ticket params and the params must pass the sender's checks. Returns the reason it is
   * skipped, or null. `ignoreMaxPrice` (-ignoreMaxPriceIfNeeded, when no orchestrator is under the
   * ceiling) skips only the ceiling check.
   */
  async refusal(info: OrchestratorInfo, opts: { ignoreMaxPrice?: boolean } = {}): Promise<string | null> {
    const price = quotedPrice(info);
    if (!price) return "no price quoted";
    const max = this.maxPrice();
    if (max && !opts.ignoreMaxPrice && ratPriceInfo(price).gt(max)) {
      return `price ${ratPriceInfo(price).ratString()} wei/pixel is above -maxPricePerUnit ${max.ratString()}`;
    }
    if (!info.ticketParams) return "no ticket params";
    try {
      await this.sender.validateTicketParams(ticketParamsFromWire(info.ticketParams, info.priceInfo));
    } catch (err) {
      return `invalid ticket params: ${errorMessage(err)}`;
    }
    return null;
  }

  /** Whether the orchestrator quotes a price above the ceiling (no price counts as not above). */
  aboveMaxPrice(info: OrchestratorInfo): boolean {
    const price = quotedPrice(info);
    const max = this.maxPrice();
    return price !== null && max !== null && ratPriceInfo(price).gt(max);
  }

  /** Start the payment session of a newly accepted orchestrator session; the price is pinned here. */
  startSession(uri: string, info: OrchestratorInfo): PaymentSession {
    const price = quotedPrice(info);
    if (!price) throw new GatewayPaymentsError("NO_PRICE", "missing orchestrator price");
    if (!info.ticketParams)
      throw new GatewayPaymentsError("NO_TICKET_PARAMS", `orchestrator ${uri} sent no ticket params`);
    const params = ticketParamsFromWire(info.ticketParams, info.priceInfo);
    const orchSessionId = info.authToken?.sessionId ?? "";
    const senderSessionId = this.sender.startSession(params);
    return {
      uri,
      recipient: getAddress(params.recipient),
      orchSessionId,
      initialPrice: price,
      price,
      params,
      senderSessionId,
      balance: new Balance(params.recipient, orchSessionId, this.balances),
    };
  }

  /**
   * Apply a fresh OrchestratorInfo (a segment reply or a refresh): new ticket params start a new
   * Sender session (nonces from 1 again, as go-livepeer does), the new price is checked against
   * the pinned one. Throws PricingError when the price more than doubled.
   */
  updateSession(session: PaymentSession, info: OrchestratorInfo): void {
    const price = quotedPrice(info);
    validatePriceIncrease(price, session.initialPrice);
    if (price) session.price = price;
    if (!info.ticketParams) return;
    const params = ticketParamsFromWire(info.ticketParams, info.priceInfo);
    if (params.recipientRandHash.toLowerCase() === session.params.recipientRandHash.toLowerCase()) return;
    this.sender.cleanupSession(session.senderSessionId);
    session.params = params;
    session.senderSessionId = this.sender.startSession(params);
  }

  /**
   * The Livepeer-Payment for one segment: the fee is estimated from the profiles and duration at
   * the session's price, just enough tickets are signed to cover it on top of the balance. On
   * failure the reserved balance is put back. Expired params throw a retryable SenderError
   * (isTicketParamsExpired): refresh the OrchestratorInfo and call again.
   */
  async paymentFor(
    session: PaymentSession,
    profiles: readonly FeeProfile[],
    durationMs: number,
  ): Promise<SegmentPaymentHandle> {
    validatePriceIncrease(session.price, session.initialPrice);
    const problem = this.fundsProblem();
    if (problem) throw new GatewayPaymentsError("CANNOT_PAY", problem);
    const pricePerPixel = ratPriceInfo(session.price);
    const fee = estimateFee(profiles, durationMs / 1000, pricePerPixel);
    const ev = this.sender.ev(session.senderSessionId);
    const update = SegmentPayment.stage(session.balance, ev, fee);
    try {
      const batch =
        update.numTickets > 0
          ? await this.sender.createTicketBatch(session.senderSessionId, update.numTickets)
          : null;
      const payment = paymentMessage(this.address, batch, session.price);
      return { header: encodePaymentHeader(payment), numTickets: update.numTickets, update, session };
    } catch (err) {
      update.complete();
      throw err;
    }
  }

  /** The segment request went out: its tickets are spent whatever the answer. */
  sent(handle: SegmentPaymentHandle): void {
    handle.update.sent();
  }

  /** Results came back: settle the balance from the pixels the orchestrator reports. */
  onResult(handle: SegmentPaymentHandle, pixels: bigint | readonly bigint[]): void {
    handle.update.received(pixels, ratPriceInfo(handle.session.price));
    handle.update.complete();
  }

  /** Settle a payment whose segment failed (the credit is kept unless the request went out). */
  settle(handle: SegmentPaymentHandle): void {
    handle.update.complete();
  }

  /**
   * SegData.sig: the gateway's signature over the segment's flattened metadata. `_handle` is the
   * segment's payment (a remote signer signs both in one call; the local key needs neither).
   */
  async segmentSig(
    md: {
      manifestId: string;
      seq: number;
      hash: Uint8Array;
      profileNames: string[];
    },
    _handle?: SegmentPaymentHandle | null,
  ): Promise<Uint8Array> {
    const flat = segmentFlatten({
      manifestId: Buffer.from(md.manifestId, "utf8"),
      seq: BigInt(md.seq),
      hash: md.hash,
      profileNames: md.profileNames,
    });
    return toBytes(await this.deps.signer.signHash(keccak(flat)));
  }

  /** Forget a session (its stream ended or the orchestrator was dropped). */
  endSession(session: PaymentSession): void {
    this.sender.cleanupSession(session.senderSessionId);
    this.balances.remove(session.recipient, session.orchSessionId);
  }

  /** /status view of one session: price and balance. */
  sessionStatus(session: PaymentSession): Record<string, unknown> {
    return {
      recipient: session.recipient,
      pricePerUnit: session.price.pricePerUnit.toString(),
      pixelsPerUnit: session.price.pixelsPerUnit.toString(),
      initialPricePerUnit: session.initialPrice.pricePerUnit.toString(),
      initialPixelsPerUnit: session.initialPrice.pixelsPerUnit.toString(),
      balance: session.balance.current()?.floatString(3) ?? "0",
      nonce: safeNonce(this.sender, session.senderSessionId),
    };
  }

  /** /status view of the sender: address, deposit and reserve in wei. */
  status(): Record<string, unknown> {
    const f = this.funds;
    return {
      address: this.address,
      deposit: f?.deposit.toString() ?? null,
      reserve: f?.reserve.fundsRemaining.toString() ?? null,
      withdrawRound: f?.withdrawRound.toString() ?? null,
      canPay: this.fundsProblem() === null,
      problem: this.fundsProblem(),
    };
  }
}

function safeNonce(sender: Sender, id: string): number | null {
  try {
    return sender.nonce(id);
  } catch {
    return null;
  }
}

function toBytes(sig: Uint8Array | Hex): Uint8Array {
  return typeof sig === "string" ? Buffer.from(sig.slice(2), "hex") : sig;
}
