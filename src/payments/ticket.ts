/**
 * The ticket itself: auxData, the packed hash preimage, the keccak hash that is signed, EV, the
 * winning check and the tuple the TicketBroker's redeemWinningTicket takes. Mirrors go-livepeer's
 * pm/ticket.go and pm/validator.go; the byte layout is the contract's abi.encodePacked.
 */

import { type Address, bytesToHex, type Hex, hexToBytes } from "viem";
import { LpError } from "../errors/LpError.js";
import { keccak256Bytes as keccak_256 } from "./keccak.js";
import { Rat } from "./rat.js";
import type {
  SignedTicket,
  Ticket,
  TicketBatch,
  TicketExpirationParams,
  TicketParams,
  TicketSenderParams,
} from "./types.js";

/** 2^256 − 1: winProb is a numerator over this (go-livepeer's maxWinProb). */
export const MAX_WIN_PROB = (1n << 256n) - 1n;
const MAX_UINT32 = 0xffffffff;
const EMPTY = new Uint8Array(0);

/** A ticket field that cannot be encoded (an address that is not 20 bytes, a value over uint256...). */
export class TicketEncodingError extends LpError {
  constructor(message: string) {
    super("TICKET_ENCODING", message);
  }
}

/** 0x-hex of exactly `size` bytes to bytes; a TicketEncodingError names the field otherwise. */
export function fixedBytes(value: Hex | Uint8Array, size: number, field: string): Uint8Array {
  if (value instanceof Uint8Array) {
    if (value.length !== size) throw new TicketEncodingError(`${field} must be ${size} bytes`);
    return value;
  }
  if (typeof value !== "string" || value.length !== 2 + size * 2 || !/^0x[0-9a-fA-F]*$/.test(value)) {
    throw new TicketEncodingError(`${field} must be ${size} bytes of 0x-hex`);
  }
  // Buffer's native hex decoder: several times faster than a JS loop on the ticket hot path.
  return Buffer.from(value.slice(2), "hex");
}

/** Write `value` as a 32-byte big-endian word at `offset` (Go's LeftPadBytes(x.Bytes(), 32)). */
export function writeUint256(buf: Uint8Array, offset: number, value: bigint, field: string): void {
  if (typeof value !== "bigint" || value < 0n || value > MAX_WIN_PROB) {
    throw new TicketEncodingError(`${field} must be a uint256`);
  }
  const hex = value.toString(16);
  const word = Buffer.from(hex.length % 2 === 0 ? hex : `0${hex}`, "hex");
  buf.fill(0, offset, offset + 32 - word.length);
  buf.set(word, offset + 32 - word.length);
}

/** A uint256 as 32 big-endian bytes. */
export function uint256Bytes(value: bigint, field = "value"): Uint8Array {
  const out = new Uint8Array(32);
  writeUint256(out, 0, value, field);
  return out;
}

/** Minimal big-endian bytes of |value| (Go's big.Int.Bytes(): 0 is the empty slice). */
export function minimalBytes(value: bigint): Uint8Array {
  const v = value < 0n ? -value : value;
  if (v === 0n) return EMPTY;
  let hex = v.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  return hexToBytes(`0x${hex}`);
}

/** Bytes read as an unsigned big-endian integer (Go's new(big.Int).SetBytes). */
export function bytesToBigint(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt(bytesToHex(bytes));
}

function isZero(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b !== 0) return false;
  return true;
}

/**
 * creationRound (uint256) ‖ creationRoundBlockHash (bytes32), 64 bytes, as the TicketBroker reads
 * it. go-livepeer returns an empty slice when both are zero; we keep that quirk because the
 * signature covers the hash of whatever auxData the sender used, so a Go sender's ticket made with
 * round 0 and a zero hash only verifies with the 168-byte preimage. Such a ticket can never be
 * redeemed on chain ("invalid length for ticket auxData"), see {@link hasRedeemableAuxData}.
 */
export function auxData(params: TicketExpirationParams): Uint8Array {
  const hash = fixedBytes(params.creationRoundBlockHash, 32, "creationRoundBlockHash");
  if (params.creationRound === 0n && isZero(hash)) return EMPTY;
  const out = new Uint8Array(64);
  writeUint256(out, 0, params.creationRound, "creationRound");
  out.set(hash, 32);
  return out;
}

/** Whether the TicketBroker can accept this ticket's auxData (it requires 64 bytes). */
export function hasRedeemableAuxData(params: TicketExpirationParams): boolean {
  return auxData(params).length === 64;
}

/** The fields that are hashed; paramsExpirationBlock and pricePerPixel are not. */
export type HashedTicketFields = Pick<
  Ticket,
  | "recipient"
  | "sender"
  | "faceValue"
  | "winProb"
  | "senderNonce"
  | "recipientRandHash"
  | "creationRound"
  | "creationRoundBlockHash"
>;

/**
 * The packed preimage: recipient(20) ‖ sender(20) ‖ faceValue(32) ‖ winProb(32) ‖ senderNonce(32) ‖
 * recipientRandHash(32) ‖ auxData(64 or 0): 232 bytes, or 168 with the empty-auxData quirk.
 */
export function ticketPreimage(ticket: HashedTicketFields): Uint8Array {
  const aux = auxData(ticket);
  const buf = new Uint8Array(168 + aux.length);
  buf.set(fixedBytes(ticket.recipient, 20, "recipient"), 0);
  buf.set(fixedBytes(ticket.sender, 20, "sender"), 20);
  writeUint256(buf, 40, ticket.faceValue, "faceValue");
  writeUint256(buf, 72, ticket.winProb, "winProb");
  const nonce = ticket.senderNonce;
  if (!Number.isInteger(nonce) || nonce < 0 || nonce > MAX_UINT32) {
    throw new TicketEncodingError("senderNonce must be a uint32");
  }
  writeUint256(buf, 104, BigInt(nonce), "senderNonce");
  buf.set(fixedBytes(ticket.recipientRandHash, 32, "recipientRandHash"), 136);
  buf.set(aux, 168);
  return buf;
}

/** keccak256 of the preimage as bytes: what the sender personal-signs and the broker's usedTickets key. */
export function ticketHashBytes(ticket: HashedTicketFields): Uint8Array {
  return keccak_256(ticketPreimage(ticket));
}

/** keccak256 of the preimage as 0x-hex (Ticket.Hash, TicketBroker.getTicketHash). */
export function ticketHash(ticket: HashedTicketFields): Hex {
  return bytesToHex(ticketHashBytes(ticket));
}

/** winProb / (2^256 − 1) as an exact fraction (pm.winProbRat). */
export function winProbRat(winProb: bigint): Rat {
  return Rat.of(winProb, MAX_WIN_PROB);
}

/** faceValue × winProb / (2^256 − 1): what one ticket is worth (pm.ticketEV). */
export function ticketEV(faceValue: bigint, winProb: bigint): Rat {
  return Rat.of(faceValue * winProb, MAX_WIN_PROB);
}

/** keccak256(sig ‖ uint256(recipientRand)) < winProb: the win test the broker repeats on chain. */
export function isWinningTicket(sig: Uint8Array | Hex, recipientRand: bigint, winProb: bigint): boolean {
  const s = typeof sig === "string" ? hexToBytes(sig) : sig;
  const buf = new Uint8Array(s.length + 32);
  buf.set(s, 0);
  writeUint256(buf, s.length, recipientRand, "recipientRand");
  return bytesToBigint(keccak_256(buf)) < winProb;
}

/** keccak256(uint256(recipientRand)): the recipient's commitment carried in every ticket. */
export function recipientRandHashOf(recipientRand: bigint): Hex {
  return bytesToHex(keccak_256(uint256Bytes(recipientRand, "recipientRand")));
}

/** A ticket from the recipient's params, the round it is made in, the sender and its nonce (pm.NewTicket). */
export function newTicket(
  params: TicketParams,
  expirationParams: TicketExpirationParams,
  sender: Address,
  senderNonce: number,
): Ticket {
  return {
    recipient: params.recipient,
    sender,
    faceValue: params.faceValue,
    winProb: params.winProb,
    senderNonce,
    recipientRandHash: params.recipientRandHash,
    creationRound: expirationParams.creationRound,
    creationRoundBlockHash: expirationParams.creationRoundBlockHash,
    paramsExpirationBlock: params.expirationBlock,
    pricePerPixel: params.pricePerPixel,
  };
}

/** One ticket of a batch with the signature the sender sent for it. */
export interface BatchTicket {
  ticket: Ticket;
  sig: Hex;
}

/**
 * Expand a batch into one ticket per senderParams entry, in order (TicketBatch.Tickets). Unlike Go's
 * Tickets(), each ticket also carries the params' expiration block and price, as pm.NewTicket sets
 * them, because the recipient's HMAC needs both.
 */
export function batchTickets(batch: TicketBatch): BatchTicket[] {
  return batch.senderParams.map((sp: TicketSenderParams) => ({
    ticket: newTicket(batch.params, batch.expirationParams, batch.sender, sp.senderNonce),
    sig: sp.sig,
  }));
}

/** The `_ticket` tuple of TicketBroker.redeemWinningTicket, in the shape viem encodes. */
export interface ContractTicket {
  recipient: Address;
  sender: Address;
  faceValue: bigint;
  winProb: bigint;
  senderNonce: bigint;
  recipientRandHash: Hex;
  auxData: Hex;
}

/** The ticket as the contract's struct (client_ticketbroker.go RedeemWinningTicket): nonce widened, auxData packed. */
export function toContractTicket(ticket: HashedTicketFields): ContractTicket {
  return {
    recipient: ticket.recipient,
    sender: ticket.sender,
    faceValue: ticket.faceValue,
    winProb: ticket.winProb,
    senderNonce: BigInt(ticket.senderNonce),
    recipientRandHash: ticket.recipientRandHash,
    auxData: bytesToHex(auxData(ticket)),
  };
}

/** The three arguments of redeemWinningTicket(_ticket, _sig, _recipientRand) for a signed ticket. */
export function redeemWinningTicketArgs(ticket: SignedTicket): readonly [ContractTicket, Hex, bigint] {
  return [toContractTicket(ticket), ticket.sig, ticket.recipientRand] as const;
}
