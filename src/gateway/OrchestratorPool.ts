import { errorMessage } from "../errors/LpError.js";
import type { Logger } from "../logger/logger.js";
import type { GatewayPayments, PaymentSession } from "../payments/GatewayPayments.js";
import { capabilitiesCompatible, legacyOnly } from "../protocol/capabilities.js";
import { DEFAULT_ORCHESTRATOR_PORT } from "../protocol/constants.js";
import type { Capabilities, OrchestratorInfo } from "../protocol/gen/lp_rpc_pb.js";
import { type Clock, type ClockTimer, systemClock } from "../utils/clock.js";
import type { OrchestratorClient } from "./OrchestratorClient.js";
import type { OrchestratorList } from "./OrchestratorList.js";
import type { SelectionCandidate } from "./selection.js";

/** go-livepeer's cap on the discovery wait (maxGetOrchestratorCutoffTimeout). */
const MAX_DISCOVERY_WAIT_MS = 6000;
/** Sessions wanted at most (go-livepeer: 2 x HTTPTimeout / SegLen). */
const MAX_SESSIONS = 8;
/** Rediscover in the background at least this often while some candidates are unused. */
const BACKGROUND_REFRESH_MS = 60_000;
/** Refresh an auth token this long before it expires (the last 10 % of 30 min). */
const TOKEN_REFRESH_MARGIN_S = 180;

/** acceptPayment's answer for an orchestrator refused only for a price above the ceiling. */
const ABOVE_MAX = Symbol("above max price");

/** One orchestrator the gateway can use. */
export interface OrchSession {
  uri: string;
  info: OrchestratorInfo;
  latencyMs: number;
  /** Segments ok / failed through it. */
  ok: number;
  failed: number;
  /** On a chain: its ticket session, price pinned at discovery and balance. */
  payment?: PaymentSession;
}

/**
 * How a pool on a chain picks among orchestrators it has not used yet (go-livepeer's MinLSSelector
 * with a stake reader), and what it reports back to the on-chain registry cache.
 */
export interface PoolSelection {
  /** The chosen candidate's address (go-livepeer's ProbabilitySelectionAlgorithm), null for none. */
  choose(candidates: SelectionCandidate[]): string | null;
  /** An orchestrator skipped at discovery (logged once per reason across every stream). */
  skipped(uri: string, reason: string): void;
  /** A GetOrchestrator answer (the registry cache records its price). */
  observed(uri: string, info: OrchestratorInfo): void;
}

/** The ticket recipient of a session, lower case (go-livepeer selects by recipient address). */
function recipientOf(s: OrchSession): string {
  if (s.payment) return s.payment.recipient.toLowerCase();
  const raw = s.info.ticketParams?.recipient ?? s.info.address;
  return `0x${Buffer.from(raw).toString("hex")}`;
}

/** The price a session's OrchestratorInfo quotes, or null. */
function priceOf(info: OrchestratorInfo): SelectionCandidate["price"] {
  const p = info.priceInfo;
  return p && p.pixelsPerUnit > 0n ? { pricePerUnit: p.pricePerUnit, pixelsPerUnit: p.pixelsPerUnit } : null;
}

/**
 * -orchAddr entries as go-livepeer reads them: host:port (8935 by default), https:// added unless
 * the entry starts with http.
 */
export function parseOrchAddrs(value: string): string[] {
  return value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry) => {
      const withScheme = /^https?:\/\//.test(entry) ? entry : `https://${entry}`;
      const u = new URL(withScheme);
      if (!u.port) u.port = String(DEFAULT_ORCHESTRATOR_PORT);
      return u.origin;
    });
}

/**
 * The gateway's orchestrators (go-livepeer discovery/discovery.go and server/broadcast.go
 * SessionPool, offchain): discovery fans out GetOrchestrator with a growing wait, keeps
 * compatible answers sorted by latency, and suspends failing orchestrators for a number of
 * refreshes counted from now (go-livepeer stores an absolute count, so its suspensions fade
 * out after a few refreshes).
 */
export class OrchestratorPool {
  private readonly sessions = new Map<string, OrchSession>();
  /** uri -> refresh count until which it is suspended. */
  private readonly suspended = new Map<string, number>();
  private refreshes = 0;
  private refreshing: Promise<void> | null = null;
  private lastRefresh = 0;
  private candidates = 0;
  /** Whether this pool said once that it uses orchestrators above the price ceiling. */
  private toldAboveMax = false;

  constructor(
    private readonly options: {
      list: OrchestratorList;
      caps: Capabilities;
      discoveryTimeoutMs: number;
      blocklist?: string[];
      /** On a chain: stake, price and random weights for orchestrators not used yet; null offchain. */
      selection?: PoolSelection | null;
      /** -extraNodes: advertised `nodes` queried per answering orchestrator (one level deep). */
      extraNodes?: number;
      /** -ignoreMaxPriceIfNeeded: when no orchestrator is under the ceiling, use those above it. */
      ignoreMaxPriceIfNeeded?: boolean;
    },
    private readonly deps: {
      client: Pick<OrchestratorClient, "getInfo">;
      logger: Logger;
      /** Time for latencies, token expiry, background refreshes and the discovery wait. */
      clock?: Clock;
      /** On a chain: checks each orchestrator's price and ticket params and starts its payment session. */
      payments?:
        | (Pick<GatewayPayments, "refusal" | "startSession" | "endSession"> &
            Partial<Pick<GatewayPayments, "aboveMaxPrice">>)
        | null;
    },
  ) {}

  private get clock(): Clock {
    return this.deps.clock ?? systemClock;
  }

  get known(): OrchSession[] {
    return [...this.sessions.values()];
  }

  isSuspended(uri: string): boolean {
    const until = this.suspended.get(uri);
    if (until === undefined) return false;
    if (this.refreshes >= until) {
      this.suspended.delete(uri);
      return false;
    }
    return true;
  }

  /** Suspend for `penalty` refreshes from now and drop the session. */
  suspend(uri: string, penalty = 1): void {
    this.suspended.set(uri, this.refreshes + penalty);
    const s = this.sessions.get(uri);
    if (s?.payment) this.deps.payments?.endSession(s.payment);
    this.sessions.delete(uri);
  }

  /** End every payment session (the stream ended). */
  endPayments(): void {
    for (const s of this.sessions.values()) if (s.payment) this.deps.payments?.endSession(s.payment);
  }

  suspendedList(): string[] {
    return [...this.suspended.keys()].filter((u) => this.isSuspended(u));
  }

  /** Discover (once at a time): query every orchestrator not already known, with the growing wait. */
  refresh(): Promise<void> {
    if (!this.refreshing) {
      this.refreshing = this.discover().finally(() => {
        this.refreshing = null;
      });
    }
    return this.refreshing;
  }

  private async discover(): Promise<void> {
    this.refreshes += 1;
    this.lastRefresh = this.now();
    const all = await this.options.list.uris();
    this.candidates = all.length;
    const candidates = all.filter((u) => !this.sessions.has(u));
    if (candidates.length === 0) return;
    const started = this.now();
    let accepted = 0;
    let answered = 0;
    let queried = 0;
    // Every URI asked in this round (advertised nodes are asked once, and never an entry again).
    const seen = new Set<string>([...all, ...this.sessions.keys()]);
    // -ignoreMaxPriceIfNeeded: answers refused only for their price, used when nothing else is.
    const aboveMax: { uri: string; info: OrchestratorInfo; latencyMs: number }[] = [];
    await new Promise<void>((resolve) => {
      let wait = this.options.discoveryTimeoutMs;
      let waited = 0;
      let timer: ClockTimer;
      const arm = () => {
        timer = this.clock.setTimeout(() => {
          waited += wait;
          if (accepted > 0 || waited >= MAX_DISCOVERY_WAIT_MS) resolve();
          else {
            wait = Math.min(wait * 2, MAX_DISCOVERY_WAIT_MS - waited);
            arm();
          }
        }, wait);
      };
      arm();
      const query = (uri: string, level: number) => {
        queried += 1;
        const t0 = this.now();
        this.deps.client
          .getInfo(uri, this.options.caps, MAX_DISCOVERY_WAIT_MS)
          .then(async (info) => {
            const latencyMs = this.now() - t0;
            if (level === 0) for (const node of this.extraNodesOf(uri, info, seen)) query(node, 1);
            this.options.selection?.observed(uri, info);
            if (!this.accept(uri, info)) return;
            const payment = await this.acceptPayment(uri, info);
            if (payment === ABOVE_MAX) {
              aboveMax.push({ uri, info, latencyMs });
              return;
            }
            if (payment === null) return;
            this.sessions.set(uri, { uri, info, latencyMs, ok: 0, failed: 0, payment });
            accepted += 1;
          })
          .catch((err) =>
            this.deps.logger.warn({ orchestrator: uri, err: errorMessage(err) }, "discovery failed"),
          )
          .finally(() => {
            answered += 1;
            if (answered === queried) {
              this.clock.clearTimeout(timer);
              resolve();
            }
          });
      };
      for (const uri of candidates) query(uri, 0);
    });
    if (this.sessions.size === 0 && aboveMax.length > 0) this.useAboveMax(aboveMax);
    this.deps.logger.debug(
      {
        orchs: this.sessions.size,
        responses: answered,
        candidates: queried,
        ms: Math.round(this.now() - started),
      },
      "done fetching orch info",
    );
  }

  /**
   * -extraNodes: up to that many of the `nodes` an orchestrator advertises that nobody asked yet in
   * this discovery (go-livepeer follows them one level deep only). Entries that are not URLs are
   * skipped: the list comes from the network.
   */
  private extraNodesOf(uri: string, info: OrchestratorInfo, seen: Set<string>): string[] {
    const max = this.options.extraNodes ?? 0;
    if (max <= 0 || info.nodes.length === 0) return [];
    const out: string[] = [];
    for (const raw of info.nodes) {
      if (out.length >= max) break;
      let node: string;
      try {
        node = parseOrchAddrs(raw)[0] ?? "";
      } catch {
        node = "";
      }
      if (node === "" || raw.includes(",") || seen.has(node)) continue;
      seen.add(node);
      out.push(node);
    }
    if (out.length > 0)
      this.deps.logger.debug({ orchestrator: uri, nodes: out }, "querying advertised nodes");
    return out;
  }

  /** -ignoreMaxPriceIfNeeded with nothing under the ceiling: start sessions with those above it. */
  private useAboveMax(list: { uri: string; info: OrchestratorInfo; latencyMs: number }[]): void {
    const payments = this.deps.payments;
    if (!payments) return;
    if (!this.toldAboveMax) {
      this.toldAboveMax = true;
      this.deps.logger.warn(
        { orchestrators: list.map((o) => o.uri) },
        "no orchestrator is priced at or under -maxPricePerUnit; -ignoreMaxPriceIfNeeded uses those above it",
      );
    }
    for (const { uri, info, latencyMs } of list) {
      try {
        const payment = payments.startSession(uri, info);
        this.sessions.set(uri, { uri, info, latencyMs, ok: 0, failed: 0, payment });
      } catch (err) {
        this.deps.logger.warn({ orchestrator: uri, reason: errorMessage(err) }, "skipping orchestrator");
      }
    }
  }

  private accept(uri: string, info: OrchestratorInfo): boolean {
    if (info.transcoder === "" || !info.authToken) return false;
    const addr = Buffer.from(info.address).toString("hex").toLowerCase();
    if ((this.options.blocklist ?? []).some((b) => b.toLowerCase().replace(/^0x/, "") === addr)) return false;
    if (!info.capabilities) return legacyOnly(this.options.caps);
    if (!capabilitiesCompatible(this.options.caps, info.capabilities)) {
      this.deps.logger.info({ orchestrator: uri }, "orchestrator lacks the job's capabilities");
      return false;
    }
    return true;
  }

  /**
   * On a chain: the orchestrator's payment session, or null when it is skipped (no ticket params,
   * a price above -maxPricePerUnit, params that fail the sender's checks), or ABOVE_MAX when only
   * its price is refused and -ignoreMaxPriceIfNeeded may still use it. Offchain: undefined.
   */
  private async acceptPayment(
    uri: string,
    info: OrchestratorInfo,
  ): Promise<PaymentSession | undefined | null | typeof ABOVE_MAX> {
    const payments = this.deps.payments;
    if (!payments) return undefined;
    const why = await payments.refusal(info);
    // Refused only for its price: kept aside in case no orchestrator is under the ceiling.
    if (
      why &&
      this.options.ignoreMaxPriceIfNeeded &&
      payments.aboveMaxPrice?.(info) &&
      (await payments.refusal(info, { ignoreMaxPrice: true })) === null
    )
      return ABOVE_MAX;
    if (why) {
      if (this.options.selection) this.options.selection.skipped(uri, why);
      else this.deps.logger.warn({ orchestrator: uri, reason: why }, "skipping orchestrator");
      return null;
    }
    try {
      return payments.startSession(uri, info);
    } catch (err) {
      this.deps.logger.warn({ orchestrator: uri, reason: errorMessage(err) }, "skipping orchestrator");
      return null;
    }
  }

  /**
   * A session for the next attempt: the last one while it works; else, on a chain, one not used
   * yet drawn by stake, price and chance (go-livepeer's selectUnknownSession); else the lowest
   * latency not suspended and not excluded. Refreshes discovery when nothing is left.
   */
  async select(exclude: Set<string>, last: string | null): Promise<OrchSession | null> {
    const pick = () => {
      if (last && !exclude.has(last) && this.sessions.has(last) && !this.isSuspended(last))
        return this.sessions.get(last)!;
      const usable = [...this.sessions.values()].filter(
        (s) => !exclude.has(s.uri) && !this.isSuspended(s.uri),
      );
      const byLatency = (list: OrchSession[]) => list.sort((a, b) => a.latencyMs - b.latencyMs)[0] ?? null;
      const selection = this.options.selection;
      if (!selection) return byLatency(usable);
      const unused = usable.filter((s) => s.ok + s.failed === 0);
      if (unused.length > 0) {
        const chosen = selection.choose(
          unused.map((s) => ({ address: recipientOf(s), price: priceOf(s.info) })),
        );
        const s = chosen === null ? undefined : unused.find((u) => recipientOf(u) === chosen);
        if (s) return s;
      }
      // None unused (or none acceptable): those already used, by latency.
      return byLatency(usable.filter((s) => s.ok + s.failed > 0));
    };
    let s = pick();
    if (!s) {
      await this.refresh();
      s = pick();
    } else if (this.wantsRefresh()) {
      // Top up in the background (go-livepeer: fewer than min(8, half the candidates) usable).
      void this.refresh();
    }
    if (s) await this.refreshTokenIfNeeded(s);
    return s && this.sessions.has(s.uri) ? s : null;
  }

  private now(): number {
    return this.clock.now();
  }

  /** Few usable sessions, or unused candidates and a minute since the last discovery. */
  private wantsRefresh(): boolean {
    if (this.refreshing) return false;
    const usable = [...this.sessions.keys()].filter((u) => !this.isSuspended(u)).length;
    if (usable < Math.min(MAX_SESSIONS, Math.ceil(this.candidates / 2))) return true;
    return this.sessions.size < this.candidates && this.now() - this.lastRefresh > BACKGROUND_REFRESH_MS;
  }

  /** New GetOrchestrator (2.5 s) when the auth token is in its last 3 minutes. */
  private async refreshTokenIfNeeded(s: OrchSession): Promise<void> {
    const now = this.now() / 1000;
    const exp = Number(s.info.authToken?.expiration ?? 0n);
    if (now <= exp - TOKEN_REFRESH_MARGIN_S) return;
    try {
      s.info = await this.deps.client.getInfo(s.uri, this.options.caps, 2500);
      // A new token is a new orchestrator session: a new balance and ticket session go with it.
      if (s.payment && this.deps.payments) {
        this.deps.payments.endSession(s.payment);
        s.payment = this.deps.payments.startSession(s.uri, s.info);
      }
    } catch (err) {
      this.deps.logger.warn({ orchestrator: s.uri, err: errorMessage(err) }, "auth token refresh failed");
      this.suspend(s.uri);
    }
  }

  /** A fresh OrchestratorInfo for a session in use (its ticket params expired); returns it. */
  async refreshInfo(s: OrchSession): Promise<OrchestratorInfo> {
    const info = await this.deps.client.getInfo(s.uri, this.options.caps, 2500);
    s.info = info;
    return info;
  }

  /** Apply the OrchestratorInfo a segment reply carried. */
  update(uri: string, info: OrchestratorInfo | undefined): void {
    const s = this.sessions.get(uri);
    if (s && info?.authToken) s.info = info;
  }
}
