/**
 * The orchestrator's side of payments behind one object (go-livepeer core/orchestrator.go
 * ProcessPayment, SufficientBalance, DebitFees, priceInfo and pm/recipient.go): the ticket params
 * and price it quotes each gateway, the check and credit of every received ticket, the durable
 * queue that redeems the winners, and the balances a session is debited from. Built only on a
 * chain; it starts after the chain layer and before the orchestrator's port opens.
 */

import { create } from "@bufbuild/protobuf";
import {
  type Address,
  bytesToHex,
  getAddress,
  type Hash,
  type Hex,
  hexToBytes,
  keccak256,
  zeroAddress,
} from "viem";
import type { OrchestratorPaymentsConfig } from "../config/resolve.js";
import { errorMessage, LpError } from "../errors/LpError.js";
import type { Chain } from "../eth/Chain.js";
import type { Logger } from "../logger/logger.js";
import type { Service } from "../node/Service.js";
import type { NodeStatus } from "../node/status.js";
import {
  type Payment,
  type PriceInfo,
  PriceInfoSchema,
  TicketExpirationParamsSchema,
  TicketParamsSchema,
  type TicketParams as WireTicketParams,
} from "../protocol/gen/lp_rpc_pb.js";
import { closeDatabase, openDatabase, type SqliteDb } from "../storage/db.js";
import { AddressBalances } from "./balances.js";
import { feeForPixels } from "./fees.js";
import { keccak256Bytes } from "./keccak.js";
import { chainRedemptionQueue, ticketsView } from "./localRedemption.js";
import {
  gatewayPricesFromFlag,
  OrchestratorPricing,
  orchestratorBasePrice,
  priceInfoOf,
  ratPriceInfo,
} from "./pricing.js";
import type { RedemptionQueue } from "./RedemptionQueue.js";
import { Rat } from "./rat.js";
import { RecipientRandSource } from "./recipientRand.js";
import { SenderMonitor } from "./SenderMonitor.js";
import { SigVerifier } from "./sig.js";
import { TicketStore } from "./TicketStore.js";
import { bytesToBigint, minimalBytes, ticketEV } from "./ticket.js";
import { TicketParamsMaker } from "./ticketParams.js";
import type { SignedTicket, Ticket, TicketParams } from "./types.js";
import { SenderNonceTracker, TicketValidator } from "./validator.js";

/** go-livepeer's answer to a segment whose session has too little credit. */
export const INSUFFICIENT_BALANCE = "Insufficient balance";

/** The gas price is read again on a new block at most this often. */
const GAS_PRICE_REFRESH_MS = 5_000;

/** The orchestrator's payment flags, typed: the config section resolve.ts fills. */
export type RecipientConfig = OrchestratorPaymentsConfig;

/** Options of {@link Recipient}. */
export interface RecipientOptions extends RecipientConfig {
  /** The data folder: the ticket store lives in its SQLite database. */
  datadir: string;
  /** Gas one redemption costs; defaults to the chain's preset. */
  redeemGas?: bigint;
  /** Redemption retry backoff (tests lower it). */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

/** A refused payment: the orchestrator answers 400 with this text (go-livepeer's ProcessPayment error). */
export class PaymentError extends LpError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super("PAYMENT_REFUSED", message, options);
  }
}

/** What an accepted payment leaves for the rest of the segment. */
export interface ReceivedPayment {
  /** The paying gateway (Payment.sender). */
  sender: Address;
  /** The session's price per pixel: the one its fees are debited at. */
  price: Rat;
  /** Whether the session must hold credit before it is served (its price is above 0). */
  mustHaveBalance: boolean;
}

/** Go's common.BytesToAddress: the last 20 bytes, left-padded with zeros when shorter. */
export function bytesToAddress(bytes: Uint8Array | undefined): Address {
  return getAddress(bytesToHex(rightAligned(bytes ?? new Uint8Array(0), 20)));
}

/** Go's common.BytesToHash: the last 32 bytes, left-padded. */
function bytesToHash(bytes: Uint8Array | undefined): Hex {
  return bytesToHex(rightAligned(bytes ?? new Uint8Array(0), 32));
}

function rightAligned(bytes: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(size);
  const src = bytes.length > size ? bytes.subarray(bytes.length - size) : bytes;
  out.set(src, size - src.length);
  return out;
}

/** TicketParams as OrchestratorInfo.ticket_params carries them (big integers as minimal bytes). */
export function ticketParamsToWire(p: TicketParams): WireTicketParams {
  return create(TicketParamsSchema, {
    recipient: rightAligned(Buffer.from(p.recipient.slice(2), "hex"), 20),
    faceValue: minimalBytes(p.faceValue),
    winProb: minimalBytes(p.winProb),
    recipientRandHash: Buffer.from(p.recipientRandHash.slice(2), "hex"),
    seed: minimalBytes(p.seed),
    expirationBlock: minimalBytes(p.expirationBlock),
    expirationParams: create(TicketExpirationParamsSchema, {
      creationRound: p.expirationParams.creationRound,
      creationRoundBlockHash: Buffer.from(p.expirationParams.creationRoundBlockHash.slice(2), "hex"),
    }),
  });
}

/**
 * A remote redeemer (RedeemerClient, -redeemerAddr): winning tickets and max floats go through it
 * instead of the local redemption queue and sender monitor.
 */
export interface RemoteRedeemer extends Service {
  add(ticket: SignedTicket): Promise<{ hash: Hash; inserted: boolean }>;
  maxFloat(sender: Address, fallback?: () => Promise<bigint>): Promise<bigint>;
  status(s: NodeStatus): void;
}

interface Parts {
  db: SqliteDb;
  store: TicketStore;
  balances: AddressBalances;
  monitor: SenderMonitor;
  queue: Pick<RedemptionQueue, "add" | "start" | "stop">;
  maker: TicketParamsMaker;
  validator: TicketValidator;
  pricing: OrchestratorPricing;
  nonces: SenderNonceTracker;
  unsubscribe: (() => void)[];
}

/**
 * The one payments interface the orchestrator calls. Every method but status() needs start() to
 * have run (the chain layer is up by then).
 */
export class Recipient implements Service {
  readonly name = "recipient";
  private parts: Parts | null = null;
  private gasPrice: bigint | null = null;
  private gasPriceAt = 0;
  /** activationRound / deactivationRound of this orchestrator, read at start and each round. */
  private activeRounds: { activation: bigint; deactivation: bigint } | null = null;
  private readonly log: Logger;
  private readonly verifier = new SigVerifier();

  constructor(
    private readonly options: RecipientOptions,
    private readonly deps: { chain: Chain; logger: Logger; redeemer?: RemoteRedeemer | null },
  ) {
    this.log = deps.logger.child({ module: "recipient" });
  }

  /** The ticket recipient: -ethOrchAddr when given (a registered orchestrator), else the node's account. */
  get address(): Address {
    const o = this.options.ethOrchAddr;
    return o ? getAddress(o.toLowerCase()) : this.deps.chain.signer.address;
  }

  /**
   * The default price in wei per pixel before any adjustment, as big.Rat text ("3/2"); null before
   * the payments start or when no price is set (go-livepeer's /orchestratorInfo PriceInfo).
   */
  basePriceText(): string | null {
    return this.parts?.pricing.basePrice(zeroAddress)?.ratString() ?? null;
  }

  /**
   * go-livepeer's orchestrator Sign(msg): the node's key personal-signs keccak256(msg) (65 bytes,
   * v 27/28). Signed by the hot key, which -ethOrchAddr does not change.
   */
  sign(msg: Uint8Array): Promise<Uint8Array> {
    return this.deps.chain.signer.signHash(keccak256Bytes(msg));
  }

  /** Replaces the default price (the CLI's setOrchestratorConfig); a bad price throws PricingError. */
  async setPrice(pricePerUnit: string, pixelsPerUnit: string): Promise<void> {
    const price = await orchestratorBasePrice({ pricePerUnit, pixelsPerUnit }, this.deps.chain.priceFeed);
    this.ready().pricing.setDefaultPrice(price);
  }

  /**
   * Whether the 20-byte address (Go's BytesToAddress of `addressBytes`) personal-signed the
   * 32-byte hash (crypto.VerifySig); false for anything malformed.
   */
  verifySig(addressBytes: Uint8Array, hash: Uint8Array, sig: Uint8Array): boolean {
    return this.verifier.verify(bytesToAddress(addressBytes), hash, sig);
  }

  /** A GetOrchestrator request's InfoSig: the address signed the EIP-55 text of itself. */
  verifyInfoSig(addressBytes: Uint8Array, sig: Uint8Array): boolean {
    const address = bytesToAddress(addressBytes);
    return this.verifier.verify(address, keccak256(new TextEncoder().encode(address), "bytes"), sig);
  }

  /** The address as OrchestratorInfo.address carries it (20 bytes). */
  addressBytes(): Uint8Array {
    return hexToBytes(this.address);
  }

  private ready(): Parts {
    if (!this.parts) throw new LpError("RECIPIENT_NOT_STARTED", "payments are not ready");
    return this.parts;
  }

  async start(signal: AbortSignal): Promise<void> {
    if (this.parts) return;
    const chain = this.deps.chain;
    const o = this.options;
    const recipient = this.address;
    const redeemGas = o.redeemGas ?? chain.settings.chain.redeemGas;
    const basePrice = await orchestratorBasePrice(
      { pricePerUnit: o.pricePerUnit, pixelsPerUnit: o.pixelsPerUnit },
      chain.priceFeed,
    );
    const gatewayPrices = o.pricePerGateway
      ? await gatewayPricesFromFlag(o.pricePerGateway, chain.priceFeed)
      : new Map();
    const db = openDatabase(o.datadir);
    const started: Service[] = [];
    try {
      const store = TicketStore.open(db);
      const balances = new AddressBalances();
      const monitor = new SenderMonitor(
        { recipient },
        { chain: chain.client, rounds: chain.rounds, events: chain.blocks, logger: this.log },
      );
      const redeemer = this.deps.redeemer ?? null;
      const rand = new RecipientRandSource();
      const maker = new TicketParamsMaker(
        { recipient, ev: o.ticketEV, redeemGas, maxFaceValue: o.maxFaceValue },
        {
          clock: chain.rounds,
          gasPrice: () => this.gasPrice,
          maxFloat: (s) => (redeemer ? redeemer.maxFloat(s, () => monitor.maxFloat(s)) : monitor.maxFloat(s)),
          rand,
        },
      );
      const nonces = new SenderNonceTracker();
      const verifier = this.verifier;
      const validator = new TicketValidator(
        { recipient },
        { verifier, rand, clock: chain.rounds, nonces, senders: monitor },
      );
      const pricing = new OrchestratorPricing(
        { defaultPrice: basePrice, gatewayPrices, autoAdjustPrice: o.autoAdjustPrice },
        { txCostMultiplier: (s) => maker.txCostMultiplier(s), balances },
      );
      const queue =
        redeemer ??
        chainRedemptionQueue(
          chain,
          { redeemGas, initialBackoffMs: o.initialBackoffMs, maxBackoffMs: o.maxBackoffMs },
          { store, funds: monitor, logger: this.log },
        );
      await this.refreshGasPrice();
      await this.readActivity();
      for (const service of [balances, monitor, queue]) {
        await service.start(signal);
        started.push(service);
      }
      const unsubscribe = [
        chain.blocks.onBlock(() => {
          nonces.onL1Block(chain.rounds.state.lastSeenL1Block);
          if (Date.now() - this.gasPriceAt >= GAS_PRICE_REFRESH_MS) void this.refreshGasPrice();
        }),
        chain.rounds.subscribe((state, previous) => {
          if (previous && state.lastInitializedRound !== previous.lastInitializedRound)
            void this.readActivity();
        }),
      ];
      this.parts = {
        db,
        store,
        balances,
        monitor,
        queue,
        maker,
        validator,
        pricing,
        nonces,
        unsubscribe,
      };
      const stats = store.stats();
      this.log.info(
        {
          recipient,
          ticketEV: o.ticketEV.toString(),
          price: basePrice.value().ratString(),
          sigBackend: verifier.backend,
          pendingTickets: stats.pending.count + stats.submitted.count,
        },
        "receiving payments",
      );
    } catch (err) {
      for (const service of started.reverse()) await service.stop();
      basePrice.stop();
      for (const p of gatewayPrices.values()) p.stop();
      closeDatabase(db);
      throw err;
    }
  }

  async stop(): Promise<void> {
    const parts = this.parts;
    this.parts = null;
    if (!parts) return;
    for (const off of parts.unsubscribe) off();
    await parts.queue.stop();
    await parts.monitor.stop();
    await parts.balances.stop();
    parts.pricing.stop();
    closeDatabase(parts.db);
  }

  private async refreshGasPrice(): Promise<void> {
    this.gasPriceAt = Date.now();
    try {
      this.gasPrice = await this.deps.chain.client.publicClient.getGasPrice();
    } catch (err) {
      this.log.debug({ err: errorMessage(err) }, "could not read the gas price");
    }
  }

  private async readActivity(): Promise<void> {
    try {
      const info = await this.deps.chain.client.transcoderInfo(this.address);
      this.activeRounds = { activation: info.activationRound, deactivation: info.deactivationRound };
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, "could not read whether this orchestrator is active");
    }
  }

  /**
   * Ticket params and price for a gateway (OrchestratorInfo.ticket_params and price_info): the
   * session's pinned price, or the price for this gateway now; params are made for exactly the
   * price the PriceInfo carries, since that is what the gateway echoes back.
   */
  async quote(
    gateway: Address | Uint8Array,
    sessionId = "",
  ): Promise<{ ticketParams: WireTicketParams; priceInfo: PriceInfo }> {
    const p = this.ready();
    const sender = typeof gateway === "string" ? getAddress(gateway) : bytesToAddress(gateway);
    const price = priceInfoOf(await p.pricing.price(sender, sessionId));
    const params = await p.maker.ticketParams(sender, ratPriceInfo(price));
    return {
      ticketParams: ticketParamsToWire(params),
      priceInfo: create(PriceInfoSchema, {
        pricePerUnit: price.pricePerUnit,
        pixelsPerUnit: price.pixelsPerUnit,
      }),
    };
  }

  /** The price a session's fees are debited at: its pinned price, else the quote for the gateway now. */
  private async sessionPrice(p: Parts, sender: Address, sessionId: string): Promise<Rat> {
    return p.balances.fixedPrice(sender, sessionId) ?? (await p.pricing.price(sender, sessionId));
  }

  /**
   * Check and credit one Payment for a session (ProcessPayment). Throws PaymentError with
   * go-livepeer's text; a refused payment changes no balance. Winning tickets are committed to the
   * ticket store before this returns, even when a later ticket is refused.
   *
   * Deviations, both closing a way to be served for free: the price is pinned only once a ticket
   * proved (through its recipientRand) that it was quoted by us, not from the first payment's
   * claim; and the balance check and debit use that pinned (or quoted) price, not the price the
   * payment claims, so a payment that says "price 0" without tickets buys nothing.
   */
  async receivePayment(payment: Payment, sessionId: string): Promise<ReceivedPayment> {
    const p = this.ready();
    const sender = bytesToAddress(payment.sender);
    const tp = payment.ticketParams;
    if (tp && payment.sender.length === 0) {
      throw new PaymentError("Could not find Sender for payment: the payment has no sender");
    }
    if (tp) {
      const round = this.deps.chain.rounds.state.lastInitializedRound;
      const a = this.activeRounds;
      if (a && !(a.activation <= round && round < a.deactivation)) {
        throw new PaymentError(
          `orchestrator ${this.address} is inactive in round ${round}, cannot process payments`,
        );
      }
      if (!payment.expectedPrice) {
        throw new PaymentError('invalid expected price sent with payment err="expected price is nil"');
      }
      let price: Rat;
      try {
        price = ratPriceInfo(payment.expectedPrice);
      } catch (err) {
        throw new PaymentError(`invalid expected price sent with payment err="${errorMessage(err)}"`);
      }
      await this.receiveTickets(p, payment, tp, sender, price, sessionId);
    }
    const price = await this.sessionPrice(p, sender, sessionId);
    return { sender, price, mustHaveBalance: price.sign() > 0 };
  }

  private async receiveTickets(
    p: Parts,
    payment: Payment,
    tp: WireTicketParams,
    sender: Address,
    price: Rat,
    sessionId: string,
  ): Promise<void> {
    const ep = payment.expirationParams;
    const seed = bytesToBigint(tp.seed);
    const base: Omit<Ticket, "senderNonce"> = {
      recipient: bytesToAddress(tp.recipient),
      sender,
      faceValue: bytesToBigint(tp.faceValue),
      winProb: bytesToBigint(tp.winProb),
      recipientRandHash: bytesToHash(tp.recipientRandHash),
      creationRound: ep?.creationRound ?? 0n,
      creationRoundBlockHash: bytesToHash(ep?.creationRoundBlockHash),
      paramsExpirationBlock: bytesToBigint(tp.expirationBlock),
      pricePerPixel: price,
    };
    let credit = Rat.ZERO;
    let proven = false;
    let firstError: LpError | null = null;
    for (const tsp of payment.ticketSenderParams) {
      const ticket: Ticket = { ...base, senderNonce: tsp.senderNonce };
      const r = await p.validator.receiveTicket(ticket, tsp.sig, seed);
      if (r.error?.fatal) {
        firstError = r.error;
        break;
      }
      if (r.recipientRand !== null) proven = true;
      if (r.won && r.recipientRand !== null) {
        const stored = await p.queue.add({
          ...ticket,
          sig: bytesToHex(tsp.sig),
          recipientRand: r.recipientRand,
        });
        if (stored.inserted) {
          this.log.info(
            { sender, faceValue: ticket.faceValue.toString(), nonce: ticket.senderNonce, hash: stored.hash },
            "winning ticket stored",
          );
        }
      }
      if (r.error) {
        // Go's quirk kept: after the first refused ticket no later ticket of the payment is credited.
        firstError ??= r.error;
        continue;
      }
      if (!firstError) credit = credit.add(ticketEV(ticket.faceValue, ticket.winProb));
    }
    if (proven) {
      p.balances.pinPrice(sender, sessionId, price);
      if (credit.sign() > 0) p.balances.credit(sender, sessionId, credit);
    }
    if (firstError) {
      this.log.warn({ sender, orchSessionID: sessionId, err: firstError.message }, "payment refused");
      throw new PaymentError(firstError.message, { cause: firstError });
    }
  }

  /** Refuse, with go-livepeer's "Insufficient balance", a priced session holding less than one ticket's EV. */
  requireBalance(paid: ReceivedPayment, sessionId: string): void {
    if (paid.mustHaveBalance && !this.sufficientBalance(paid.sender, sessionId)) {
      throw new LpError("INSUFFICIENT_BALANCE", INSUFFICIENT_BALANCE);
    }
  }

  /** Whether the session holds at least one ticket's EV (SufficientBalance). */
  sufficientBalance(sender: Address, sessionId: string): boolean {
    const p = this.ready();
    const balance = p.balances.balance(sender, sessionId);
    return balance?.gte(p.maker.ev()) ?? false;
  }

  /** Debit a transcoded segment's fees: exactly pixels × the session's price. Returns the amount. */
  debit(payment: ReceivedPayment, sessionId: string, pixels: bigint): Rat {
    const p = this.ready();
    const amount = feeForPixels(pixels, payment.price);
    p.balances.debit(payment.sender, sessionId, amount);
    return amount;
  }

  /** The (sender, session) balance, or null (tests, the CLI). */
  balance(sender: Address, sessionId: string): Rat | null {
    return this.parts?.balances.balance(sender, sessionId) ?? null;
  }

  /** The ticket store's counts (tests, the CLI). */
  ticketStats() {
    return this.ready().store.stats();
  }

  /** /status: tickets pending, submitted, redeemed and failed with their face values; senders monitored. */
  status(s: NodeStatus): void {
    const p = this.parts;
    if (!p) return;
    s["Tickets"] = ticketsView(p.store.stats());
    s["SendersMonitored"] = p.monitor.knownSenders().length;
    s["PaymentBalances"] = p.balances.size;
    s["TicketEV"] = this.options.ticketEV.toString();
    this.deps.redeemer?.status(s);
  }
}
