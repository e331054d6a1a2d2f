import type { Address, Hash } from "viem";
import { errorMessage, LpError } from "../errors/LpError.js";
import type { CliRoute } from "../http/cliServer.js";
import { ticketBrokerAbi } from "./abis.js";
import type { ChainClient, SenderInfo } from "./ChainClient.js";
import { toEthError } from "./errors.js";
import type { TxManager } from "./TxManager.js";

/** What the money operations need from the chain layer; the started Chain satisfies it. */
export interface MoneyChain {
  readonly client: ChainClient;
  readonly tx: TxManager;
  readonly signer: { readonly address: Address };
}

/** A money request refused before anything is sent: a bad or zero amount. */
export class MoneyError extends LpError {
  declare readonly code: "MONEY_BAD_AMOUNT";

  constructor(message: string) {
    super("MONEY_BAD_AMOUNT", message);
  }
}

/** The TicketBroker parameters go-livepeer's /ticketBrokerParams shows. */
export interface TicketBrokerParams {
  /** Rounds between unlock() and the first round withdraw() is allowed. */
  unlockPeriod: bigint;
}

/** The result of a funding, unlock or withdraw transaction. */
export interface MoneyTx {
  /** The mined transaction's hash. */
  hash: Hash;
}

const UINT256_MAX = (1n << 256n) - 1n;
const UNITS: Record<string, number> = { "": 0, wei: 0, gwei: 9, eth: 18 };
/** LPT has 18 decimals like ETH; an integer is its base unit. */
const LPT_UNITS: Record<string, number> = { "": 0, wei: 0, lpt: 18 };
/** Long enough for any uint256 with 18 decimals; longer text is refused before any parsing. */
const MAX_AMOUNT_TEXT = 100;

/**
 * Parses an amount of ETH: an integer of wei ("1000000000"), or a decimal with a "gwei" or "eth"
 * suffix ("0.5eth", "10 gwei"), case-insensitive; with `token` "lpt", an amount of LPT: an integer
 * of its base unit, or a decimal with "lpt" ("500LPT"). Refuses anything else, fractions of the
 * base unit, negatives and values above uint256 with a MoneyError naming `name`.
 */
export function parseAmount(text: string, name: string, token: "eth" | "lpt" = "eth"): bigint {
  const shown = JSON.stringify(text.slice(0, 40));
  const units = token === "lpt" ? LPT_UNITS : UNITS;
  const hint =
    token === "lpt"
      ? "give a number with LPT (500LPT), or the base unit (1e-18 LPT) as an integer"
      : "give wei as an integer, or a number with eth or gwei";
  const bad = (why: string) => new MoneyError(`invalid ${name} ${shown}: ${why}; ${hint}`);
  if (text.length > MAX_AMOUNT_TEXT) throw bad("too long");
  const m = /^\s*(\d+)(?:\.(\d+))?\s*([a-zA-Z]*)\s*$/.exec(text);
  if (!m) throw bad("not a decimal amount");
  const unit = m[3]!.toLowerCase();
  // Own keys only: "1constructor" must not find Object.prototype's.
  const decimals = Object.hasOwn(units, unit) ? units[unit] : undefined;
  if (decimals === undefined) throw bad(`unknown unit "${m[3]!.slice(0, 10)}"`);
  const frac = (m[2] ?? "").replace(/0+$/, "");
  if (frac.length > decimals) throw bad(decimals === 0 ? "wei has no fractions" : "finer than one wei");
  const wei = BigInt(m[1]!) * 10n ** BigInt(decimals) + BigInt(frac.padEnd(decimals, "0") || "0");
  if (wei > UINT256_MAX) throw bad("above uint256");
  return wei;
}

function positive(wei: bigint, name: string): bigint {
  if (wei === 0n) throw new MoneyError(`${name} must be greater than 0`);
  return wei;
}

async function send(
  chain: MoneyChain,
  functionName: "fundDepositAndReserve" | "fundDeposit" | "unlock" | "cancelUnlock" | "withdraw",
  args: readonly bigint[],
  value: bigint | undefined,
  signal: AbortSignal | undefined,
): Promise<MoneyTx> {
  try {
    const r = await chain.tx.writeContract({
      address: chain.client.addresses.TicketBroker,
      abi: ticketBrokerAbi,
      functionName,
      args: args as never,
      value,
      signal,
    });
    return { hash: r.hash };
  } catch (err) {
    throw toEthError(err, functionName, ticketBrokerAbi);
  }
}

/**
 * Funds the account's deposit and reserve in one transaction (TicketBroker.fundDepositAndReserve,
 * sent with their sum); refused when both are zero. Mirrors go-livepeer's eth/client_ticketbroker.go.
 */
export async function fundDepositAndReserve(
  chain: MoneyChain,
  deposit: bigint,
  reserve: bigint,
  signal?: AbortSignal,
): Promise<MoneyTx> {
  if (deposit < 0n || reserve < 0n) throw new MoneyError("amounts cannot be negative");
  if (deposit === 0n && reserve === 0n)
    throw new MoneyError("depositAmount and reserveAmount cannot both be 0");
  if (deposit + reserve > UINT256_MAX) throw new MoneyError("depositAmount + reserveAmount is above uint256");
  return send(chain, "fundDepositAndReserve", [deposit, reserve], deposit + reserve, signal);
}

/** Adds to the account's deposit (TicketBroker.fundDeposit); refused when zero. */
export async function fundDeposit(chain: MoneyChain, amount: bigint, signal?: AbortSignal): Promise<MoneyTx> {
  if (amount < 0n) throw new MoneyError("amount cannot be negative");
  return send(chain, "fundDeposit", [], positive(amount, "amount"), signal);
}

/** Starts the unlock period of the deposit and reserve (TicketBroker.unlock). */
export function unlock(chain: MoneyChain, signal?: AbortSignal): Promise<MoneyTx> {
  return send(chain, "unlock", [], undefined, signal);
}

/** Cancels an unlock in progress (TicketBroker.cancelUnlock). */
export function cancelUnlock(chain: MoneyChain, signal?: AbortSignal): Promise<MoneyTx> {
  return send(chain, "cancelUnlock", [], undefined, signal);
}

/** Withdraws deposit and reserve once the unlock period has passed (TicketBroker.withdraw). */
export function withdraw(chain: MoneyChain, signal?: AbortSignal): Promise<MoneyTx> {
  return send(chain, "withdraw", [], undefined, signal);
}

/** The account's (or `address`'s) deposit, withdraw round and reserve; zeros for an unknown sender. */
export function senderInfo(chain: MoneyChain, address?: Address): Promise<SenderInfo> {
  return chain.client.senderInfo(address ?? chain.signer.address);
}

/** TicketBroker.unlockPeriod(). */
export async function ticketBrokerParams(chain: MoneyChain): Promise<TicketBrokerParams> {
  try {
    return { unlockPeriod: await chain.client.contracts.ticketBroker.read.unlockPeriod() };
  } catch (err) {
    throw toEthError(err, "TicketBroker.unlockPeriod", ticketBrokerAbi);
  }
}

/** go-livepeer's pm.SenderInfo JSON: big integers as bare JSON numbers, exact (no float rounding). */
export function senderInfoJson(info: SenderInfo): string {
  return (
    `{"Deposit":${info.deposit},"WithdrawRound":${info.withdrawRound},` +
    `"Reserve":{"FundsRemaining":${info.reserve.fundsRemaining},"ClaimedInCurrentRound":${info.reserve.claimedInCurrentRound}}}`
  );
}

/** go-livepeer's /ticketBrokerParams JSON. */
export function ticketBrokerParamsJson(p: TicketBrokerParams): string {
  return `{"UnlockPeriod":${p.unlockPeriod}}`;
}

/**
 * The CLI API's money routes (go-livepeer's server/webserver.go): POST /fundDepositAndReserve,
 * /fundDeposit, /unlock, /cancelUnlock, /withdraw; GET /senderInfo, /ticketBrokerParams. A bad
 * amount is 400 and sends nothing; a revert or RPC failure is 500 with its reason.
 */
export function moneyRoutes(chain: MoneyChain): CliRoute[] {
  const text = (reply: Parameters<CliRoute["handler"]>[1], code: number, body: string) =>
    reply.code(code).type("text/plain").send(body);
  const failed = (reply: Parameters<CliRoute["handler"]>[1], err: unknown) =>
    text(reply, err instanceof MoneyError ? 400 : 500, errorMessage(err));
  const required = (params: Record<string, string>, names: string[]): string | null => {
    for (const n of names) if (!params[n]) return `missing form param: ${n}`;
    return null;
  };
  const tx = (
    path: string,
    op: string,
    params: string[],
    run: (p: Record<string, string>) => Promise<unknown>,
  ) => ({
    method: "POST" as const,
    path,
    handler: async (p: Record<string, string>, reply: Parameters<CliRoute["handler"]>[1]) => {
      const missing = required(p, params);
      if (missing) return text(reply, 400, missing);
      try {
        await run(p);
      } catch (err) {
        return failed(reply, err);
      }
      return text(reply, 200, `${op} success`);
    },
  });
  const json = (path: string, read: () => Promise<string>): CliRoute => ({
    method: "GET",
    path,
    handler: async (_p, reply) => {
      try {
        return reply
          .code(200)
          .type("application/json")
          .send(await read());
      } catch (err) {
        return failed(reply, err);
      }
    },
  });
  return [
    tx("/fundDepositAndReserve", "fundDepositAndReserve", ["depositAmount", "reserveAmount"], (p) =>
      fundDepositAndReserve(
        chain,
        parseAmount(p["depositAmount"]!, "depositAmount"),
        parseAmount(p["reserveAmount"]!, "reserveAmount"),
      ),
    ),
    tx("/fundDeposit", "fundDeposit", ["amount"], (p) =>
      fundDeposit(chain, parseAmount(p["amount"]!, "amount")),
    ),
    tx("/unlock", "unlock", [], () => unlock(chain)),
    tx("/cancelUnlock", "cancelUnlock", [], () => cancelUnlock(chain)),
    tx("/withdraw", "withdraw", [], () => withdraw(chain)),
    json("/senderInfo", async () => senderInfoJson(await senderInfo(chain))),
    json("/ticketBrokerParams", async () => ticketBrokerParamsJson(await ticketBrokerParams(chain))),
  ];
}
