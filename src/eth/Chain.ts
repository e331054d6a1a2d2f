import { join } from "node:path";
import { errorMessage, LpError } from "../errors/LpError.js";
import type { Logger } from "../logger/logger.js";
import type { Service } from "../node/Service.js";
import type { NodeStatus } from "../node/status.js";
import { type LoadedAccount, loadAccount, type PasswordPrompt } from "./account.js";
import { BlockWatcher } from "./BlockWatcher.js";
import { ChainClient } from "./ChainClient.js";
import type { ChainConfig } from "./networks.js";
import { PriceFeedWatcher } from "./PriceFeedWatcher.js";
import { RoundWatcher } from "./RoundWatcher.js";
import type { Signer } from "./signer.js";
import { TxManager } from "./TxManager.js";
import { JsonWatchStore } from "./watchStore.js";

/** -priceFeedAddr's default: Chainlink ETH / USD on Arbitrum One. */
export const DEFAULT_PRICE_FEED_ADDR = "0x639Fe6ab55C921f74e7fac1ee960C0B6293ba612";

/** The account flags (-ethAcctAddr, -ethPassword resolved, -ethKeystorePath); "" means unset. */
export interface ChainAccountSettings {
  ethAcctAddr: string;
  ethPassword: string;
  ethKeystorePath: string;
}

/** What a node on a chain needs: where the chain is and which account it acts as. */
export interface ChainSettings {
  chain: ChainConfig;
  account: ChainAccountSettings;
}

/**
 * A failure at start that the operator fixes in the configuration (wrong chain id, Controller
 * without code, wrong keystore password, an RPC that does not answer): the node exits 2 with
 * this one line.
 */
export class ChainStartError extends LpError {
  constructor(message: string, cause: unknown) {
    super("CHAIN_START_FAILED", message, { cause });
  }
}

/**
 * The chain layer of one node (DESIGN.md: `eth/` knows the chain and nothing of roles): the
 * connected client with the Controller's contracts, the unlocked account, its transaction
 * manager, and the block and round watchers later layers subscribe to. Built only when -network
 * is not offchain; started before any role, stopped after them.
 */
export class Chain implements Service {
  readonly name = "chain";
  private parts: {
    client: ChainClient;
    account: LoadedAccount;
    tx: TxManager;
    blocks: BlockWatcher;
    rounds: RoundWatcher;
  } | null = null;
  private balance: bigint | null = null;
  private balanceAt = 0;
  private unsubscribe: (() => void) | null = null;
  private feed: PriceFeedWatcher | null = null;

  constructor(
    readonly settings: ChainSettings,
    private readonly deps: { logger: Logger; datadir: string; prompt: PasswordPrompt | null },
  ) {}

  /** The connected client (after start). */
  get client(): ChainClient {
    return this.started().client;
  }
  /** The node's account signer (after start). */
  get signer(): Signer {
    return this.started().account.signer;
  }
  /** The account's transaction manager (after start). */
  get tx(): TxManager {
    return this.started().tx;
  }
  /** The block watcher (after start). */
  get blocks(): BlockWatcher {
    return this.started().blocks;
  }
  /** The round watcher (after start). */
  get rounds(): RoundWatcher {
    return this.started().rounds;
  }

  /**
   * The Chainlink price feed at -priceFeedAddr, shared by every role; it reads nothing until a
   * price in a currency asks (so a node with wei prices never needs a feed contract).
   */
  get priceFeed(): PriceFeedWatcher {
    if (!this.feed) {
      this.feed = new PriceFeedWatcher(
        { address: this.settings.chain.priceFeedAddr ?? DEFAULT_PRICE_FEED_ADDR },
        { reader: () => this.client.publicClient, logger: this.deps.logger.child({ module: "pricefeed" }) },
      );
    }
    return this.feed;
  }

  private started() {
    if (!this.parts) throw new Error("the chain layer has not started");
    return this.parts;
  }

  async start(signal: AbortSignal): Promise<void> {
    const { chain, account } = this.settings;
    const log = this.deps.logger;
    let client: ChainClient;
    try {
      client = await ChainClient.connect({ config: chain, log });
    } catch (err) {
      throw new ChainStartError(errorMessage(err), err);
    }
    try {
      let loaded: LoadedAccount;
      try {
        loaded = await loadAccount(
          {
            dataDir: this.deps.datadir,
            ethAcctAddr: account.ethAcctAddr,
            ethPassword: account.ethPassword,
            ethKeystorePath: account.ethKeystorePath,
          },
          { prompt: this.deps.prompt, log },
        );
      } catch (err) {
        throw new ChainStartError(errorMessage(err), err);
      }
      const tx = new TxManager(
        {
          chainId: client.chainId,
          maxGasPrice: chain.maxGasPrice,
          minGasPrice: chain.minGasPrice,
          gasLimit: chain.gasLimit,
          txTimeoutMs: chain.txTimeoutMs,
          maxReplacements: chain.maxTxReplacements,
          pollIntervalMs: chain.blockPollingIntervalMs,
          log: log.child({ module: "tx" }),
        },
        { publicClient: client.publicClient, account: loaded.signer.account() },
      );
      const a = client.addresses;
      const blocks = new BlockWatcher(
        {
          addresses: {
            BondingManager: a.BondingManager,
            TicketBroker: a.TicketBroker,
            RoundsManager: a.RoundsManager,
            ServiceRegistry: a.ServiceRegistry,
          },
          pollingIntervalMs: chain.blockPollingIntervalMs,
        },
        {
          client: client.publicClient,
          // Scoped to the chain and Controller: moving the node to another network starts afresh.
          store: new JsonWatchStore(
            join(this.deps.datadir, "blockwatcher.json"),
            `${client.chainId}:${a.Controller}`,
          ),
          logger: log,
        },
      );
      const rounds = new RoundWatcher(
        { roundsManager: a.RoundsManager, bondingManager: a.BondingManager },
        { client: client.publicClient, blocks, logger: log },
      );
      try {
        await blocks.start(signal);
        await rounds.start(signal);
      } catch (err) {
        await blocks.stop();
        throw new ChainStartError(`cannot follow the chain: ${errorMessage(err)}`, err);
      }
      this.parts = { client, account: loaded, tx, blocks, rounds };
      await this.refreshBalance();
      // The balance shown in /status follows new blocks, read at most once per polling interval.
      this.unsubscribe = blocks.onBlock(() => {
        if (Date.now() - this.balanceAt >= chain.blockPollingIntervalMs) void this.refreshBalance();
      });
      const r = rounds.state;
      log.info(
        {
          network: chain.network,
          chainId: client.chainId,
          account: loaded.signer.address,
          round: r.currentRound.toString(),
          initialized: r.initialized,
          ethBalance: this.balance?.toString() ?? null,
        },
        "on chain",
      );
    } catch (err) {
      await client.close();
      throw err;
    }
  }

  private async refreshBalance(): Promise<void> {
    const parts = this.parts;
    if (!parts) return;
    this.balanceAt = Date.now();
    try {
      this.balance = await parts.client.ethBalance(parts.account.signer.address);
    } catch (err) {
      this.deps.logger.debug({ err: errorMessage(err) }, "could not read the ETH balance");
    }
  }

  async stop(): Promise<void> {
    const parts = this.parts;
    this.parts = null;
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.feed?.stop();
    if (!parts) return;
    await parts.rounds.stop();
    await parts.blocks.stop();
    await parts.client.close();
  }

  /** /status: network, chain id, account, ETH balance (wei) and the round. */
  status(s: NodeStatus): void {
    const parts = this.parts;
    s["ChainId"] = parts?.client.chainId ?? null;
    s["EthAccount"] = parts?.account.signer.address ?? null;
    s["EthBalance"] = this.balance?.toString() ?? null;
    s["Contracts"] = parts ? { ...parts.client.addresses } : null;
    if (parts) {
      const r = parts.rounds.state;
      s["Round"] = {
        current: r.currentRound.toString(),
        initialized: r.initialized,
        locked: r.locked,
        lastInitialized: r.lastInitializedRound.toString(),
        startBlock: r.currentRoundStartBlock.toString(),
        lastSeenBlock: r.lastSeenL1Block.toString(),
      };
    }
  }
}
