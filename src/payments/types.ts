/**
 * The probabilistic-micropayment model every payments module shares (go-livepeer pm/ticket.go).
 * Amounts are bigints in wei; addresses and hashes are 0x-hex strings (viem's Address and Hex).
 */
import type { Address, Hex } from "viem";

/** An exact non-negative-denominator fraction (go's *big.Rat), kept normalised by src/payments/rat.ts. */
export interface RatValue {
  readonly num: bigint;
  readonly den: bigint;
}

/** The round a ticket was made in and that round's block hash (auxData). */
export interface TicketExpirationParams {
  creationRound: bigint;
  creationRoundBlockHash: Hex;
}

/** One ticket (pm.Ticket). `paramsExpirationBlock` and `pricePerPixel` are not hashed nor sent on chain. */
export interface Ticket extends TicketExpirationParams {
  recipient: Address;
  sender: Address;
  faceValue: bigint;
  /** Winning probability as a numerator over 2^256 - 1. */
  winProb: bigint;
  /** uint32. */
  senderNonce: number;
  recipientRandHash: Hex;
  paramsExpirationBlock: bigint;
  pricePerPixel: RatValue;
}

/** A ticket with the sender's signature and, once the recipient checked it, its recipientRand. */
export interface SignedTicket extends Ticket {
  /** 65 bytes r||s||v, v in {27, 28}. */
  sig: Hex;
  recipientRand: bigint;
}

/** What a recipient advertises to a sender (pm.TicketParams). */
export interface TicketParams {
  recipient: Address;
  faceValue: bigint;
  winProb: bigint;
  recipientRandHash: Hex;
  seed: bigint;
  expirationBlock: bigint;
  pricePerPixel: RatValue;
  expirationParams: TicketExpirationParams;
}

/** Per-ticket sender values in a batch (pm.TicketSenderParams). */
export interface TicketSenderParams {
  senderNonce: number;
  sig: Hex;
}

/** A batch of tickets sharing params (pm.TicketBatch): one Ticket per senderParams entry. */
export interface TicketBatch {
  params: TicketParams;
  expirationParams: TicketExpirationParams;
  sender: Address;
  senderParams: TicketSenderParams[];
}
