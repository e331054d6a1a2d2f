import {
  type Address,
  createPublicClient,
  getAddress,
  type Hash,
  type Hex,
  http,
  type PublicClient,
  type Transport,
  webSocket,
  zeroAddress,
} from "viem";
import type { Logger } from "../logger/logger.js";
import {
  type ContractAddresses,
  type ContractHandles,
  contractHandles,
  resolveContracts,
} from "./contracts.js";
import { EthError, redactUrl, shortText, toEthError } from "./errors.js";
import type { ChainConfig } from "./networks.js";

/** go-livepeer's ethRPCTimeout: the longest one JSON-RPC request may take. */
export const ETH_RPC_TIMEOUT_MS = 20_000;

/** Options of ChainClient.connect. */
export interface ChainClientOptions {
  config: ChainConfig;
  log?: Logger | undefined;
  /** Per-request timeout (default 20 s). */
  rpcTimeoutMs?: number | undefined;
}

/** A registered orchestrator as the node reads it (go-livepeer's GetTranscoder). */
export interface TranscoderInfo {
  address: Address;
  lastRewardRound: bigint;
  /** Parts per million. */
  rewardCut: bigint;
  /** Parts per million. */
  feeShare: bigint;
  lastActiveStakeUpdateRound: bigint;
  activationRound: bigint;
  deactivationRound: bigint;
  cumulativeRewards: bigint;
  cumulativeFees: bigint;
  lastFeeRound: bigint;
  /** go-livepeer's texts: "Registered" or "Not Registered". */
  status: "Registered" | "Not Registered";
  active: boolean;
  /** Stake delegated to it, self-bond included. */
  totalStake: bigint;
  serviceURI: string;
}

/** A delegator's bond (getDelegator). */
export interface DelegatorInfo {
  bondedAmount: bigint;
  fees: bigint;
  delegateAddress: Address;
  delegatedAmount: bigint;
  startRound: bigint;
  lastClaimRound: bigint;
  nextUnbondingLockId: bigint;
}

/** The part of TranscoderInfo that BondingManager.getTranscoder returns. */
type TranscoderRecord = Omit<TranscoderInfo, "address" | "status" | "active" | "totalStake" | "serviceURI">;

/** getTranscoder's outputs in order; null skips activeCumulativeRewards, which the node does not read. */
const TRANSCODER_OUTPUTS: readonly (keyof TranscoderRecord | null)[] = [
  "lastRewardRound",
  "rewardCut",
  "feeShare",
  "lastActiveStakeUpdateRound",
  "activationRound",
  "deactivationRound",
  null,
  "cumulativeRewards",
  "cumulativeFees",
  "lastFeeRound",
];

/** getDelegator's outputs in order. */
const DELEGATOR_OUTPUTS: readonly (keyof DelegatorInfo)[] = [
  "bondedAmount",
  "fees",
  "delegateAddress",
  "delegatedAmount",
  "startRound",
  "lastClaimRound",
  "nextUnbondingLockId",
];

/** An object from a contract call's positional outputs: names[i] names values[i], null skips one. */
function fromTuple<T>(names: readonly (keyof T | null)[], values: readonly unknown[]): T {
  return Object.fromEntries(names.flatMap((name, i) => (name === null ? [] : [[name, values[i]]]))) as T;
}

/** A ticket sender's funds at the TicketBroker (getSenderInfo). */
export interface SenderInfo {
  deposit: bigint;
  withdrawRound: bigint;
  reserve: { fundsRemaining: bigint; claimedInCurrentRound: bigint };
}

/** The round state the node reads at start and on every new round. */
export interface RoundInfo {
  currentRound: bigint;
  roundLength: bigint;
  initialized: boolean;
  locked: boolean;
  lastInitializedRound: bigint;
  currentRoundStartBlock: bigint;
}

/** One member of the transcoder pool, in pool order (highest stake first). */
export interface PoolMember {
  address: Address;
  totalStake: bigint;
}

/**
 * The node's read side of the chain: a viem public client over -ethUrl, checked against the network's
 * chain id, with the protocol contracts resolved through the Controller and typed reads that fail with
 * EthError. Mirrors the read half of go-livepeer's eth/client.go.
 */
export class ChainClient {
  /** The viem client, for watchers and the transaction manager. */
  readonly publicClient: PublicClient;
  readonly chainId: number;
  readonly network: string;
  readonly addresses: ContractAddresses;
  readonly contracts: ContractHandles;

  private constructor(
    publicClient: PublicClient,
    chainId: number,
    network: string,
    addresses: ContractAddresses,
    private readonly closeTransport: () => Promise<void>,
  ) {
    this.publicClient = publicClient;
    this.chainId = chainId;
    this.network = network;
    this.addresses = addresses;
    this.contracts = contractHandles(publicClient, addresses);
  }

  /**
   * Connects: checks that the RPC answers and serves the named network's chain, that the Controller has
   * code, and resolves the contracts. Each failure is an EthError with a one-line reason.
   */
  static async connect(options: ChainClientOptions): Promise<ChainClient> {
    // Checksummed here, not in the config layer (which loads no viem code); any case is accepted.
    const config: ChainConfig = {
      ...options.config,
      controller: getAddress(options.config.controller.toLowerCase()),
    };
    const log = options.log;
    const shownUrl = redactUrl(config.ethUrl);
    const { client, close } = makePublicClient(config, options.rpcTimeoutMs ?? ETH_RPC_TIMEOUT_MS);
    try {
      let chainId: number;
      try {
        chainId = await client.getChainId();
      } catch (err) {
        throw new EthError(
          "ETH_RPC_UNAVAILABLE",
          `the Ethereum RPC at ${shownUrl} did not answer eth_chainId: ${shortText(err)}`,
          { cause: err, retryable: true },
        );
      }
      if (config.expectedChainId !== undefined && chainId !== config.expectedChainId) {
        throw new EthError(
          "ETH_CHAIN_ID_MISMATCH",
          `-network ${config.network} is chain id ${config.expectedChainId}, but -ethUrl ${shownUrl} serves chain id ${chainId}`,
        );
      }
      let code: Hex | undefined;
      try {
        code = await client.getCode({ address: config.controller });
      } catch (err) {
        throw toEthError(err, `reading the code of the Controller ${config.controller}`);
      }
      if (code === undefined || code === "0x") {
        throw new EthError(
          "ETH_CONTROLLER_NO_CODE",
          `-ethController ${config.controller} has no contract code on chain id ${chainId} (wrong address or wrong chain?)`,
        );
      }
      const addresses = await resolveContracts(client, config.controller, {
        aiServiceRegistry: config.aiServiceRegistry,
      });
      log?.info(
        { network: config.network, chainId, ethUrl: shownUrl, contracts: addresses },
        "connected to the Ethereum RPC",
      );
      return new ChainClient(client, chainId, config.network, addresses, close);
    } catch (err) {
      await close();
      throw err;
    }
  }

  /** Closes the transport (a WebSocket); HTTP needs nothing. Idempotent. */
  async close(): Promise<void> {
    await this.closeTransport();
  }

  /** The latest block number, never cached (viem caches it for a polling interval otherwise). */
  blockNumber(): Promise<bigint> {
    return this.read("eth_blockNumber", () => this.publicClient.getBlockNumber({ cacheTime: 0 }));
  }

  /** The chain id the RPC serves now (for /status and reconnect checks). */
  currentChainId(): Promise<number> {
    return this.read("eth_chainId", () => this.publicClient.getChainId());
  }

  /** ETH balance of an account, in wei. */
  ethBalance(address: Address): Promise<bigint> {
    return this.read("eth_getBalance", () => this.publicClient.getBalance({ address }));
  }

  /** LPT balance of an account. */
  tokenBalance(address: Address): Promise<bigint> {
    return this.read("LivepeerToken.balanceOf", () => this.contracts.livepeerToken.read.balanceOf([address]));
  }

  /** LPT an owner lets a spender move. */
  allowance(owner: Address, spender: Address): Promise<bigint> {
    return this.read("LivepeerToken.allowance", () =>
      this.contracts.livepeerToken.read.allowance([owner, spender]),
    );
  }

  /** RoundsManager.currentRound(). */
  currentRound(): Promise<bigint> {
    return this.read("RoundsManager.currentRound", () => this.contracts.roundsManager.read.currentRound());
  }

  /** RoundsManager.roundLength(), in blocks. */
  roundLength(): Promise<bigint> {
    return this.read("RoundsManager.roundLength", () => this.contracts.roundsManager.read.roundLength());
  }

  /** RoundsManager.currentRoundInitialized(). */
  currentRoundInitialized(): Promise<boolean> {
    return this.read("RoundsManager.currentRoundInitialized", () =>
      this.contracts.roundsManager.read.currentRoundInitialized(),
    );
  }

  /** RoundsManager.currentRoundLocked(): orchestrators cannot register in the lock window. */
  currentRoundLocked(): Promise<boolean> {
    return this.read("RoundsManager.currentRoundLocked", () =>
      this.contracts.roundsManager.read.currentRoundLocked(),
    );
  }

  /** RoundsManager.blockHashForRound(round); zero for a round never initialised. */
  blockHashForRound(round: bigint): Promise<Hash> {
    return this.read("RoundsManager.blockHashForRound", () =>
      this.contracts.roundsManager.read.blockHashForRound([round]),
    );
  }

  /** Everything about the current round in one go (six reads in parallel). */
  async roundInfo(): Promise<RoundInfo> {
    const rm = this.contracts.roundsManager.read;
    return this.read("RoundsManager round state", async () => {
      const [currentRound, roundLength, initialized, locked, lastInitializedRound, currentRoundStartBlock] =
        await Promise.all([
          rm.currentRound(),
          rm.roundLength(),
          rm.currentRoundInitialized(),
          rm.currentRoundLocked(),
          rm.lastInitializedRound(),
          rm.currentRoundStartBlock(),
        ]);
      return { currentRound, roundLength, initialized, locked, lastInitializedRound, currentRoundStartBlock };
    });
  }

  /** An orchestrator's registration, stake, activity and service URI (go-livepeer's GetTranscoder). */
  async transcoderInfo(address: Address): Promise<TranscoderInfo> {
    const bm = this.contracts.bondingManager.read;
    return this.read("BondingManager.getTranscoder", async () => {
      const [t, status, totalStake, active, serviceURI] = await Promise.all([
        bm.getTranscoder([address]),
        bm.transcoderStatus([address]),
        bm.transcoderTotalStake([address]),
        bm.isActiveTranscoder([address]),
        this.contracts.serviceRegistry.read.getServiceURI([address]),
      ]);
      return {
        address,
        ...fromTuple<TranscoderRecord>(TRANSCODER_OUTPUTS, t),
        status: Number(status) === 1 ? "Registered" : "Not Registered",
        active,
        totalStake,
        serviceURI,
      };
    });
  }

  /** A delegator's bond. */
  async delegatorInfo(address: Address): Promise<DelegatorInfo> {
    return this.read("BondingManager.getDelegator", async () => {
      const d = await this.contracts.bondingManager.read.getDelegator([address]);
      return fromTuple<DelegatorInfo>(DELEGATOR_OUTPUTS, d);
    });
  }

  /** A ticket sender's deposit, withdraw round and reserve. */
  async senderInfo(address: Address): Promise<SenderInfo> {
    return this.read("TicketBroker.getSenderInfo", async () => {
      const [sender, reserve] = await this.contracts.ticketBroker.read.getSenderInfo([address]);
      return {
        deposit: sender.deposit,
        withdrawRound: sender.withdrawRound,
        reserve: {
          fundsRemaining: reserve.fundsRemaining,
          claimedInCurrentRound: reserve.claimedInCurrentRound,
        },
      };
    });
  }

  /** Reserve a claimant has already claimed from a holder in the current round. */
  claimedReserve(reserveHolder: Address, claimant: Address): Promise<bigint> {
    return this.read("TicketBroker.claimedReserve", () =>
      this.contracts.ticketBroker.read.claimedReserve([reserveHolder, claimant]),
    );
  }

  /** Whether a ticket hash was already redeemed. */
  isUsedTicket(ticketHash: Hash): Promise<boolean> {
    return this.read("TicketBroker.usedTickets", () =>
      this.contracts.ticketBroker.read.usedTickets([ticketHash]),
    );
  }

  /** The service URI an orchestrator registered ("" when none); `ai` reads the AI ServiceRegistry. */
  serviceURI(address: Address, ai = false): Promise<string> {
    const registry = ai ? this.contracts.aiServiceRegistry : this.contracts.serviceRegistry;
    if (registry === null) {
      return Promise.reject(
        new EthError("ETH_CONTRACT_NOT_REGISTERED", `network ${this.network} has no AI ServiceRegistry`),
      );
    }
    return this.read("ServiceRegistry.getServiceURI", () => registry.read.getServiceURI([address]));
  }

  /**
   * The transcoder pool in order (first/next walk), with each member's stake. The walk is bounded by
   * the pool's size so that a pool changing under it cannot loop forever.
   */
  async transcoderPool(): Promise<PoolMember[]> {
    const bm = this.contracts.bondingManager.read;
    return this.read("BondingManager transcoder pool", async () => {
      const size = await bm.getTranscoderPoolSize();
      const members: PoolMember[] = [];
      let current = await bm.getFirstTranscoderInPool();
      while (current !== zeroAddress && BigInt(members.length) < size) {
        members.push({ address: current, totalStake: await bm.transcoderTotalStake([current]) });
        current = await bm.getNextTranscoderInPool([current]);
      }
      return members;
    });
  }

  /** Runs one read, turning whatever it throws into an EthError naming the call. */
  private async read<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw toEthError(err, what);
    }
  }
}

/** A viem public client over an http(s) or ws(s) URL, without retries (callers decide when to retry). */
function makePublicClient(
  config: ChainConfig,
  timeout: number,
): { client: PublicClient; close: () => Promise<void> } {
  const isWs = /^wss?:/i.test(config.ethUrl);
  const transport: Transport = isWs
    ? webSocket(config.ethUrl, { timeout, retryCount: 0, reconnect: true })
    : http(config.ethUrl, { timeout, retryCount: 0 });
  const client = createPublicClient({
    transport,
    pollingInterval: config.blockPollingIntervalMs,
  }) as PublicClient;
  let closed = false;
  const close = async () => {
    if (closed || !isWs) return;
    closed = true;
    try {
      const rpc = await (
        client.transport as unknown as { getRpcClient?: () => Promise<{ close(): void }> }
      ).getRpcClient?.();
      rpc?.close();
    } catch {
      // A socket that never opened has nothing to close.
    }
  };
  return { client, close };
}
