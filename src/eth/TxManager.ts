import {
  type Abi,
  type Address,
  type ContractFunctionArgs,
  type ContractFunctionName,
  encodeFunctionData,
  type Hash,
  type Hex,
  keccak256,
  type LocalAccount,
  type PublicClient,
  type TransactionReceipt,
} from "viem";
import type { Logger } from "../logger/logger.js";
import {
  EthError,
  EthRevertError,
  EthTxNotMinedError,
  revertReasonOf,
  shortText,
  toEthError,
} from "./errors.js";

/** Options of a TxManager; the fee and timing values come from ChainConfig. */
export interface TxManagerOptions {
  chainId: number;
  /** Cap on maxFeePerGas in wei (-maxGasPrice); null for none. Changeable at run time. */
  maxGasPrice: bigint | null;
  /** Floor for the priority fee in wei (-minGasPrice). */
  minGasPrice?: bigint | undefined;
  /** Fixed gas limit (-gasLimit); null to estimate. */
  gasLimit: bigint | null;
  /** A transaction unmined for this long is replaced (-transactionTimeout). */
  txTimeoutMs: number;
  /** Replacements before giving up (-maxTransactionReplacements). */
  maxReplacements: number;
  /** How often receipts and the gas price are polled (-blockPollingInterval). */
  pollIntervalMs: number;
  /** Percent added to a gas estimate (default 20). */
  gasMarginPercent?: number | undefined;
  /** Percent by which a replacement raises both maxFee and tip (default 10, the minimum nodes accept). */
  replacementBumpPercent?: number | undefined;
  log?: Logger | undefined;
  /** Observes every transaction broadcast and every wait for fees (logs, tests, metrics). */
  onEvent?: ((event: TxEvent) => void) | undefined;
}

/** What the TxManager reports as it works. */
export type TxEvent =
  | { kind: "waiting-for-gas-price"; label: string; baseFee: bigint; tip: bigint; maxGasPrice: bigint }
  | {
      kind: "sent" | "replaced";
      label: string;
      hash: Hash;
      nonce: number;
      maxFeePerGas: bigint;
      maxPriorityFeePerGas: bigint;
      gas: bigint;
    }
  | { kind: "mined"; label: string; hash: Hash; nonce: number; status: "success" | "reverted" };

/** A transaction to send: raw call data. */
export interface TxRequest {
  to: Address;
  data?: Hex | undefined;
  value?: bigint | undefined;
  /** Overrides the estimate and -gasLimit. */
  gas?: bigint | undefined;
  /** Names the call in logs and errors ("TicketBroker.redeemWinningTicket"). */
  label?: string | undefined;
  /** The ABI to decode custom errors with (protocol ABIs are always tried). */
  abi?: Abi | undefined;
  signal?: AbortSignal | undefined;
  /** Called with each version's hash as it is broadcast (replacements too), before its receipt: lets a caller persist it. */
  onSent?: ((hash: Hash, nonce: number) => void) | undefined;
}

/** A contract call to send, encoded with viem from its ABI. */
export interface TxContractRequest<
  A extends Abi,
  F extends ContractFunctionName<A, "nonpayable" | "payable">,
> {
  address: Address;
  abi: A;
  functionName: F;
  args?: ContractFunctionArgs<A, "nonpayable" | "payable", F> | undefined;
  value?: bigint | undefined;
  gas?: bigint | undefined;
  signal?: AbortSignal | undefined;
  /** See TxRequest.onSent. */
  onSent?: ((hash: Hash, nonce: number) => void) | undefined;
}

/** A mined, successful transaction. */
export interface TxResult {
  hash: Hash;
  nonce: number;
  receipt: TransactionReceipt;
  /** Every hash sent for this nonce (the original first), replacements included. */
  hashes: Hash[];
}

interface Fees {
  maxFeePerGas: bigint;
  maxPriorityFeePerGas: bigint;
}

const DEFAULT_GAS_MARGIN = 20;
const DEFAULT_BUMP = 10;

/**
 * Sends one account's transactions, one at a time: a nonce sequence kept here (started from the pending
 * nonce), EIP-1559 fees capped by -maxGasPrice (it waits for fees to fall, never sends above), gas
 * estimates with a margin, replacement of a stuck transaction with the same nonce and higher fees, and
 * reverts decoded into EthRevertError. Mirrors go-livepeer's eth/transactionmanager.go.
 */
export class TxManager {
  readonly address: Address;
  private maxGasPrice: bigint | null;
  private nextNonce: number | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly gasMargin: bigint;
  private readonly bump: bigint;

  constructor(
    private readonly options: TxManagerOptions,
    private readonly collaborators: { publicClient: PublicClient; account: LocalAccount },
  ) {
    this.address = collaborators.account.address;
    this.maxGasPrice = options.maxGasPrice;
    this.gasMargin = BigInt(options.gasMarginPercent ?? DEFAULT_GAS_MARGIN);
    this.bump = BigInt(options.replacementBumpPercent ?? DEFAULT_BUMP);
  }

  /** The current -maxGasPrice cap (null = none). */
  getMaxGasPrice(): bigint | null {
    return this.maxGasPrice;
  }

  /** Changes the cap at run time (go-livepeer's /setMaxGasPrice); 0 or null removes it. */
  setMaxGasPrice(value: bigint | null): void {
    this.maxGasPrice = value === null || value === 0n ? null : value;
  }

  /** Encodes a contract call and sends it (see send). */
  writeContract<A extends Abi, F extends ContractFunctionName<A, "nonpayable" | "payable">>(
    request: TxContractRequest<A, F>,
  ): Promise<TxResult> {
    const data = encodeFunctionData({
      abi: request.abi as Abi,
      functionName: request.functionName as string,
      args: (request.args ?? []) as readonly unknown[],
    });
    return this.send({
      to: request.address,
      data,
      value: request.value,
      gas: request.gas,
      abi: request.abi,
      label: String(request.functionName),
      signal: request.signal,
      onSent: request.onSent,
    });
  }

  /**
   * Sends a transaction and waits for its receipt. Calls are serialised: one transaction of this account
   * is in flight at a time. Throws EthRevertError (estimate or receipt), EthTxNotMinedError (still
   * unmined after every replacement), or EthError ETH_RPC_* / ETH_TX_REJECTED / ETH_ABORTED.
   */
  send(request: TxRequest): Promise<TxResult> {
    const run = this.queue.then(
      () => this.sendNow(request),
      () => this.sendNow(request),
    );
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async sendNow(request: TxRequest): Promise<TxResult> {
    const label = request.label ?? `transaction to ${request.to}`;
    const { publicClient, account } = this.collaborators;
    const signal = request.signal;
    throwIfAborted(signal, label);

    let gas = request.gas ?? this.options.gasLimit ?? null;
    if (gas === null) {
      let estimate: bigint;
      try {
        estimate = await publicClient.estimateGas({
          account: this.address,
          to: request.to,
          data: request.data,
          value: request.value,
        });
      } catch (err) {
        throw toEthError(err, label, request.abi);
      }
      gas = estimate + (estimate * this.gasMargin) / 100n;
    }

    let fees = await this.feesUnderCap(label, signal);
    const nonce = await this.takeNonce(label);
    const hashes: Hash[] = [];
    let replacements = 0;

    const broadcast = async (kind: "sent" | "replaced"): Promise<void> => {
      const serialized = await account.signTransaction({
        type: "eip1559",
        chainId: this.options.chainId,
        nonce,
        to: request.to,
        data: request.data,
        value: request.value,
        gas,
        ...fees,
      });
      const hash = keccak256(serialized);
      try {
        await publicClient.sendRawTransaction({ serializedTransaction: serialized });
      } catch (err) {
        if (isAlreadyKnown(err)) {
          // The node has this very transaction: it was delivered before.
        } else if (isNonceTooLow(err) && hashes.length > 0) {
          // One of the versions already sent was mined meanwhile; the receipt poll finds it.
          return;
        } else {
          if (hashes.length === 0) this.releaseNonce(nonce);
          throw this.broadcastError(err, label, nonce, hashes);
        }
      }
      hashes.push(hash);
      request.onSent?.(hash, nonce);
      this.options.onEvent?.({ kind, label, hash, nonce, gas, ...fees });
      this.options.log?.info(
        { label, hash, nonce, gas, maxFeePerGas: fees.maxFeePerGas, tip: fees.maxPriorityFeePerGas },
        kind === "sent" ? "transaction sent" : "transaction replaced with higher fees",
      );
    };

    await broadcast("sent");
    for (;;) {
      const receipt = await this.waitForAnyReceipt(hashes, label, nonce, signal);
      if (receipt !== null) return this.finish(receipt, request, label, nonce, hashes, gas);
      if (replacements >= this.options.maxReplacements) {
        throw new EthTxNotMinedError(
          `${label}: not mined within ${this.options.txTimeoutMs} ms after ${replacements} replacement(s) (nonce ${nonce}, ${hashes.join(", ")})`,
          nonce,
          hashes,
        );
      }
      fees = await this.bumpedFees(fees, label, nonce, hashes);
      replacements++;
      await broadcast("replaced");
    }
  }

  /** Current base fee and tip, waiting while their sum is above -maxGasPrice; the fees never exceed it. */
  private async feesUnderCap(label: string, signal: AbortSignal | undefined): Promise<Fees> {
    let warned = false;
    for (;;) {
      const { baseFee, tip } = await this.marketFees(label);
      const cap = this.maxGasPrice;
      if (cap === null) return { maxFeePerGas: baseFee * 2n + tip, maxPriorityFeePerGas: tip };
      if (baseFee + tip <= cap) {
        if (warned)
          this.options.log?.info(
            { label, baseFee, tip, maxGasPrice: cap },
            "gas price under -maxGasPrice again: sending",
          );
        const maxFeePerGas = min(baseFee * 2n + tip, cap);
        return { maxFeePerGas, maxPriorityFeePerGas: min(tip, maxFeePerGas) };
      }
      this.options.onEvent?.({ kind: "waiting-for-gas-price", label, baseFee, tip, maxGasPrice: cap });
      if (!warned) {
        warned = true;
        this.options.log?.warn(
          { label, baseFee, tip, maxGasPrice: cap },
          "gas price above -maxGasPrice: waiting for it to fall before sending",
        );
      }
      await sleep(this.options.pollIntervalMs, signal, () => {
        throw new EthError(
          "ETH_GAS_PRICE_WAIT_ABORTED",
          `${label}: aborted while waiting for the gas price to fall`,
        );
      });
    }
  }

  /** Latest block's base fee and the node's suggested tip, the tip raised to -minGasPrice. */
  private async marketFees(label: string): Promise<{ baseFee: bigint; tip: bigint }> {
    const { publicClient } = this.collaborators;
    try {
      const [block, suggested] = await Promise.all([
        publicClient.getBlock({ blockTag: "latest" }),
        publicClient.estimateMaxPriorityFeePerGas().catch(() => 0n),
      ]);
      const baseFee = block.baseFeePerGas ?? 0n;
      const tip = max(suggested, this.options.minGasPrice ?? 0n);
      return { baseFee, tip };
    } catch (err) {
      throw toEthError(err, `${label}: reading the gas price`);
    }
  }

  /** Fees for a replacement: both at least `bump` % above the last, and at least what the market asks. */
  private async bumpedFees(last: Fees, label: string, nonce: number, hashes: Hash[]): Promise<Fees> {
    const up = (v: bigint) => (v * (100n + this.bump) + 99n) / 100n + 1n;
    let market: { baseFee: bigint; tip: bigint } | null = null;
    try {
      market = await this.marketFees(label);
    } catch {
      // The bump alone is enough to replace; the market only raises it.
    }
    let tip = up(last.maxPriorityFeePerGas);
    let maxFee = up(last.maxFeePerGas);
    if (market !== null) {
      tip = max(tip, market.tip);
      maxFee = max(maxFee, market.baseFee * 2n + tip);
    }
    const cap = this.maxGasPrice;
    if (cap !== null && maxFee > cap) {
      // A replacement below the bump would be refused by the node; above the cap is not allowed.
      if (up(last.maxFeePerGas) > cap) {
        throw new EthTxNotMinedError(
          `${label}: not mined within ${this.options.txTimeoutMs} ms, and a replacement would exceed -maxGasPrice ${cap} (nonce ${nonce}, ${hashes.join(", ")})`,
          nonce,
          hashes,
        );
      }
      maxFee = cap;
      tip = min(tip, maxFee);
    }
    return { maxFeePerGas: maxFee, maxPriorityFeePerGas: min(tip, maxFee) };
  }

  /**
   * Polls the receipts of every version sent until one is mined or -transactionTimeout passes since the
   * last broadcast (null then). RPC faults while polling are logged and polled through.
   */
  private async waitForAnyReceipt(
    hashes: Hash[],
    label: string,
    nonce: number,
    signal: AbortSignal | undefined,
  ): Promise<TransactionReceipt | null> {
    const { publicClient } = this.collaborators;
    const deadline = Date.now() + this.options.txTimeoutMs;
    let warned = false;
    for (;;) {
      // Only a fault in the last round counts: an RPC back up again with nothing mined means "replace".
      let lastError: unknown = null;
      for (const hash of hashes) {
        try {
          const receipt = await publicClient.getTransactionReceipt({ hash });
          return receipt;
        } catch (err) {
          if (isReceiptNotFound(err)) continue;
          if (!warned) {
            warned = true;
            this.options.log?.warn(
              { label, hash, nonce, err: shortText(err) },
              "cannot read the transaction receipt; retrying",
            );
          }
          lastError = err;
        }
      }
      if (Date.now() >= deadline) {
        if (lastError !== null && isRpcDown(lastError)) {
          throw new EthTxNotMinedError(
            `${label}: the Ethereum RPC did not answer while waiting for the receipt (nonce ${nonce}, ${hashes.join(", ")}): ${shortText(lastError)}`,
            nonce,
            [...hashes],
            lastError,
          );
        }
        return null;
      }
      await sleep(Math.min(this.options.pollIntervalMs, Math.max(1, deadline - Date.now())), signal, () => {
        throw new EthTxNotMinedError(
          `${label}: aborted while waiting for the receipt (nonce ${nonce}, ${hashes.join(", ")})`,
          nonce,
          [...hashes],
        );
      });
    }
  }

  private async finish(
    receipt: TransactionReceipt,
    request: TxRequest,
    label: string,
    nonce: number,
    hashes: Hash[],
    gas: bigint,
  ): Promise<TxResult> {
    this.options.onEvent?.({
      kind: "mined",
      label,
      hash: receipt.transactionHash,
      nonce,
      status: receipt.status,
    });
    if (receipt.status === "success") {
      return { hash: receipt.transactionHash, nonce, receipt, hashes: [...hashes] };
    }
    throw new EthRevertError(label, await this.replayReason(receipt, request, gas), {
      txHash: receipt.transactionHash,
    });
  }

  /** The reason of a mined revert: the call replayed at its block with its gas (receipts carry no reason). */
  private async replayReason(receipt: TransactionReceipt, request: TxRequest, gas: bigint): Promise<string> {
    try {
      await this.collaborators.publicClient.call({
        account: this.address,
        to: request.to,
        data: request.data,
        value: request.value,
        gas,
        blockNumber: receipt.blockNumber,
      });
      // The replay passed: it ran out of gas, or it depended on a transaction before it in the block.
      return receipt.gasUsed >= gas ? "out of gas" : "";
    } catch (err) {
      return revertReasonOf(err, request.abi) ?? (/out of gas/i.test(errorText(err)) ? "out of gas" : "");
    }
  }

  /** The nonce for a new transaction: the local sequence, moved forward if the chain is ahead of it. */
  private async takeNonce(label: string): Promise<number> {
    let pending: number;
    try {
      pending = await this.collaborators.publicClient.getTransactionCount({
        address: this.address,
        blockTag: "pending",
      });
    } catch (err) {
      throw toEthError(err, `${label}: reading the account nonce`);
    }
    // Another sender (or a restart) used nonces we did not: never reuse theirs. A local sequence ahead of
    // the node's view (a transaction the node dropped) is kept, so that its replacement fills the gap.
    const nonce = this.nextNonce === null ? pending : Math.max(this.nextNonce, pending);
    this.nextNonce = nonce + 1;
    return nonce;
  }

  /**
   * The first broadcast of a nonce failed, refused or with an unknown outcome (RPC down mid-request).
   * The sequence steps back to it; takeNonce's max with the node's pending nonce then skips it if the
   * transaction did reach the node, so a delivered transaction's nonce is never given to another.
   */
  private releaseNonce(nonce: number): void {
    if (this.nextNonce === nonce + 1) this.nextNonce = nonce;
  }

  private broadcastError(err: unknown, label: string, nonce: number, hashes: Hash[]): EthError {
    if (isRpcDown(err)) {
      const e = toEthError(err, `${label}: sending the transaction (nonce ${nonce})`);
      return hashes.length > 0 ? new EthTxNotMinedError(e.message, nonce, [...hashes], err) : e;
    }
    return new EthError(
      "ETH_TX_REJECTED",
      `${label}: the node refused the transaction (nonce ${nonce}): ${shortText(err)}`,
      {
        cause: err,
      },
    );
  }
}

function isRpcDown(err: unknown): boolean {
  const e = toEthError(err, "");
  return e.code === "ETH_RPC_UNAVAILABLE";
}

function errorText(err: unknown): string {
  if (err instanceof Error) {
    const details = (err as { details?: unknown }).details;
    return `${err.message} ${typeof details === "string" ? details : ""}`.toLowerCase();
  }
  return String(err).toLowerCase();
}

function isAlreadyKnown(err: unknown): boolean {
  const text = errorText(err);
  return (
    text.includes("already known") || text.includes("already imported") || text.includes("known transaction")
  );
}

function isNonceTooLow(err: unknown): boolean {
  const text = errorText(err);
  return text.includes("nonce too low") || text.includes("nonce has already been used");
}

function isReceiptNotFound(err: unknown): boolean {
  return (
    err instanceof Error &&
    (err.name === "TransactionReceiptNotFoundError" || /could not be found/i.test(err.message))
  );
}

function throwIfAborted(signal: AbortSignal | undefined, label: string): void {
  if (signal?.aborted) throw new EthError("ETH_ABORTED", `${label}: aborted before sending`);
}

/** Waits `ms`, or calls onAbort (which throws) when the signal fires. */
function sleep(ms: number, signal: AbortSignal | undefined, onAbort: () => never): Promise<void> {
  if (signal?.aborted) onAbort();
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", abort);
      resolve();
    }, ms);
    const abort = () => {
      clearTimeout(timer);
      try {
        onAbort();
      } catch (err) {
        reject(err);
      }
    };
    signal?.addEventListener("abort", abort, { once: true });
  });
}

function min(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

function max(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}
