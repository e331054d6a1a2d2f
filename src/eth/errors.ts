import {
  type Abi,
  BaseError,
  ContractFunctionRevertedError,
  decodeErrorResult,
  type Hash,
  type Hex,
  HttpRequestError,
  RpcRequestError,
  SocketClosedError,
  TimeoutError,
  WebSocketRequestError,
} from "viem";
import { LpError } from "../errors/LpError.js";
import { abis } from "./abis.js";

/** Stable codes of the chain layer's errors. */
export type EthErrorCode =
  | "ETH_RPC_UNAVAILABLE"
  | "ETH_RPC_ERROR"
  | "ETH_CHAIN_ID_MISMATCH"
  | "ETH_CONTROLLER_NO_CODE"
  | "ETH_CONTRACT_NOT_REGISTERED"
  | "ETH_TX_REVERTED"
  | "ETH_TX_NOT_MINED"
  | "ETH_TX_REJECTED"
  | "ETH_GAS_PRICE_WAIT_ABORTED"
  | "ETH_ABORTED";

/** A typed error of the chain layer: an RPC fault, a chain mismatch, a revert, a stuck transaction. */
export class EthError extends LpError {
  declare readonly code: EthErrorCode;

  constructor(code: EthErrorCode, message: string, options: { cause?: unknown; retryable?: boolean } = {}) {
    super(code, message, options);
  }
}

/** A call or transaction that the EVM reverted, with the decoded reason ("ticket is used"). */
export class EthRevertError extends EthError {
  /** The revert string, or the custom error's name and args, or "" when the contract gave none. */
  readonly reason: string;
  /** The mined transaction's hash when the revert came from a receipt; undefined for an estimate. */
  readonly txHash: Hash | undefined;

  constructor(what: string, reason: string, options: { txHash?: Hash; cause?: unknown } = {}) {
    super("ETH_TX_REVERTED", `${what} reverted: ${reason === "" ? "(no reason given)" : reason}`, {
      cause: options.cause,
    });
    this.reason = reason;
    this.txHash = options.txHash;
  }
}

/** A transaction not mined after all allowed replacements; `hashes` lists every version sent. */
export class EthTxNotMinedError extends EthError {
  readonly hashes: readonly Hash[];
  readonly nonce: number;

  constructor(message: string, nonce: number, hashes: readonly Hash[], cause?: unknown) {
    super("ETH_TX_NOT_MINED", message, { cause, retryable: true });
    this.hashes = hashes;
    this.nonce = nonce;
  }
}

const ALL_ABIS = Object.values(abis).flat() as Abi;
// Error(string), the selector Solidity's require/revert with a message encodes.
const ERROR_STRING_SELECTOR = "0x08c379a0";

/**
 * The revert reason inside an error thrown by viem (estimateGas, call, simulate), or undefined when
 * the error is not a revert. Custom errors are decoded with the protocol ABIs.
 */
export function revertReasonOf(err: unknown, abi?: Abi): string | undefined {
  if (!(err instanceof BaseError)) return undefined;
  const reverted = err.walk((e) => e instanceof ContractFunctionRevertedError);
  if (reverted instanceof ContractFunctionRevertedError) {
    if (reverted.reason !== undefined) return reverted.reason;
    if (reverted.data)
      return `${reverted.data.errorName}(${(reverted.data.args ?? []).map(String).join(", ")})`;
    return "";
  }
  const data = revertDataOf(err);
  if (data !== undefined) return decodeRevertData(data, abi);
  // Nodes that answer a revert without data still say so in the message.
  const text = err.details || err.shortMessage || err.message;
  const match = /execution reverted(?::\s*(.*))?/i.exec(text);
  if (match) return (match[1] ?? "").trim();
  return undefined;
}

/** The raw revert data carried by a JSON-RPC error (code 3 "execution reverted" with data). */
function revertDataOf(err: BaseError): Hex | undefined {
  let found: Hex | undefined;
  err.walk((e) => {
    const data = (e as { data?: unknown }).data;
    if (typeof data === "string" && data.startsWith("0x") && data.length >= 10) {
      found = data as Hex;
      return true;
    }
    return false;
  });
  return found;
}

/** Decodes revert data: Error(string), or a custom error of `abi` or a protocol contract, or its selector. */
export function decodeRevertData(data: Hex, abi?: Abi): string {
  if (data === "0x") return "";
  try {
    const decoded = decodeErrorResult({
      abi: abi === undefined ? ALL_ABIS : ([...abi, ...ALL_ABIS] as Abi),
      data,
    });
    if (decoded.errorName === "Error") return String(decoded.args?.[0] ?? "");
    return `${decoded.errorName}(${(decoded.args ?? []).map(String).join(", ")})`;
  } catch {
    return data.startsWith(ERROR_STRING_SELECTOR)
      ? "(undecodable reason)"
      : `custom error ${data.slice(0, 10)}`;
  }
}

/** Whether a viem error means the RPC did not answer (down, refused, timed out) rather than refused the call. */
export function isRpcUnavailable(err: unknown): boolean {
  if (!(err instanceof BaseError)) {
    const code = (err as { code?: unknown } | null)?.code;
    return code === "ECONNREFUSED" || code === "ECONNRESET" || code === "ETIMEDOUT";
  }
  const hit = err.walk(
    (e) =>
      e instanceof TimeoutError ||
      e instanceof SocketClosedError ||
      e instanceof WebSocketRequestError ||
      (e instanceof HttpRequestError && (e.status === undefined || e.status >= 500 || e.status === 429)),
  );
  return hit !== null && hit !== undefined;
}

/**
 * Turns anything an RPC call threw into an EthError: a revert keeps its reason, an RPC that did not
 * answer becomes ETH_RPC_UNAVAILABLE (retryable), anything else ETH_RPC_ERROR. `what` names the call.
 */
export function toEthError(err: unknown, what: string, abi?: Abi): EthError {
  if (err instanceof EthError) return err;
  const reason = revertReasonOf(err, abi);
  if (reason !== undefined) return new EthRevertError(what, reason, { cause: err });
  if (isRpcUnavailable(err)) {
    return new EthError(
      "ETH_RPC_UNAVAILABLE",
      `${what}: the Ethereum RPC did not answer (${shortText(err)})`,
      {
        cause: err,
        retryable: true,
      },
    );
  }
  return new EthError("ETH_RPC_ERROR", `${what}: ${shortText(err)}`, { cause: err, retryable: true });
}

/** The first line of an error's short message, without viem's multi-line details (and never a URL's credentials). */
export function shortText(err: unknown): string {
  let text: string;
  if (err instanceof RpcRequestError) text = err.details || err.shortMessage;
  else if (err instanceof BaseError)
    text = err.details ? `${err.shortMessage} ${err.details}` : err.shortMessage;
  else if (err instanceof Error) text = err.message;
  else text = String(err);
  return redactUrl(text.split("\n")[0] ?? "");
}

/** Keeps only scheme and host of URLs in a text: RPC URLs often carry an API key in the path or query. */
export function redactUrl(text: string): string {
  return text.replace(
    /(\w+:\/\/)(?:[^/\s@]+@)?([^/\s?#"']+)[^\s"']*/g,
    (_m, scheme: string, host: string) => {
      return `${scheme}${host}`;
    },
  );
}
