// Type-only imports: the config layer loads this file even offchain, so it must pull in no chain code.
import type { Address } from "viem";

/** What a named network fixes: chain id, Controller, gas defaults. Mirrors go-livepeer's cmd/livepeer/starter/starter.go. */
export interface NetworkPreset {
  name: string;
  chainId: number;
  controller: Address;
  /** Floor for the gas price, in wei (go-livepeer's -minGasPrice default for the network). */
  minGasPrice: bigint;
  /** Gas a ticket redemption is expected to cost (feeds the face value). */
  redeemGas: bigint;
  /** The AI ServiceRegistry used in place of ServiceRegistry with -aiServiceRegistry, where the network has one. */
  aiServiceRegistry?: Address;
  /** A network go-livepeer still accepts but warns about. */
  deprecated?: boolean;
}

/** The name of the network without a chain. */
export const OFFCHAIN = "offchain";

const REDEEM_GAS_L1 = 350_000n;
const REDEEM_GAS_L2 = 1_200_000n;

/** go-livepeer's network presets, by -network name. */
export const NETWORK_PRESETS: Readonly<Record<string, NetworkPreset>> = {
  "arbitrum-one-mainnet": {
    name: "arbitrum-one-mainnet",
    chainId: 42161,
    controller: "0xD8E8328501E9645d16Cf49539efC04f734606ee4",
    minGasPrice: 0n,
    redeemGas: REDEEM_GAS_L2,
    aiServiceRegistry: "0x04C0b249740175999E5BF5c9ac1dA92431EF34C5",
  },
  mainnet: {
    name: "mainnet",
    chainId: 1,
    controller: "0xF96D54E490317c557A967ABfA5d6e33006BE69b3",
    minGasPrice: 1_000_000_000n,
    redeemGas: REDEEM_GAS_L1,
  },
  rinkeby: {
    name: "rinkeby",
    chainId: 4,
    controller: "0x9a9827455911a858E55f07911904fACC0D66027E",
    minGasPrice: 0n,
    redeemGas: REDEEM_GAS_L1,
    deprecated: true,
  },
  "arbitrum-one-rinkeby": {
    name: "arbitrum-one-rinkeby",
    chainId: 421611,
    controller: "0x9ceC649179e2C7Ab91688271bcD09fb707b3E574",
    minGasPrice: 0n,
    redeemGas: REDEEM_GAS_L2,
    deprecated: true,
  },
};

/** Everything the chain layer needs to connect and send, made once from the typed config values. */
export interface ChainConfig {
  network: string;
  /** The chain id the named network must have; undefined for a network without a preset (any id goes). */
  expectedChainId: number | undefined;
  ethUrl: string;
  controller: Address;
  /** Floor for the priority fee, in wei. */
  minGasPrice: bigint;
  /** Cap on maxFeePerGas, in wei; null for no cap. */
  maxGasPrice: bigint | null;
  /** Gas limit for every transaction; null to estimate. */
  gasLimit: bigint | null;
  /** How long a sent transaction may stay unmined before it is replaced. */
  txTimeoutMs: number;
  /** How many times a stuck transaction is replaced before giving up. */
  maxTxReplacements: number;
  /** Poll interval for blocks, receipts and the gas price. */
  blockPollingIntervalMs: number;
  redeemGas: bigint;
  /** The AI ServiceRegistry address of the preset, if any. */
  aiServiceRegistry: Address | undefined;
  deprecated: boolean;
  /** -priceFeedAddr: the Chainlink feed for prices in a currency; unset in configs built by hand. */
  priceFeedAddr?: Address;
}

/** The config values chainConfigFromOptions reads, named after go-livepeer's flags. */
export interface ChainOptionsInput {
  network: string;
  ethUrl: string;
  ethController: string;
  /** wei; 0, undefined or "" for no cap. */
  maxGasPrice?: number | bigint | string | undefined;
  /** wei; undefined or "" for the network's default. */
  minGasPrice?: number | bigint | string | undefined;
  /** 0 or undefined to estimate. */
  gasLimit?: number | bigint | string | undefined;
  /** -transactionTimeout in ms (default 5 min). */
  transactionTimeoutMs?: number | undefined;
  /** -maxTransactionReplacements (default 1). */
  maxTransactionReplacements?: number | undefined;
  /** -priceFeedAddr (default: ETH / USD on Arbitrum One); read only for a price in a currency. */
  priceFeedAddr?: string | undefined;
  /** -blockPollingInterval in seconds (default 5). */
  blockPollingInterval?: number | undefined;
}

/** The result of chainConfigFromOptions: null config when offchain or when there are problems. */
export interface ChainConfigResult {
  config: ChainConfig | null;
  /** One line per bad or missing value, each naming its flag. */
  problems: string[];
}

const DEFAULT_TX_TIMEOUT_MS = 5 * 60_000;
const DEFAULT_MAX_REPLACEMENTS = 1;
const DEFAULT_BLOCK_POLLING_S = 5;

/** Whether -network names a chain (anything but offchain). */
export function isOnChain(network: string): boolean {
  return network !== OFFCHAIN && network !== "";
}

/**
 * Builds the ChainConfig from the typed config values, collecting every problem at once (each naming
 * its flag). Offchain gives { config: null, problems: [] }. Mirrors go-livepeer's starter.go checks.
 */
export function chainConfigFromOptions(input: ChainOptionsInput): ChainConfigResult {
  const problems: string[] = [];
  if (!isOnChain(input.network)) return { config: null, problems };
  const preset = NETWORK_PRESETS[input.network];

  const ethUrl = input.ethUrl.trim();
  if (ethUrl === "") problems.push("Need to specify an Ethereum node JSON-RPC URL using -ethUrl");
  else if (!/^(https?|wss?):\/\/[^/\s]+/i.test(ethUrl))
    problems.push("-ethUrl must be an http(s):// or ws(s):// URL");

  let controller: Address | undefined;
  const controllerText = input.ethController.trim();
  if (controllerText !== "") {
    if (/^0x[0-9a-fA-F]{40}$/.test(controllerText)) controller = controllerText as Address;
    else problems.push(`-ethController: "${controllerText}" is not an Ethereum address`);
  } else if (preset) {
    controller = preset.controller;
  } else {
    problems.push(
      `-ethController is required for -network ${input.network} (only ${Object.keys(NETWORK_PRESETS).join(", ")} have a preset Controller)`,
    );
  }

  const maxGasPrice = wei(input.maxGasPrice, "maxGasPrice", problems);
  const minGasPrice = wei(input.minGasPrice, "minGasPrice", problems);
  const gasLimit = wei(input.gasLimit, "gasLimit", problems);
  if (maxGasPrice !== undefined && minGasPrice !== undefined && maxGasPrice > 0n && minGasPrice > maxGasPrice)
    problems.push(`-minGasPrice ${minGasPrice} is above -maxGasPrice ${maxGasPrice}`);

  const txTimeoutMs = input.transactionTimeoutMs ?? DEFAULT_TX_TIMEOUT_MS;
  if (!Number.isFinite(txTimeoutMs) || txTimeoutMs <= 0)
    problems.push("-transactionTimeout must be greater than 0");
  const maxTxReplacements = input.maxTransactionReplacements ?? DEFAULT_MAX_REPLACEMENTS;
  if (!Number.isInteger(maxTxReplacements) || maxTxReplacements < 0)
    problems.push("-maxTransactionReplacements must be an integer >= 0");
  const pollingS = input.blockPollingInterval ?? DEFAULT_BLOCK_POLLING_S;
  if (!Number.isFinite(pollingS) || pollingS <= 0)
    problems.push("-blockPollingInterval must be greater than 0");

  let priceFeedAddr: Address | undefined;
  const feedText = (input.priceFeedAddr ?? "").trim();
  if (feedText !== "") {
    if (/^0x[0-9a-fA-F]{40}$/.test(feedText)) priceFeedAddr = feedText as Address;
    else problems.push(`-priceFeedAddr: "${feedText.slice(0, 64)}" is not an Ethereum address`);
  }

  if (problems.length > 0 || controller === undefined) return { config: null, problems };
  return {
    config: {
      network: input.network,
      expectedChainId: preset?.chainId,
      ethUrl,
      controller,
      minGasPrice: minGasPrice ?? preset?.minGasPrice ?? 0n,
      maxGasPrice: maxGasPrice === undefined || maxGasPrice === 0n ? null : maxGasPrice,
      gasLimit: gasLimit === undefined || gasLimit === 0n ? null : gasLimit,
      txTimeoutMs,
      maxTxReplacements,
      blockPollingIntervalMs: Math.round(pollingS * 1000),
      redeemGas: preset?.redeemGas ?? REDEEM_GAS_L1,
      aiServiceRegistry: preset?.aiServiceRegistry,
      deprecated: preset?.deprecated ?? false,
      ...(priceFeedAddr ? { priceFeedAddr } : {}),
    },
    problems,
  };
}

/** A non-negative integer amount from a flag value; undefined when unset, pushes a problem when bad. */
function wei(
  value: number | bigint | string | undefined,
  flag: string,
  problems: string[],
): bigint | undefined {
  if (value === undefined || value === "") return undefined;
  let parsed: bigint | undefined;
  if (typeof value === "bigint") parsed = value;
  else if (typeof value === "number") parsed = Number.isSafeInteger(value) ? BigInt(value) : undefined;
  else if (/^\s*\d+\s*$/.test(value)) parsed = BigInt(value.trim());
  if (parsed === undefined || parsed < 0n) {
    problems.push(`-${flag} must be a non-negative integer, provided ${String(value)}`);
    return undefined;
  }
  return parsed;
}
