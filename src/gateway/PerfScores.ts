import { errorMessage } from "../errors/LpError.js";
import type { HttpClient } from "../http/client.js";
import type { Logger } from "../logger/logger.js";
import { type Clock, type ClockTimer, systemClock } from "../utils/clock.js";

/** go-livepeer's RefreshPerfScoreInterval. */
export const PERF_SCORE_REFRESH_MS = 10 * 60 * 1000;
/** One fetch of the scores, from the call to the last byte. */
export const PERF_SCORE_TIMEOUT_MS = 5000;
/** The scores' answer is untrusted: larger answers are refused. */
export const PERF_SCORE_MAX_BYTES = 4 * 1024 * 1024;
/** Addresses kept from one answer at most. */
const MAX_SCORES = 100_000;

/**
 * The perf scores of one region from a -orchPerfStatsUrl answer
 * (`{"<ethAddr>": {"<REGION>": {"score": n, ...}}}`), by lower-case address. Entries that are not
 * an address with a finite numeric score for the region are skipped; an answer that is not a
 * JSON object throws.
 */
export function parsePerfScores(body: string, region: string): Map<string, number> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    // Node's message quotes the body, which is not ours to log.
    throw new Error("perf stats answer is not valid JSON");
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))
    throw new Error("perf stats answer is not a JSON object");
  const key = region.toUpperCase();
  const scores = new Map<string, number>();
  for (const [addr, regions] of Object.entries(parsed as Record<string, unknown>)) {
    if (scores.size >= MAX_SCORES) break;
    if (!/^0x[0-9a-fA-F]{40}$/.test(addr)) continue;
    if (regions === null || typeof regions !== "object") continue;
    const entry = (regions as Record<string, unknown>)[key];
    if (entry === null || typeof entry !== "object") continue;
    const score = (entry as Record<string, unknown>).score;
    if (typeof score !== "number" || !Number.isFinite(score)) continue;
    scores.set(addr.toLowerCase(), score);
  }
  return scores;
}

/**
 * The gateway's orchestrator perf scores (go-livepeer starter.go refreshOrchPerfScoreLoop): GET
 * -orchPerfStatsUrl at start and every 10 minutes, reading -region's scores; a failed fetch
 * (timeout, error status, oversize or garbage answer) keeps the last good scores.
 */
export class PerfScores {
  private current = new Map<string, number>();
  private timer: ClockTimer | null = null;
  private inflight: Promise<void> | null = null;
  private signal: AbortSignal | undefined;

  constructor(
    private readonly options: {
      url: string;
      region: string;
      refreshMs?: number;
      /** Defaults: PERF_SCORE_TIMEOUT_MS and PERF_SCORE_MAX_BYTES. */
      timeoutMs?: number;
      maxBytes?: number;
    },
    private readonly deps: {
      http: Pick<HttpClient, "request">;
      logger: Logger;
      clock?: Clock;
    },
  ) {}

  /** The last good scores by lower-case address (empty until a fetch succeeds). */
  scores(): ReadonlyMap<string, number> {
    return this.current;
  }

  /**
   * Fetch once now and every refresh interval after. Start waits for the first answer (at most
   * the 5 s timeout, never failing) so that the first stream is already selected by score.
   */
  async start(signal?: AbortSignal): Promise<void> {
    this.signal = signal;
    await this.refresh();
    const clock = this.deps.clock ?? systemClock;
    this.timer = clock.setInterval(
      () => void this.refresh(),
      this.options.refreshMs ?? PERF_SCORE_REFRESH_MS,
    );
    this.timer.unref?.();
  }

  /** Stop refreshing; idempotent. */
  async stop(): Promise<void> {
    if (this.timer) (this.deps.clock ?? systemClock).clearInterval(this.timer);
    this.timer = null;
  }

  /** One fetch (at most one at a time); errors are logged and the last scores kept. */
  refresh(): Promise<void> {
    this.inflight ??= this.fetch().finally(() => {
      this.inflight = null;
    });
    return this.inflight;
  }

  private async fetch(): Promise<void> {
    try {
      const res = await this.deps.http.request(this.options.url, {
        timeoutMs: this.options.timeoutMs ?? PERF_SCORE_TIMEOUT_MS,
        maxResponseBytes: this.options.maxBytes ?? PERF_SCORE_MAX_BYTES,
        signal: this.signal,
        timeoutText: "perf stats request timed out",
      });
      if (res.status < 200 || res.status >= 300)
        throw new Error(`perf stats returned HTTP status ${res.status}`);
      this.current = parsePerfScores(res.body.toString("utf8"), this.options.region);
      this.deps.logger.debug({ orchestrators: this.current.size }, "orchestrator perf scores updated");
    } catch (err) {
      // The URL is not ours: never echo its body; the error text is ours or undici's.
      this.deps.logger.warn(
        { err: errorMessage(err), cached: this.current.size },
        "unable to fetch orchestrator perf scores; keeping the last ones",
      );
    }
  }
}
