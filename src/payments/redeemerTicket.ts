/**
 * The winning ticket as an orchestrator hands it to a redeemer (net.Ticket of redeemer.proto;
 * go-livepeer server/redeemer.go protoTicket and pmTicket), both ways. Reading is strict: the
 * redeemer's port takes bytes from the network, so every field must have its exact size before
 * anything is stored.
 */
import { create } from "@bufbuild/protobuf";
import { type Address, bytesToHex, getAddress, type Hex, hexToBytes } from "viem";
import { LpError } from "../errors/LpError.js";
import {
  TicketExpirationParamsSchema,
  TicketParamsSchema,
  TicketSenderParamsSchema,
} from "../protocol/gen/lp_rpc_pb.js";
import { TicketSchema, type Ticket as WireTicket } from "../protocol/gen/redeemer_pb.js";
import type { SigVerifier } from "./sig.js";
import {
  bytesToBigint,
  isWinningTicket,
  minimalBytes,
  recipientRandHashOf,
  ticketHashBytes,
} from "./ticket.js";
import type { SignedTicket } from "./types.js";

/** Why a net.Ticket was refused: malformed (INVALID_TICKET) or for another recipient (WRONG_RECIPIENT). */
export class RedeemerTicketError extends LpError {
  declare readonly code: "INVALID_TICKET" | "WRONG_RECIPIENT";
}

/** A signed ticket with its revealed recipientRand as net.Ticket (protoTicket: no seed, no nested expiration params). */
export function toWireTicket(t: SignedTicket): WireTicket {
  return create(TicketSchema, {
    ticketParams: create(TicketParamsSchema, {
      recipient: hexToBytes(t.recipient),
      faceValue: minimalBytes(t.faceValue),
      winProb: minimalBytes(t.winProb),
      recipientRandHash: hexToBytes(t.recipientRandHash),
      expirationBlock: minimalBytes(t.paramsExpirationBlock),
    }),
    sender: hexToBytes(t.sender),
    expirationParams: create(TicketExpirationParamsSchema, {
      creationRound: t.creationRound,
      creationRoundBlockHash: hexToBytes(t.creationRoundBlockHash),
    }),
    senderParams: create(TicketSenderParamsSchema, { senderNonce: t.senderNonce, sig: hexToBytes(t.sig) }),
    recipientRand: minimalBytes(t.recipientRand),
  });
}

const invalid = (message: string) => new RedeemerTicketError("INVALID_TICKET", `invalid ticket: ${message}`);

function exact(bytes: Uint8Array, size: number, field: string): Uint8Array {
  if (bytes.length !== size) throw invalid(`${field} must be ${size} bytes, got ${bytes.length}`);
  return bytes;
}

function uint256(bytes: Uint8Array, field: string): bigint {
  if (bytes.length > 32) throw invalid(`${field} is longer than 32 bytes`);
  return bytesToBigint(bytes);
}

const isZero = (b: Uint8Array) => b.every((x) => x === 0);

/**
 * Reads a net.Ticket for `recipient`: the recipient first (go-livepeer's PermissionDenied text,
 * "invalid ticket recipient 0x<hex>, expected <EIP-55>"), then every size, the sender's signature
 * over the ticket hash, recipientRand against its hash, and that the ticket wins. Anything off
 * throws RedeemerTicketError; nothing is stored for it.
 */
export function fromWireTicket(wire: WireTicket, recipient: Address, verifier: SigVerifier): SignedTicket {
  const tp = wire.ticketParams;
  if (!tp) throw invalid("no ticket_params");
  const recipientBytes = exact(tp.recipient, 20, "recipient");
  const got = getAddress(bytesToHex(recipientBytes));
  if (got !== getAddress(recipient)) {
    throw new RedeemerTicketError(
      "WRONG_RECIPIENT",
      `invalid ticket recipient ${got.toLowerCase()}, expected ${getAddress(recipient)}`,
    );
  }
  const sender = exact(wire.sender, 20, "sender");
  if (isZero(sender)) throw invalid("sender is the zero address");
  const ep = wire.expirationParams;
  if (!ep) throw invalid("no expiration_params");
  const sp = wire.senderParams;
  if (!sp) throw invalid("no sender_params");
  const sig = exact(sp.sig, 65, "sig");
  const ticket: SignedTicket = {
    recipient: got,
    sender: getAddress(bytesToHex(sender)),
    faceValue: uint256(tp.faceValue, "face_value"),
    winProb: uint256(tp.winProb, "win_prob"),
    senderNonce: sp.senderNonce,
    recipientRandHash: bytesToHex(exact(tp.recipientRandHash, 32, "recipient_rand_hash")) as Hex,
    creationRound: ep.creationRound,
    creationRoundBlockHash: bytesToHex(
      exact(ep.creationRoundBlockHash, 32, "creation_round_block_hash"),
    ) as Hex,
    paramsExpirationBlock: uint256(tp.expirationBlock, "expiration_block"),
    // Not carried (go-livepeer's pmTicket leaves it nil): the price is not hashed nor sent on chain.
    pricePerPixel: { num: 0n, den: 1n },
    sig: bytesToHex(sig),
    recipientRand: uint256(wire.recipientRand, "recipient_rand"),
  };
  if (ticket.faceValue === 0n) throw invalid("face_value is 0");
  if (ticket.creationRound < 0n) throw invalid("creation_round is negative");
  if (!verifier.verify(ticket.sender, ticketHashBytes(ticket), sig)) {
    throw invalid("invalid ticket signature");
  }
  if (recipientRandHashOf(ticket.recipientRand).toLowerCase() !== ticket.recipientRandHash.toLowerCase()) {
    throw invalid("invalid recipientRand for ticket recipientRandHash");
  }
  if (!isWinningTicket(sig, ticket.recipientRand, ticket.winProb)) throw invalid("ticket did not win");
  return ticket;
}
