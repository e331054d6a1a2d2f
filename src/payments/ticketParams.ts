/**
 * The recipient's ticket parameters (go-livepeer's pm/recipient.go TicketParams, faceValue, winProb,
 * TxCostMultiplier): a faceValue large enough that redeeming a winner is worth its gas, capped by
 * what the sender's reserve can cover, and the winProb that makes each ticket worth the configured EV.
 */
import type { Address, Hex } from "viem";
import { LpError } from "../errors/LpError.js";
import { Rat } from "./rat.js";
import type { RecipientRandSource } from "./recipientRand.js";
import { MAX_WIN_PROB, recipientRandHashOf } from "./ticket.js";
import type { RatValue, TicketExpirationParams, TicketParams } from "./types.js";

/** `-ticketEV` default: 8 gwei. */
export const DEFAULT_TICKET_EV = 8_000_000_000n;
/** Gas one redeemWinningTicket costs on Arbitrum One (go-livepeer's redeemGasL2). */
export const REDEEM_GAS_L2 = 1_200_000n;
/** Gas on L1 networks and on every other network name, devnets included (redeemGasL1). */
export const REDEEM_GAS_L1 = 350_000n;
/** faceValue = txCost × this by default (txCostMultiplier). */
export const TX_COST_MULTIPLIER = 100n;
/** When txCost × multiplier is below EV, faceValue = EV × this (evMultiplier). */
export const EV_MULTIPLIER = 100n;
/** A second tx-cost yardstick at 3 gwei (go-livepeer hard-codes it as the "average" gas price). */
export const AVG_GAS_PRICE = 3_000_000_000n;
/** Params stay valid for this many L1 blocks after they are issued (paramsExpirationBlock). */
export const PARAMS_EXPIRATION_BLOCKS = 40n;

const ZERO_HASH: Hex = `0x${"0".repeat(64)}`;

/** Redeem gas for a network name, as go-livepeer's starter picks it. */
export function redeemGasForNetwork(network: string): bigint {
  return network === "arbitrum-one-mainnet" || network === "arbitrum-one-rinkeby"
    ? REDEEM_GAS_L2
    : REDEEM_GAS_L1;
}

/** A recipient that cannot issue params to a sender. */
export class TicketParamsError extends LpError {
  constructor(code: "INSUFFICIENT_SENDER_RESERVE" | "TICKET_PARAMS_CONFIG", message: string) {
    super(code, message);
  }
}

/** Configuration of the recipient's params (pm.TicketParamsConfig plus -maxFaceValue). */
export interface TicketParamsConfig {
  /** The recipient's address (the node's, or -ethOrchAddr). */
  recipient: Address;
  /** Expected value of one ticket in wei (-ticketEV), >= 0. */
  ev: bigint;
  /** Gas one redemption costs ({@link redeemGasForNetwork}). */
  redeemGas: bigint;
  /** faceValue = txCost × this (default {@link TX_COST_MULTIPLIER}). */
  txCostMultiplier?: bigint;
  /** -maxFaceValue: 0 means no cap. */
  maxFaceValue?: bigint;
}

/** The round state params are made from (go-livepeer's TimeManager; the RoundWatcher's state has these fields). */
export interface TicketParamsClock {
  readonly state: {
    readonly lastSeenL1Block: bigint;
    readonly lastInitializedRound: bigint;
    readonly lastInitializedBlockHash: Hex;
    readonly preLastInitializedBlockHash: Hex;
  };
}

/** Collaborators of {@link TicketParamsMaker}. */
export interface TicketParamsDeps {
  clock: TicketParamsClock;
  /** The current gas price in wei, or null when none is known yet (counted as 0, as Go does). */
  gasPrice: () => bigint | null;
  /** The sender monitor's max float for a sender; its errors propagate (Go's MaxFloat). */
  maxFloat: (sender: Address) => bigint | Promise<bigint>;
  rand: RecipientRandSource;
}

/** Inputs of {@link selectFaceValue}. */
export interface FaceValueInput {
  ev: bigint;
  redeemGas: bigint;
  txCostMultiplier: bigint;
  gasPrice: bigint;
  maxFloat: bigint;
  /** 0 means no cap. */
  maxFaceValue: bigint;
}

/** redeemGas × gasPrice. */
export function txCost(redeemGas: bigint, gasPrice: bigint): bigint {
  return redeemGas * gasPrice;
}

function insufficientReserve(): TicketParamsError {
  return new TicketParamsError("INSUFFICIENT_SENDER_RESERVE", "insufficient sender reserve");
}

/**
 * faceValue for a sender (recipient.faceValue): txCost × multiplier, at least EV × 100, at most the
 * sender's max float and -maxFaceValue. Throws "insufficient sender reserve" when that leaves less
 * than EV, or less than both the current tx cost and the tx cost at 3 gwei.
 */
export function selectFaceValue(input: FaceValueInput): bigint {
  const cost = txCost(input.redeemGas, input.gasPrice);
  let fv = cost * input.txCostMultiplier;
  if (fv < input.ev) fv = input.ev * EV_MULTIPLIER;
  if (fv > input.maxFloat) fv = input.maxFloat;
  if (input.maxFaceValue > 0n && input.maxFaceValue < fv) fv = input.maxFaceValue;
  if (fv < input.ev) throw insufficientReserve();
  if (fv < cost && fv < txCost(input.redeemGas, AVG_GAS_PRICE)) throw insufficientReserve();
  return fv;
}

/**
 * winProb for a faceValue so that faceValue × winProb / (2^256−1) is EV, rounded up (recipient.winProb):
 * 0 for faceValue 0, 2^256−1 when faceValue equals EV, else EV × ceil((2^256−1) / faceValue).
 * go-livepeer tests the remainder's low 64 bits only (m.Int64()); we test the whole remainder, so
 * for faceValues over 2^64 wei our EV never falls below the configured one where Go's could.
 */
export function selectWinProb(faceValue: bigint, ev: bigint): bigint {
  if (faceValue === 0n) return 0n;
  if (faceValue === ev) return MAX_WIN_PROB;
  const x = MAX_WIN_PROB / faceValue;
  return MAX_WIN_PROB % faceValue !== 0n ? ev * (x + 1n) : ev * x;
}

/**
 * The round and block hash tickets are created in (ticketExpirationsParams): the last initialised
 * round, or the one before it when that round's hash is zero (seen on Arbitrum).
 */
export function ticketExpirationParams(clock: TicketParamsClock): TicketExpirationParams {
  const s = clock.state;
  if (s.lastInitializedBlockHash.toLowerCase() === ZERO_HASH) {
    return {
      creationRound: s.lastInitializedRound - 1n,
      creationRoundBlockHash: s.preLastInitializedBlockHash,
    };
  }
  return { creationRound: s.lastInitializedRound, creationRoundBlockHash: s.lastInitializedBlockHash };
}

/** Makes TicketParams for senders (the recipient side of OrchestratorInfo.ticket_params). */
export class TicketParamsMaker {
  readonly #cfg: Required<TicketParamsConfig>;
  readonly #deps: TicketParamsDeps;

  /** Checks the configuration once: EV and redeem gas >= 0, multiplier and cap >= 0. */
  constructor(config: TicketParamsConfig, deps: TicketParamsDeps) {
    const cfg = { txCostMultiplier: TX_COST_MULTIPLIER, maxFaceValue: 0n, ...config };
    if (cfg.ev < 0n) throw new TicketParamsError("TICKET_PARAMS_CONFIG", "ticket EV must be >= 0");
    if (cfg.redeemGas < 0n || cfg.txCostMultiplier < 0n || cfg.maxFaceValue < 0n) {
      throw new TicketParamsError(
        "TICKET_PARAMS_CONFIG",
        "redeem gas, tx cost multiplier and max face value must be >= 0",
      );
    }
    this.#cfg = cfg;
    this.#deps = deps;
  }

  /** The recipient's address. */
  get recipient(): Address {
    return this.#cfg.recipient;
  }

  /** The configured EV as a rational (Recipient.EV): the minimum balance a paid session keeps. */
  ev(): Rat {
    return Rat.of(this.#cfg.ev, 1n);
  }

  /** Change -maxFaceValue at run time (the CLI's /setMaxFaceValue); 0 removes the cap. */
  setMaxFaceValue(maxFaceValue: bigint): void {
    if (maxFaceValue < 0n) throw new TicketParamsError("TICKET_PARAMS_CONFIG", "max face value must be >= 0");
    this.#cfg.maxFaceValue = maxFaceValue;
  }

  #gasPrice(): bigint {
    return this.#deps.gasPrice() ?? 0n;
  }

  /** faceValue for this sender now (throws "insufficient sender reserve", or the max float's error). */
  async faceValue(sender: Address): Promise<bigint> {
    const maxFloat = await this.#deps.maxFloat(sender);
    return selectFaceValue({
      ev: this.#cfg.ev,
      redeemGas: this.#cfg.redeemGas,
      txCostMultiplier: this.#cfg.txCostMultiplier,
      gasPrice: this.#gasPrice(),
      maxFloat,
      maxFaceValue: this.#cfg.maxFaceValue,
    });
  }

  /**
   * faceValue / txCost as a rational (Recipient.TxCostMultiplier), 0/1 when the tx cost is 0; the
   * orchestrator's auto-adjusted price adds 1/this on top of the base price.
   */
  async txCostMultiplier(sender: Address): Promise<Rat> {
    const fv = await this.faceValue(sender);
    const cost = txCost(this.#cfg.redeemGas, this.#gasPrice());
    return cost <= 0n ? Rat.ZERO : Rat.of(fv, cost);
  }

  /**
   * New params for a sender at a price per pixel: a fresh seed, faceValue 0 when the price is not
   * positive (nothing to pay), expiration 40 L1 blocks on, and the HMAC commitment over it all.
   */
  async ticketParams(sender: Address, price: RatValue): Promise<TicketParams> {
    const pricePerPixel = Rat.from(price);
    const faceValue = pricePerPixel.num > 0n ? await this.faceValue(sender) : 0n;
    const winProb = selectWinProb(faceValue, this.#cfg.ev);
    const expirationBlock = this.#deps.clock.state.lastSeenL1Block + PARAMS_EXPIRATION_BLOCKS;
    const expirationParams = ticketExpirationParams(this.#deps.clock);
    const seed = this.#deps.rand.newSeed();
    const rand = this.#deps.rand.rand({
      seed,
      sender,
      faceValue,
      winProb,
      expirationBlock,
      pricePerPixel,
      expirationParams,
    });
    return {
      recipient: this.#cfg.recipient,
      faceValue,
      winProb,
      recipientRandHash: recipientRandHashOf(rand),
      seed,
      expirationBlock,
      pricePerPixel,
      expirationParams,
    };
  }
}
