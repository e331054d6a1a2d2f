import { errorMessage } from "../errors/LpError.js";
import type { Logger } from "../logger/logger.js";
import type { Service } from "../node/Service.js";
import { Rat } from "../payments/rat.js";
import type { OrchestratorInfo } from "../protocol/gen/lp_rpc_pb.js";
import { closeDatabase, openDatabase } from "../storage/db.js";
import { type OrchestratorRow, OrchestratorStore } from "../storage/orchestrators.js";
import { type Clock, type ClockTimer, systemClock } from "../utils/clock.js";
import type { OrchestratorList } from "./OrchestratorList.js";
import type { PoolSelection } from "./OrchestratorPool.js";
import { OnceLog, ProbabilitySelection, type SelectionFilters, type SelectionWeights } from "./selection.js";

/** go-livepeer's filter: rows not refreshed for a day are not used. */
export const ORCHESTRATOR_MAX_AGE_MS = 24 * 60 * 60 * 1000;
/** go-livepeer's -liveAICapReportInterval default: GetOrchestrator to every active one this often. */
export const ORCH_INFO_POLL_MS = 25 * 60 * 1000;
/** go-livepeer's overall cap on one round of GetOrchestrator calls for prices. */
const ORCH_INFO_TIMEOUT_MS = 3000;
/** Registry reads in flight at once (a pool of 100 is 500 reads). */
const READ_CONCURRENCY = 8;

/** The registry reads discovery needs (ChainClient's). */
export interface RegistryReader {
  /** BondingManager's transcoder pool in order, with stakes. */
  transcoderPool(): Promise<{ address: string; totalStake: bigint }[]>;
  /** One orchestrator's rounds, stake and service URI. */
  transcoderInfo(address: `0x${string}`): Promise<{
    activationRound: bigint;
    deactivationRound: bigint;
    totalStake: bigint;
    serviceURI: string;
  }>;
}

/** The round the gateway works in, and its changes (the chain layer's RoundWatcher). */
export interface RoundSource {
  readonly state: { currentRound: bigint; lastInitializedRound: bigint };
  subscribe(
    handler: (
      state: { currentRound: bigint; lastInitializedRound: bigint },
      previous: { currentRound: bigint; lastInitializedRound: bigint } | null,
    ) => unknown,
  ): () => void;
}

/** Registry events that change the active set or a URI mid-round (the chain layer's BlockWatcher). */
export interface RegistryEvents {
  subscribe(handler: (event: { contract: string; eventName: string }) => unknown): () => void;
}

/** Options of OnChainOrchestrators. */
export interface OnChainOrchestratorsOptions {
  /**
   * Whether this list is where the gateway's candidates come from. False with -orchAddr or
   * -orchWebhookUrl (which take precedence, as in go-livepeer): the cache is still kept for the
   * stakes selection weighs, and refreshed in the background.
   */
  discovery: boolean;
  /** The node's own orchestrator in combined mode (always a candidate). */
  extra?: () => string[];
  maxAgeMs?: number;
  infoPollMs?: number;
}

/** Collaborators of OnChainOrchestrators. */
export interface OnChainOrchestratorsDeps {
  reader: RegistryReader;
  rounds: RoundSource;
  events?: RegistryEvents;
  /**
   * The cache: a store the caller owns, or a function opening one at start (closed at stop), so
   * a node that never starts holds no database handle.
   */
  store: OrchestratorStore | (() => { store: OrchestratorStore; close: () => void });
  logger: Logger;
  /** GetOrchestrator for prices (3 s); absent: prices come only from streams' discovery. */
  getInfo?: (uri: string) => Promise<OrchestratorInfo>;
  clock?: Clock;
}

/** A registered service URI as a gateway dials it (its origin), or null when it is not one. */
export function serviceUriOrigin(uri: string | null): string | null {
  if (!uri) return null;
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    return null;
  }
  if ((u.protocol !== "https:" && u.protocol !== "http:") || u.hostname === "") return null;
  if (u.username || u.password) return null;
  return u.origin;
}

/** Runs `fn` over `items` with at most `limit` in flight. */
async function eachLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * A gateway's orchestrators on a chain (go-livepeer discovery/db_discovery.go and the
 * orchestrator and service-URI watchers): BondingManager's transcoder pool with each member's
 * rounds, stake and ServiceRegistry URI, cached in SQLite, refreshed at start, on every new round
 * and on registry events. The candidates are the members active in the last initialised round,
 * refreshed within a day, with a usable URI; after a restart the cache serves until the chain
 * answers. Prices come from the orchestrators' GetOrchestrator answers.
 */
export class OnChainOrchestrators implements OrchestratorList, Service {
  readonly name = "onchain-orchestrators";
  private readonly unsubscribe: (() => void)[] = [];
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  private pollTimer: ClockTimer | null = null;
  private readonly badUris = new Set<string>();
  private lastRefreshOk: number | null = null;
  private db: OrchestratorStore | null = null;
  private closeDb: (() => void) | null = null;

  constructor(
    private readonly options: OnChainOrchestratorsOptions,
    private readonly deps: OnChainOrchestratorsDeps,
  ) {}

  private get clock(): Clock {
    return this.deps.clock ?? systemClock;
  }

  /**
   * Read the registry (awaited when this list is the candidates' source and the cache has none
   * to offer; in the background otherwise), then follow rounds and registry events.
   */
  async start(signal: AbortSignal): Promise<void> {
    this.stopped = false;
    if (!this.db) {
      const s = this.deps.store;
      if (typeof s === "function") {
        const opened = s();
        this.db = opened.store;
        this.closeDb = opened.close;
      } else this.db = s;
    }
    this.unsubscribe.push(
      this.deps.rounds.subscribe((state, prev) => {
        if (
          !prev ||
          state.currentRound !== prev.currentRound ||
          state.lastInitializedRound !== prev.lastInitializedRound
        )
          void this.refresh();
      }),
    );
    if (this.deps.events) {
      this.unsubscribe.push(
        this.deps.events.subscribe((e) => {
          const registry =
            (e.contract === "BondingManager" &&
              (e.eventName === "TranscoderActivated" || e.eventName === "TranscoderDeactivated")) ||
            (e.contract === "ServiceRegistry" && e.eventName === "ServiceURIUpdate");
          if (registry) void this.refresh();
        }),
      );
    }
    // Subscribed first: a round that turns while the first read runs is read again after it.
    const first = this.refresh();
    if (this.options.discovery && this.activeRows().length === 0) await first;
    // With -orchAddr or a webhook the registry is not where streams go: it is not polled.
    if (this.deps.getInfo && this.options.discovery) {
      void first.then(() => this.pollInfos());
      this.pollTimer = this.clock.setInterval(
        () => void this.pollInfos(),
        this.options.infoPollMs ?? ORCH_INFO_POLL_MS,
      );
      this.pollTimer.unref?.();
    }
    signal.addEventListener("abort", () => void this.stop(), { once: true });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const off of this.unsubscribe.splice(0)) off();
    if (this.pollTimer) this.clock.clearInterval(this.pollTimer);
    this.pollTimer = null;
    await this.running?.catch(() => {});
    this.closeDb?.();
    this.closeDb = null;
    this.db = null;
  }

  /** Re-read the registry now (one read at a time; a request during a read runs once after it). */
  refresh(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.readRegistry();
        } while (this.again && !this.stopped);
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }

  private async readRegistry(): Promise<void> {
    const { reader, logger } = this.deps;
    const store = this.db;
    if (!store) return;
    try {
      const members = await reader.transcoderPool();
      const inPool = new Set(members.map((m) => m.address.toLowerCase()));
      // Members, plus rows still believed active that left the pool (deactivated): re-read so
      // their deactivation round is stored.
      const round = this.round();
      const left = store
        .all()
        .filter(
          (r) => !inPool.has(r.ethereumAddr) && (r.deactivationRound === null || r.deactivationRound > round),
        )
        .map((r) => r.ethereumAddr);
      const addresses = [...inPool, ...left];
      await eachLimited(addresses, READ_CONCURRENCY, async (address) => {
        if (this.stopped) return;
        const t = await reader.transcoderInfo(address as `0x${string}`);
        store.upsert({
          ethereumAddr: address,
          serviceURI: t.serviceURI,
          activationRound: t.activationRound,
          deactivationRound: t.deactivationRound,
          stake: t.totalStake,
        });
      });
      this.lastRefreshOk = this.clock.now();
      logger.info(
        { pool: members.length, active: this.activeRows().length, round: round.toString() },
        "on-chain orchestrators refreshed",
      );
    } catch (err) {
      // The cached rows keep serving; the next round or registry event reads again.
      logger.warn(
        { err: errorMessage(err), cached: this.activeRows().length },
        "could not read the orchestrator registry; using the cached orchestrators",
      );
    }
  }

  /** go-livepeer's round for discovery: the last initialised one (tickets are made in it). */
  private round(): bigint {
    return this.deps.rounds.state.lastInitializedRound;
  }

  private activeRows(): OrchestratorRow[] {
    if (!this.db) return [];
    let round: bigint;
    try {
      round = this.round();
    } catch {
      return [];
    }
    const since = this.clock.now() - (this.options.maxAgeMs ?? ORCHESTRATOR_MAX_AGE_MS);
    return this.db.active(round, since);
  }

  /** Active rows with a usable service URI (those without one are logged once and skipped). */
  private usable(): { row: OrchestratorRow; uri: string }[] {
    const out: { row: OrchestratorRow; uri: string }[] = [];
    for (const row of this.activeRows()) {
      const uri = serviceUriOrigin(row.serviceURI);
      if (uri) {
        this.badUris.delete(row.ethereumAddr);
        out.push({ row, uri });
      } else if (!this.badUris.has(row.ethereumAddr)) {
        this.badUris.add(row.ethereumAddr);
        this.deps.logger.warn(
          { ethaddress: row.ethereumAddr, serviceURI: row.serviceURI ?? "" },
          "skipping an active orchestrator with no usable service URI",
        );
      }
    }
    return out;
  }

  async uris(): Promise<string[]> {
    return this.known();
  }

  known(): string[] {
    const extra = this.options.extra?.() ?? [];
    if (!this.options.discovery) return extra;
    const list: string[] = [];
    for (const { uri } of this.usable()) if (!list.includes(uri)) list.push(uri);
    return [...list, ...extra.filter((u) => !list.includes(u))];
  }

  /** Stakes (wei) of the orchestrators active now, by lower-case address: selection's weights. */
  stakes(): Map<string, bigint> {
    const out = new Map<string, bigint>();
    for (const r of this.activeRows()) out.set(r.ethereumAddr, r.stake ?? 0n);
    return out;
  }

  /** Record the price an orchestrator quoted (a GetOrchestrator answer from any stream's discovery). */
  observed(uri: string, info: OrchestratorInfo): void {
    const p = info.priceInfo;
    if (!p || p.pixelsPerUnit <= 0n || p.pricePerUnit < 0n) return;
    const row = this.usable().find((u) => u.uri === uri)?.row;
    if (!row) return;
    const price = Rat.of(p.pricePerUnit, p.pixelsPerUnit).ratString();
    if (row.pricePerPixel === price) return;
    this.db?.upsert({ ethereumAddr: row.ethereumAddr, pricePerPixel: price });
  }

  /** GetOrchestrator to every active orchestrator for its price (go-livepeer's cacheOrchInfos). */
  async pollInfos(): Promise<void> {
    const getInfo = this.deps.getInfo;
    if (!getInfo || this.stopped) return;
    const targets = this.usable();
    let timer: ClockTimer | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = this.clock.setTimeout(resolve, ORCH_INFO_TIMEOUT_MS);
    });
    const calls = targets.map(({ uri }) =>
      getInfo(uri).then(
        (info) => this.observed(uri, info),
        (err) =>
          this.deps.logger.debug({ orchestrator: uri, err: errorMessage(err) }, "GetOrchestrator failed"),
      ),
    );
    await Promise.race([Promise.all(calls), deadline]);
    if (timer) this.clock.clearTimeout(timer);
  }

  /** /status: every cached orchestrator with its URI, price, rounds, stake and whether it is used. */
  status(): Record<string, unknown>[] {
    const active = new Set(this.usable().map((u) => u.row.ethereumAddr));
    return (this.db?.all() ?? []).map((r) => ({
      Address: r.ethereumAddr,
      ServiceURI: r.serviceURI ?? "",
      PricePerPixel: r.pricePerPixel,
      ActivationRound: r.activationRound?.toString() ?? null,
      DeactivationRound: r.deactivationRound?.toString() ?? null,
      Stake: r.stake?.toString() ?? null,
      Active: active.has(r.ethereumAddr),
      UpdatedAt: new Date(r.updatedAt).toISOString(),
    }));
  }

  /** When the registry was last read successfully (ms), or null. */
  get refreshedAt(): number | null {
    return this.lastRefreshOk;
  }
}

/**
 * The pools' selection on a chain: stakes from the registry cache, the price ceiling from the
 * payments, skips logged once, prices reported back to the cache.
 */
export function chainSelection(
  algorithm: ProbabilitySelection,
  registry: Pick<OnChainOrchestrators, "stakes" | "observed">,
  maxPrice: () => Rat | null,
  logger: Logger,
  scores: () => ReadonlyMap<string, number> | null = () => null,
): PoolSelection {
  const once = new OnceLog(logger);
  return {
    choose: (candidates) => algorithm.select(candidates, registry.stakes(), maxPrice(), scores()),
    skipped: (uri, reason) => once.skipped(uri, reason),
    observed: (uri, info) => registry.observed(uri, info),
  };
}

/** What the gateway role needs from the chain layer for discovery (the started Chain's parts). */
export interface DiscoveryChain {
  readonly client: RegistryReader;
  readonly rounds: RoundSource;
  readonly blocks: RegistryEvents;
}

/**
 * The gateway's on-chain discovery for its role: the registry cache in the node's database
 * (opened at start) and the pools' selection with the -select* weights. `chain` is read only
 * once the node has started it.
 */
export function onChainDiscovery(
  chain: DiscoveryChain,
  options: OnChainOrchestratorsOptions & {
    datadir: string;
    weights: SelectionWeights;
    maxPrice: () => Rat | null;
    /** -ignoreMaxPriceIfNeeded and -minPerfScore. */
    filters?: SelectionFilters;
    /** The perf scores by lower-case address (-orchPerfStatsUrl), or null. */
    scores?: () => ReadonlyMap<string, number> | null;
    getInfo?: (uri: string) => Promise<OrchestratorInfo>;
  },
  logger: Logger,
): { registry: OnChainOrchestrators; selection: PoolSelection } {
  const registry = new OnChainOrchestrators(options, {
    reader: {
      transcoderPool: () => chain.client.transcoderPool(),
      transcoderInfo: (address) => chain.client.transcoderInfo(address),
    },
    rounds: {
      get state() {
        return chain.rounds.state;
      },
      subscribe: (handler) => chain.rounds.subscribe(handler),
    },
    events: { subscribe: (handler) => chain.blocks.subscribe(handler) },
    store: () => {
      const db = openDatabase(options.datadir);
      try {
        return { store: OrchestratorStore.open(db), close: () => closeDatabase(db) };
      } catch (err) {
        closeDatabase(db);
        throw err;
      }
    },
    logger,
    getInfo: options.getInfo,
  });
  const algorithm = new ProbabilitySelection(options.weights, { logger }, options.filters);
  return {
    registry,
    selection: chainSelection(algorithm, registry, options.maxPrice, logger, options.scores),
  };
}
