/**
 * The gateway's ticket sender (go-livepeer pm/sender.go): one session per set of ticket params an
 * orchestrator advertised, the checks those params must pass before the gateway pays with them,
 * and batches of signed tickets with nonces counting from 1 per session.
 */
import { create } from "@bufbuild/protobuf";
import { type Address, bytesToHex, getAddress, type Hex, hexToBytes, isHex } from "viem";
import { errorMessage, LpError } from "../errors/LpError.js";
import type { SenderInfo } from "../eth/ChainClient.js";
import {
  type Payment,
  PaymentSchema,
  type PriceInfo,
  PriceInfoSchema,
  TicketExpirationParamsSchema,
  TicketParamsSchema,
  TicketSenderParamsSchema,
  type TicketParams as WireTicketParams,
} from "../protocol/gen/lp_rpc_pb.js";
import { Rat } from "./rat.js";
import { bytesToBigint, minimalBytes, newTicket, ticketEV, ticketHashBytes } from "./ticket.js";
import type {
  RatValue,
  TicketBatch,
  TicketExpirationParams,
  TicketParams,
  TicketSenderParams,
} from "./types.js";

export type { SenderInfo };

/** Stable codes of the sender's errors; messages are go-livepeer's texts. */
export type SenderErrorCode =
  | "TICKET_PARAMS_NIL"
  | "TICKET_PARAMS_EXPIRATION_ZERO"
  | "TICKET_PARAMS_EXPIRED"
  | "TICKET_FACE_VALUE_TOO_LOW"
  | "TICKET_EV_TOO_HIGH"
  | "SENDER_VALIDATION"
  | "TOTAL_TICKET_EV_TOO_HIGH"
  | "TICKET_FACE_VALUE_TOO_HIGH"
  | "SENDER_SESSION_NOT_FOUND"
  | "TICKET_SIGNING_FAILED"
  | "INVALID_BATCH_SIZE"
  | "INVALID_SENDER_OPTION"
  | "INVALID_TICKET_PARAMS";

/** A refusal by the sender, with go-livepeer's text as the message. */
export class SenderError extends LpError {
  declare readonly code: SenderErrorCode;

  constructor(
    code: SenderErrorCode,
    message: string,
    options: { cause?: unknown; retryable?: boolean } = {},
  ) {
    super(code, message, options);
  }
}

/** go-livepeer's pm.ErrTicketParamsExpired text: the gateway refreshes the orchestrator's params on it. */
export const TICKET_PARAMS_EXPIRED = "TicketParams expired";

/** Params must stay valid for more than this many L1 blocks to be used (paramsExpiryBuffer). */
export const PARAMS_EXPIRY_BUFFER = 1n;

/** go-livepeer's defaults for -maxTicketEV, -maxTotalEV and -depositMultiplier. */
export const SENDER_DEFAULTS = {
  maxTicketEV: "3000000000000",
  maxTotalEV: "20000000000000",
  depositMultiplier: 1,
} as const;

/** Whether an error is the "TicketParams expired" refusal (the caller should fetch fresh params). */
export function isTicketParamsExpired(err: unknown): boolean {
  return err instanceof SenderError && err.code === "TICKET_PARAMS_EXPIRED";
}

/** The gateway's own funds at the TicketBroker; a later session backs this with the chain (a cached watcher). */
export interface SenderFunds {
  senderInfo(sender: Address): Promise<SenderInfo> | SenderInfo;
}

/** The key that signs tickets: src/eth/signer.ts's Signer fits (EIP-191 over the 32-byte hash, 65 bytes). */
export interface TicketSigner {
  readonly address: Address;
  signHash(hash: Uint8Array): Promise<Uint8Array | Hex>;
}

/** The chain time the sender needs: RoundWatcher.state fits. */
export interface SenderTime {
  lastSeenL1Block: bigint;
  lastInitializedRound: bigint;
  lastInitializedBlockHash: Hex;
}

/** Limits on what the gateway accepts to pay (the -maxTicketEV, -maxTotalEV, -depositMultiplier flags). */
export interface SenderOptions {
  /** Largest EV of one ticket. */
  maxEV: RatValue;
  /** Largest EV of one batch (one payment). */
  maxTotalEV: RatValue;
  /** The largest face value accepted is deposit / depositMultiplier (integer division); > 0. */
  depositMultiplier: number;
}

/** Collaborators of the Sender. */
export interface SenderDeps {
  signer: TicketSigner;
  funds: SenderFunds;
  /** Called whenever the sender needs the current round and L1 block. */
  time: () => SenderTime;
}

/** The raw flag values of the sender's limits, as the config layer holds them. */
export interface SenderFlags {
  maxTicketEV?: string;
  maxTotalEV?: string;
  depositMultiplier?: number | string;
}

function parseRatFlag(name: string, value: string): Rat {
  let r: Rat;
  try {
    r = Rat.parse(value.trim());
  } catch {
    throw new SenderError(
      "INVALID_SENDER_OPTION",
      `-${name} must be a valid rational number, but ${value} provided. Restart the node with a valid value for -${name}`,
    );
  }
  if (r.sign() < 0) {
    throw new SenderError(
      "INVALID_SENDER_OPTION",
      `-${name} must not be negative, but ${value} provided. Restart the node with a valid value for -${name}`,
    );
  }
  return r;
}

/**
 * Parse and check -maxTicketEV, -maxTotalEV and -depositMultiplier with go-livepeer's texts
 * (a non-numeric -maxTotalEV panics in go-livepeer; here it gets the same text as -maxTicketEV).
 */
export function parseSenderOptions(flags: SenderFlags = {}): SenderOptions & { maxEV: Rat; maxTotalEV: Rat } {
  const maxEV = parseRatFlag("maxTicketEV", flags.maxTicketEV ?? SENDER_DEFAULTS.maxTicketEV);
  const maxTotalEV = parseRatFlag("maxTotalEV", flags.maxTotalEV ?? SENDER_DEFAULTS.maxTotalEV);
  const raw = flags.depositMultiplier ?? SENDER_DEFAULTS.depositMultiplier;
  const dm = typeof raw === "number" ? raw : Number(String(raw).trim());
  if (!Number.isSafeInteger(dm) || dm <= 0) {
    throw new SenderError(
      "INVALID_SENDER_OPTION",
      `-depositMultiplier must be greater than 0, but ${raw} provided. Restart the node with a valid value for -depositMultiplier`,
    );
  }
  return { maxEV, maxTotalEV, depositMultiplier: dm };
}

interface Session {
  nonce: number;
  params: TicketParams;
}

const MAX_UINT32 = 0xffffffff;
const ZERO_HASH = /^0x0{64}$/i;

/** The session id go-livepeer uses: recipientRandHash as 0x + 64 lowercase hex. */
export function senderSessionId(params: Pick<TicketParams, "recipientRandHash">): string {
  return params.recipientRandHash.toLowerCase();
}

function toHex(sig: Uint8Array | Hex): Hex {
  if (typeof sig === "string") {
    if (!isHex(sig)) throw new Error("signer returned a signature that is not hex");
    return sig.toLowerCase() as Hex;
  }
  return bytesToHex(sig);
}

/** Go's %x of a string: the hex of its bytes (how "error loading session" prints the id). */
function goHexOfString(s: string): string {
  return Buffer.from(s, "utf8").toString("hex");
}

/**
 * Ticket sessions and batches for the gateway (go-livepeer pm.sender). Params are validated on
 * every batch against the gateway's limits and its deposit and reserve, so a gateway that cannot
 * pay refuses with a clear error before anything is signed.
 */
export class Sender {
  readonly maxEV: Rat;
  readonly maxTotalEV: Rat;
  readonly depositMultiplier: number;
  private readonly sessions = new Map<string, Session>();

  constructor(
    options: SenderOptions,
    private readonly deps: SenderDeps,
  ) {
    this.maxEV = Rat.from(options.maxEV);
    this.maxTotalEV = Rat.from(options.maxTotalEV);
    if (this.maxEV.sign() < 0 || this.maxTotalEV.sign() < 0) {
      throw new SenderError("INVALID_SENDER_OPTION", "max ticket EV and max total EV must not be negative");
    }
    if (!Number.isSafeInteger(options.depositMultiplier) || options.depositMultiplier <= 0) {
      throw new SenderError("INVALID_SENDER_OPTION", "depositMultiplier must be greater than 0");
    }
    this.depositMultiplier = options.depositMultiplier;
  }

  /** The address tickets are sent from. */
  get address(): Address {
    return this.deps.signer.address;
  }

  /** Start (or restart, with the nonce back at 0) the session for these params; returns its id. */
  startSession(params: TicketParams): string {
    return this.startSessionWithNonce(params, 0);
  }

  /** Start a session whose next ticket has nonce `nonce + 1` (the remote signer carries nonces across requests). */
  startSessionWithNonce(params: TicketParams, nonce: number): string {
    if (!Number.isInteger(nonce) || nonce < 0 || nonce > MAX_UINT32) {
      throw new SenderError("INVALID_BATCH_SIZE", "sender nonce must be a uint32");
    }
    const id = senderSessionId(params);
    this.sessions.set(id, { nonce, params });
    return id;
  }

  /** Forget a session (its orchestrator was dropped or sent new params). */
  cleanupSession(sessionId: string): void {
    this.sessions.delete(sessionId);
  }

  /** Number of open sessions. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /** The last nonce used in the session (0 before the first ticket). */
  nonce(sessionId: string): number {
    return this.load(sessionId).nonce;
  }

  /** The EV of one ticket of the session: faceValue × winProb / (2^256 − 1). */
  ev(sessionId: string): Rat {
    const { params } = this.load(sessionId);
    return ticketEV(params.faceValue, params.winProb);
  }

  /** Whether one ticket with these params is acceptable now (go-livepeer ValidateTicketParams). */
  async validateTicketParams(params: TicketParams | null | undefined): Promise<void> {
    await this.validate(params, 1);
  }

  /**
   * Sign `size` tickets for the session: the params are checked for `size` tickets first, then each
   * ticket takes the next nonce. When the orchestrator sent no usable expiration params the gateway
   * uses its own last initialised round and block hash, as go-livepeer does.
   */
  async createTicketBatch(sessionId: string, size: number): Promise<TicketBatch> {
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new SenderError("INVALID_BATCH_SIZE", `invalid ticket batch size ${size}`);
    }
    const session = this.load(sessionId);
    const params = session.params;
    await this.validate(params, size);
    if (session.nonce + size > MAX_UINT32) {
      throw new SenderError("INVALID_BATCH_SIZE", "sender nonce would overflow uint32; start a new session");
    }

    const ep = params.expirationParams;
    const expirationParams: TicketExpirationParams =
      !ep || ep.creationRound === 0n || ZERO_HASH.test(ep.creationRoundBlockHash)
        ? this.ownExpirationParams()
        : { creationRound: ep.creationRound, creationRoundBlockHash: ep.creationRoundBlockHash };

    const sender = this.deps.signer.address;
    // Nonces are taken before any await so that concurrent batches on one session never share one.
    const first = session.nonce + 1;
    session.nonce += size;
    const senderParams: TicketSenderParams[] = [];
    for (let i = 0; i < size; i++) {
      const senderNonce = first + i;
      const hash = ticketHashBytes(newTicket(params, expirationParams, sender, senderNonce));
      let sig: Hex;
      try {
        sig = toHex(await this.deps.signer.signHash(hash));
      } catch (err) {
        throw new SenderError(
          "TICKET_SIGNING_FAILED",
          `error signing ticket for session: ${sessionId}: ${errorMessage(err)}`,
          { cause: err },
        );
      }
      senderParams.push({ senderNonce, sig });
    }
    return { params, expirationParams, sender, senderParams };
  }

  private ownExpirationParams(): TicketExpirationParams {
    const t = this.deps.time();
    return { creationRound: t.lastInitializedRound, creationRoundBlockHash: t.lastInitializedBlockHash };
  }

  private load(sessionId: string): Session {
    const s = this.sessions.get(sessionId);
    if (!s) {
      throw new SenderError("SENDER_SESSION_NOT_FOUND", `error loading session: ${goHexOfString(sessionId)}`);
    }
    return s;
  }

  private async validate(params: TicketParams | null | undefined, numTickets: number): Promise<void> {
    if (!params) throw new SenderError("TICKET_PARAMS_NIL", "ticketParams is nil");
    if (params.expirationBlock === 0n) {
      throw new SenderError("TICKET_PARAMS_EXPIRATION_ZERO", "ticketParams expiration block is 0");
    }
    const time = this.deps.time();
    if (params.expirationBlock - time.lastSeenL1Block <= PARAMS_EXPIRY_BUFFER) {
      throw new SenderError("TICKET_PARAMS_EXPIRED", TICKET_PARAMS_EXPIRED, { retryable: true });
    }

    const ev = ticketEV(params.faceValue, params.winProb);
    // Zero-price params: nothing will be paid, so the funds checks do not apply.
    if (ev.sign() <= 0) return;
    if (ev.gte(params.faceValue)) {
      throw new SenderError(
        "TICKET_FACE_VALUE_TOO_LOW",
        `ticket faceValue too low faceValue=${params.faceValue}`,
      );
    }
    if (ev.gt(this.maxEV)) {
      throw new SenderError(
        "TICKET_EV_TOO_HIGH",
        `ticket EV ${ev.floatString(5)} > max ticket EV ${this.maxEV.floatString(5)}`,
      );
    }

    const info = await this.deps.funds.senderInfo(this.deps.signer.address);
    this.validateSender(info, time.lastInitializedRound);

    const totalEV = ev.mul(BigInt(numTickets));
    if (totalEV.gt(this.maxTotalEV)) {
      throw new SenderError(
        "TOTAL_TICKET_EV_TOO_HIGH",
        `total ticket EV ${totalEV.floatString(5)} for ${numTickets} tickets > max total ticket EV ${this.maxTotalEV.floatString(5)}`,
      );
    }
    const maxFaceValue = info.deposit / BigInt(this.depositMultiplier);
    if (params.faceValue > maxFaceValue) {
      throw new SenderError(
        "TICKET_FACE_VALUE_TOO_HIGH",
        `ticket faceValue ${params.faceValue} > max faceValue ${maxFaceValue}`,
      );
    }
  }

  private validateSender(info: SenderInfo, lastInitializedRound: bigint): void {
    if (info.withdrawRound !== 0n && info.withdrawRound <= lastInitializedRound + 1n) {
      throw new SenderError(
        "SENDER_VALIDATION",
        "unable to validate sender: deposit and reserve is set to unlock soon",
      );
    }
    if (info.reserve.fundsRemaining === 0n) throw new SenderError("SENDER_VALIDATION", "no sender reserve");
    if (info.deposit === 0n) throw new SenderError("SENDER_VALIDATION", "no sender deposit");
  }
}

function wireUint(bytes: Uint8Array, field: string): bigint {
  if (bytes.length > 32)
    throw new SenderError("INVALID_TICKET_PARAMS", `ticket params ${field} is longer than 32 bytes`);
  return bytesToBigint(bytes);
}

function wireFixed(bytes: Uint8Array, size: number, field: string): Hex {
  if (bytes.length !== size)
    throw new SenderError("INVALID_TICKET_PARAMS", `ticket params ${field} must be ${size} bytes`);
  return bytesToHex(bytes);
}

/**
 * The ticket params an orchestrator sent in OrchestratorInfo (net.TicketParams) and the price it
 * quoted (OrchestratorInfo.price_info) as the sender's TicketParams. Malformed fields from the
 * network are refused with INVALID_TICKET_PARAMS; a missing or zero price is a zero price.
 */
export function ticketParamsFromWire(wire: WireTicketParams, price: PriceInfo | undefined): TicketParams {
  const ep = wire.expirationParams;
  const hash = ep?.creationRoundBlockHash ?? new Uint8Array(0);
  if (ep && ep.creationRound < 0n)
    throw new SenderError("INVALID_TICKET_PARAMS", "ticket params creation round is negative");
  return {
    recipient: getAddress(wireFixed(wire.recipient, 20, "recipient")),
    faceValue: wireUint(wire.faceValue, "faceValue"),
    winProb: wireUint(wire.winProb, "winProb"),
    recipientRandHash: wireFixed(wire.recipientRandHash, 32, "recipientRandHash"),
    seed: wireUint(wire.seed, "seed"),
    expirationBlock: wireUint(wire.expirationBlock, "expirationBlock"),
    pricePerPixel:
      price && price.pixelsPerUnit !== 0n ? Rat.of(price.pricePerUnit, price.pixelsPerUnit) : Rat.ZERO,
    expirationParams: {
      creationRound: ep?.creationRound ?? 0n,
      creationRoundBlockHash:
        hash.length === 0 ? `0x${"00".repeat(32)}` : wireFixed(hash, 32, "creationRoundBlockHash"),
    },
  };
}

/**
 * The Payment a segment carries in its Livepeer-Payment header (go-livepeer genPayment): the batch's
 * params (without their own expiration params: the top-level ones are used), sender, expiration
 * params and one (nonce, sig) per ticket, plus the price the orchestrator quoted. With no batch
 * (no tickets due) only the sender and the price are set.
 */
export function paymentMessage(
  sender: Address,
  batch: TicketBatch | null,
  expectedPrice: { pricePerUnit: bigint; pixelsPerUnit: bigint } | null,
): Payment {
  const payment = create(PaymentSchema, {
    sender: hexToBytes(sender),
    expectedPrice: expectedPrice
      ? create(PriceInfoSchema, {
          pricePerUnit: expectedPrice.pricePerUnit,
          pixelsPerUnit: expectedPrice.pixelsPerUnit,
        })
      : undefined,
  });
  if (!batch || batch.senderParams.length === 0) return payment;
  const p = batch.params;
  payment.ticketParams = create(TicketParamsSchema, {
    recipient: hexToBytes(p.recipient),
    faceValue: minimalBytes(p.faceValue),
    winProb: minimalBytes(p.winProb),
    recipientRandHash: hexToBytes(p.recipientRandHash),
    seed: minimalBytes(p.seed),
    expirationBlock: minimalBytes(p.expirationBlock),
  });
  payment.expirationParams = create(TicketExpirationParamsSchema, {
    creationRound: batch.expirationParams.creationRound,
    creationRoundBlockHash: hexToBytes(batch.expirationParams.creationRoundBlockHash),
  });
  payment.ticketSenderParams = batch.senderParams.map((sp) =>
    create(TicketSenderParamsSchema, { senderNonce: sp.senderNonce, sig: hexToBytes(sp.sig) }),
  );
  return payment;
}
