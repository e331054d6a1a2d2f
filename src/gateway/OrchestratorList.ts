import { errorMessage } from "../errors/LpError.js";
import type { HttpClient } from "../http/client.js";
import type { Logger } from "../logger/logger.js";

/** go-livepeer's WebhookDiscoveryRefreshInterval and webhook HTTP timeout. */
export const WEBHOOK_REFRESH_MS = 60_000;
const WEBHOOK_TIMEOUT_MS = 3000;
const WEBHOOK_MAX_BYTES = 4 * 1024 * 1024;

/** Where a gateway's candidate orchestrators come from. */
export interface OrchestratorList {
  /** The current candidates (may call out; never throws once it has had a good answer). */
  uris(): Promise<string[]>;
  /** The last candidates known, without calling out (for /status). */
  known(): string[];
}

/** `list` plus the entries of `extra` it does not have. */
function merged(list: string[], extra: string[]): string[] {
  return [...list, ...extra.filter((u) => !list.includes(u))];
}

/**
 * -orchAddr: a fixed list, plus `extra` (the node's own orchestrator in combined mode, read
 * when asked so that a port bound at start is the one used).
 */
export class StaticOrchestrators implements OrchestratorList {
  constructor(
    private readonly list: string[],
    private readonly extra: () => string[] = () => [],
  ) {}
  async uris(): Promise<string[]> {
    return this.known();
  }
  known(): string[] {
    return merged(this.list, this.extra());
  }
}

/**
 * The body of an -orchWebhookUrl answer (go-livepeer discovery/wh_discovery.go): a JSON array
 * of {"address": "<absolute URL>", "score": n}; entries without an address or with one that is
 * not an absolute http(s) URL are skipped. Returns origins.
 */
export function parseWebhookBody(text: string): string[] {
  const parsed: unknown = JSON.parse(text);
  if (!Array.isArray(parsed)) throw new Error("orchestrator webhook did not return a JSON array");
  const out: string[] = [];
  for (const e of parsed) {
    const address = (e as { address?: unknown } | null)?.address;
    if (typeof address !== "string" || address === "") continue;
    let u: URL;
    try {
      u = new URL(address);
    } catch {
      continue;
    }
    if (u.protocol !== "https:" && u.protocol !== "http:") continue;
    if (!out.includes(u.origin)) out.push(u.origin);
  }
  return out;
}

/**
 * -orchWebhookUrl: GET the URL (3 s timeout) at most once a minute, on demand; a failed or
 * malformed answer keeps the last good list. `extra` (the node's own orchestrator in combined
 * mode) is always included.
 */
export class WebhookOrchestrators implements OrchestratorList {
  private list: string[] | null = null;
  private fetchedAt = 0;
  private lastBody = "";
  private inflight: Promise<string[]> | null = null;

  constructor(
    private readonly url: string,
    private readonly extra: () => string[],
    private readonly deps: {
      logger: Logger;
      http: HttpClient;
      now?: () => number;
      refreshMs?: number;
      /** Sent on every request (a remote signer's discovery gets -remoteSignerHeaders). */
      headers?: Record<string, string>;
    },
  ) {}

  known(): string[] {
    return merged(this.list ?? [], this.extra());
  }

  async uris(): Promise<string[]> {
    const now = this.deps.now?.() ?? Date.now();
    if (this.list && now - this.fetchedAt < (this.deps.refreshMs ?? WEBHOOK_REFRESH_MS)) return this.known();
    this.inflight ??= this.fetchList().finally(() => {
      this.inflight = null;
    });
    return this.inflight;
  }

  private async fetchList(): Promise<string[]> {
    try {
      const res = await this.deps.http.request(this.url, {
        headers: this.deps.headers,
        timeoutMs: WEBHOOK_TIMEOUT_MS,
        maxResponseBytes: WEBHOOK_MAX_BYTES,
        timeoutText: "orchestrator webhook timed out",
      });
      if (res.status < 200 || res.status >= 300)
        throw new Error(`orchestrator webhook returned HTTP status ${res.status}`);
      const text = res.body.toString("utf8");
      if (text !== this.lastBody || !this.list) {
        this.list = parseWebhookBody(text);
        this.lastBody = text;
        this.deps.logger.info({ orchestrators: this.list.length }, "orchestrator webhook list updated");
      }
      this.fetchedAt = this.deps.now?.() ?? Date.now();
    } catch (err) {
      // Keep the last good list; with none yet, only the extra orchestrators are left.
      this.deps.logger.warn(
        { err: errorMessage(err), cached: this.list?.length ?? 0 },
        "Unable to refresh orchestrator webhook; using cached orchestrator list",
      );
    }
    return this.known();
  }
}
