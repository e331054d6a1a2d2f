/**
 * The recipient's check of one received ticket, in go-livepeer's order and with its texts
 * (pm/recipient.go ReceiveTicket, pm/validator.go): sender not unlocking, recipient, sender,
 * recipientRand, signature, the win, replay per recipientRand (600 nonces at most), params expiry,
 * and (ours) the creation round. Nothing here throws for bad input: every refusal comes back as a
 * TicketValidationError that says whether the whole payment must be dropped (fatal) or only
 * crediting stops (go-livepeer's FatalReceiveErr vs other errors).
 */
import { type Address, getAddress, type Hex } from "viem";
import { errorMessage, LpError } from "../errors/LpError.js";
import type { RecipientRandSource } from "./recipientRand.js";
import type { SigVerifier } from "./sig.js";
import { isWinningTicket, recipientRandHashOf, ticketHashBytes } from "./ticket.js";
import type { Ticket } from "./types.js";

/** go-livepeer's maxSenderNonces: distinct nonces accepted per recipientRand. */
export const MAX_SENDER_NONCES = 600;
/** The TicketBroker's ticketValidityPeriod on the deployed networks and the devnet, in rounds. */
export const DEFAULT_TICKET_VALIDITY_PERIOD = 2n;

/** Stable codes of ticket refusals. */
export type TicketValidationCode =
  | "TICKET_SENDER_VALIDATION"
  | "TICKET_RECIPIENT"
  | "TICKET_SENDER"
  | "TICKET_RECIPIENT_RAND"
  | "TICKET_SIGNATURE"
  | "TICKET_NONCE_SEEN"
  | "TICKET_NONCE_LIMIT"
  | "TICKET_PARAMS_EXPIRED"
  | "TICKET_CREATION_ROUND";

/** The exact go-livepeer texts of the fixed refusals. */
export const TICKET_ERROR_TEXT = {
  TICKET_RECIPIENT: "invalid ticket recipient",
  TICKET_SENDER: "invalid ticket sender",
  TICKET_RECIPIENT_RAND: "invalid recipientRand for ticket recipientRandHash",
  TICKET_SIGNATURE: "invalid ticket signature",
  TICKET_PARAMS_EXPIRED: "TicketParams expired",
  TICKET_CREATION_ROUND: "invalid ticket creation round",
} as const;

const FATAL: ReadonlySet<TicketValidationCode> = new Set([
  "TICKET_SENDER_VALIDATION",
  "TICKET_RECIPIENT",
  "TICKET_SENDER",
  "TICKET_RECIPIENT_RAND",
]);

/** A refused ticket. `fatal`: drop the whole payment (Go's FatalReceiveErr); otherwise stop crediting from here. */
export class TicketValidationError extends LpError {
  declare readonly code: TicketValidationCode;
  readonly fatal: boolean;

  constructor(code: TicketValidationCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
    this.fatal = FATAL.has(code);
  }
}

function fixed(code: keyof typeof TICKET_ERROR_TEXT): TicketValidationError {
  return new TicketValidationError(code, TICKET_ERROR_TEXT[code]);
}

/** Go's Address.Hex() in texts; a malformed address is printed as it came. */
function checksummed(addr: string): string {
  try {
    return getAddress(addr);
  } catch {
    return String(addr);
  }
}

const ADDRESS_RE = /^0x[0-9a-fA-F]{40}$/;
const ZERO_ADDRESS_RE = /^0x0{40}$/;

/**
 * Nonces seen per recipientRand (go-livepeer's senderNonces map): a nonce is refused the second
 * time, and a recipientRand takes at most 600 of them. Entries go when an L1 block reaches the
 * params' expiration block, after which every ticket of those params is refused as expired anyway.
 * In memory, as in go-livepeer: a restart changes the HMAC secret, so no old ticket passes after it.
 */
export class SenderNonceTracker {
  readonly #max: number;
  readonly #byRand = new Map<bigint, { nonces: Set<number>; expirationBlock: bigint }>();

  /** `maxNonces` defaults to go-livepeer's 600. */
  constructor(options: { maxNonces?: number } = {}) {
    this.#max = options.maxNonces ?? MAX_SENDER_NONCES;
  }

  /**
   * Record `nonce` for `rand`, or say why not ("invalid ticket senderNonce: already seen ..." /
   * "... too many values ..."); a refused nonce is not recorded.
   */
  record(
    rand: bigint,
    sender: Address,
    nonce: number,
    expirationBlock: bigint,
  ): TicketValidationError | null {
    let entry = this.#byRand.get(rand);
    if (entry?.nonces.has(nonce)) {
      return new TicketValidationError(
        "TICKET_NONCE_SEEN",
        `invalid ticket senderNonce: already seen sender=${checksummed(sender)} nonce=${nonce}`,
      );
    }
    if (!entry) {
      entry = { nonces: new Set(), expirationBlock };
      this.#byRand.set(rand, entry);
    }
    if (entry.nonces.size >= this.#max) {
      return new TicketValidationError(
        "TICKET_NONCE_LIMIT",
        `invalid ticket senderNonce: too many values sender=${checksummed(sender)} nonce=${nonce}`,
      );
    }
    entry.nonces.add(nonce);
    return null;
  }

  /** Forget the recipientRands whose params expired at or before this L1 block; returns how many went. */
  onL1Block(latest: bigint): number {
    let removed = 0;
    for (const [rand, entry] of this.#byRand) {
      if (entry.expirationBlock <= latest) {
        this.#byRand.delete(rand);
        removed++;
      }
    }
    return removed;
  }

  /** recipientRands tracked now. */
  get size(): number {
    return this.#byRand.size;
  }

  /** Nonces recorded for one recipientRand. */
  count(rand: bigint): number {
    return this.#byRand.get(rand)?.nonces.size ?? 0;
  }
}

/**
 * The four static checks of pm/validator.go ValidateTicket, in order: recipient, sender non-zero,
 * keccak(uint256(rand)) == recipientRandHash, signature. Returns the refusal or null.
 * `recipientRand` null means it could not be computed (malformed fields) and fails the rand check.
 */
export function validateTicket(
  recipient: Address,
  ticket: Ticket,
  sig: Uint8Array | Hex,
  recipientRand: bigint | null,
  verifier: Pick<SigVerifier, "verify">,
): TicketValidationError | null {
  if (
    typeof ticket.recipient !== "string" ||
    !ADDRESS_RE.test(ticket.recipient) ||
    ticket.recipient.toLowerCase() !== recipient.toLowerCase()
  ) {
    return fixed("TICKET_RECIPIENT");
  }
  if (typeof ticket.sender !== "string" || ZERO_ADDRESS_RE.test(ticket.sender)) return fixed("TICKET_SENDER");
  if (
    recipientRand === null ||
    typeof ticket.recipientRandHash !== "string" ||
    recipientRandHashOf(recipientRand) !== ticket.recipientRandHash.toLowerCase()
  ) {
    return fixed("TICKET_RECIPIENT_RAND");
  }
  let hash: Uint8Array;
  try {
    hash = ticketHashBytes(ticket);
  } catch {
    return fixed("TICKET_SIGNATURE");
  }
  if (!verifier.verify(ticket.sender, hash, sig)) return fixed("TICKET_SIGNATURE");
  return null;
}

/** What became of one received ticket (Go's ReceiveTicket return values, plus the rand for redemption). */
export interface ReceivedTicket {
  /** Whether it won; a winner is queued for redemption even when `error` is a non-fatal one. */
  won: boolean;
  /** recipientRandHash as lowercase hex when it won (Go's sessionID), null otherwise. */
  sessionID: Hex | null;
  /** The revealed recipientRand, null when the ticket failed before it was known to be ours. */
  recipientRand: bigint | null;
  error: TicketValidationError | null;
}

/** Options of {@link TicketValidator}. */
export interface TicketValidatorOptions {
  /** The recipient address tickets must name. */
  recipient: Address;
  /**
   * Refuse (non-fatally) tickets whose creation round the broker would call expired, judged against
   * the last initialised round. go-livepeer declares this error but never checks it; the HMAC binds
   * the round to the params we issued, so it only fires for params kept past their use. null turns
   * it off; default {@link DEFAULT_TICKET_VALIDITY_PERIOD}.
   */
  ticketValidityPeriod?: bigint | null;
}

/** Collaborators of {@link TicketValidator}. */
export interface TicketValidatorDeps {
  verifier: Pick<SigVerifier, "verify">;
  rand: RecipientRandSource;
  /** L1 block and round (the RoundWatcher's state has both fields). */
  clock: { readonly state: { readonly lastSeenL1Block: bigint; readonly lastInitializedRound: bigint } };
  nonces: SenderNonceTracker;
  /** The sender monitor's "unlocking soon" check (SenderMonitor.ValidateSender); null skips it. */
  senders?: { validateSender(sender: Address): void | Promise<void> } | null;
}

/** Validates received tickets for one recipient (the checking half of go-livepeer's pm.recipient). */
export class TicketValidator {
  readonly #recipient: Address;
  readonly #validity: bigint | null;
  readonly #deps: TicketValidatorDeps;

  /** See {@link TicketValidatorOptions}. */
  constructor(options: TicketValidatorOptions, deps: TicketValidatorDeps) {
    this.#recipient = options.recipient;
    this.#validity =
      options.ticketValidityPeriod === undefined
        ? DEFAULT_TICKET_VALIDITY_PERIOD
        : options.ticketValidityPeriod;
    this.#deps = deps;
  }

  /** recipientRand for a ticket and the seed it came with, or null if its fields cannot be encoded. */
  recipientRand(ticket: Ticket, seed: bigint): bigint | null {
    try {
      return this.#deps.rand.rand({
        seed,
        sender: ticket.sender,
        faceValue: ticket.faceValue,
        winProb: ticket.winProb,
        expirationBlock: ticket.paramsExpirationBlock,
        pricePerPixel: ticket.pricePerPixel,
        expirationParams: ticket,
      });
    } catch {
      return null;
    }
  }

  /**
   * Check one ticket of a payment (ReceiveTicket). Never throws: refusals, and errors of the sender
   * check, come back in `error`.
   */
  async receiveTicket(ticket: Ticket, sig: Uint8Array | Hex, seed: bigint): Promise<ReceivedTicket> {
    const recipientRand = this.recipientRand(ticket, seed);
    const refuse = (
      error: TicketValidationError,
      won = false,
      sessionID: Hex | null = null,
    ): ReceivedTicket => ({
      won,
      sessionID,
      recipientRand: error.fatal || error.code === "TICKET_SIGNATURE" ? null : recipientRand,
      error,
    });

    if (this.#deps.senders) {
      try {
        await this.#deps.senders.validateSender(ticket.sender);
      } catch (err) {
        return refuse(
          new TicketValidationError("TICKET_SENDER_VALIDATION", errorMessage(err), { cause: err }),
        );
      }
    }

    const invalid = validateTicket(this.#recipient, ticket, sig, recipientRand, this.#deps.verifier);
    if (invalid) return refuse(invalid);
    // validateTicket passed, so the rand is known.
    const rand = recipientRand as bigint;

    const won = isWinningTicket(sig, rand, ticket.winProb);
    const sessionID = won ? (ticket.recipientRandHash.toLowerCase() as Hex) : null;

    const replay = this.#deps.nonces.record(
      rand,
      ticket.sender,
      ticket.senderNonce,
      ticket.paramsExpirationBlock,
    );
    if (replay) return refuse(replay, won, sessionID);

    const { lastSeenL1Block, lastInitializedRound } = this.#deps.clock.state;
    if (ticket.paramsExpirationBlock <= lastSeenL1Block)
      return refuse(fixed("TICKET_PARAMS_EXPIRED"), won, sessionID);

    if (
      this.#validity !== null &&
      (ticket.creationRound + this.#validity <= lastInitializedRound ||
        ticket.creationRound > lastInitializedRound)
    ) {
      return refuse(fixed("TICKET_CREATION_ROUND"), won, sessionID);
    }

    return { won, sessionID, recipientRand: rand, error: null };
  }
}
