import { Agent, Pool } from "undici";
import { LpError } from "../errors/LpError.js";
import { MAX_SEGMENT_BYTES } from "../protocol/constants.js";

/** go-livepeer's common.HTTPDialTimeout: the TCP and TLS handshake together. */
export const CONNECT_TIMEOUT_MS = 2000;
/** Idle keep-alive of a pooled connection (go-livepeer's transport: 1 min). */
const IDLE_TIMEOUT_MS = 60_000;
/** Streams one HTTP/2 session carries at once before the pool opens a second connection. */
const H2_STREAMS_PER_CONNECTION = 100;
/** How long close() lets requests in flight finish before it cuts them. */
const CLOSE_GRACE_MS = 2000;

/** Why an outgoing request failed: HTTP_TIMEOUT, HTTP_TOO_LARGE, HTTP_ABORTED or HTTP_FAILED. */
export class HttpClientError extends LpError {
  constructor(code: "HTTP_TIMEOUT" | "HTTP_TOO_LARGE" | "HTTP_ABORTED" | "HTTP_FAILED", message: string) {
    super(code, message, { retryable: code !== "HTTP_ABORTED" });
  }
}

/** One outgoing request. */
export interface HttpRequest {
  method?: "GET" | "POST" | "PUT" | "DELETE";
  headers?: Record<string, string>;
  body?: Buffer | string;
  /** The whole request, from the call to the last byte of the answer. */
  timeoutMs: number;
  /** Until the answer's headers arrive (go-livepeer's upload timeout); none when unset. */
  headersTimeoutMs?: number;
  /** Larger answers fail with HTTP_TOO_LARGE (default: the client's cap). */
  maxResponseBytes?: number;
  signal?: AbortSignal;
  /** Texts used in timeout errors (the callers' wording, e.g. "segment upload timed out"). */
  timeoutText?: string;
  headersTimeoutText?: string;
}

/** A whole answer (any status; callers decide what a non-2xx means). */
export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface HttpClientOptions {
  /**
   * Skip certificate verification: true for orchestrators (they present fresh self-signed
   * certificates, and go-livepeer's gateway and transcoder skip the check too), false for
   * webhooks and anything else on the open web.
   */
  insecureTls: boolean;
  /** Offer HTTP/2 in ALPN (one multiplexed session per origin); default true. */
  allowH2?: boolean;
  connectTimeoutMs?: number;
  /** Default answer cap; MAX_SEGMENT_BYTES unless given. */
  maxResponseBytes?: number;
}

/**
 * The node's one outgoing HTTP client (gateway -> orchestrator, transcoder -> orchestrator,
 * webhooks): undici with one connection pool per origin, so consecutive segments to an
 * orchestrator reuse one TLS session and HTTP/2 connection instead of a handshake each; a
 * 2 s connect timeout, per-request whole and headers timeouts, an answer size cap, an
 * AbortSignal, and close() for shutdown.
 */
export class HttpClient {
  private readonly agent: Agent;
  private readonly maxResponseBytes: number;
  private closed = false;

  constructor(options: HttpClientOptions) {
    this.maxResponseBytes = options.maxResponseBytes ?? MAX_SEGMENT_BYTES;
    this.agent = new Agent({
      allowH2: options.allowH2 ?? true,
      connect: {
        timeout: options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS,
        rejectUnauthorized: !options.insecureTls,
      },
      keepAliveTimeout: IDLE_TIMEOUT_MS,
      keepAliveMaxTimeout: IDLE_TIMEOUT_MS,
      // Our own timers bound each request; undici's per-socket ones would only race them.
      headersTimeout: 0,
      bodyTimeout: 0,
      // TLS origins negotiate HTTP/2: many requests ride one session. Plain http:// stays
      // HTTP/1.1 without pipelining, one request per connection at a time.
      factory: (origin, opts) =>
        new Pool(origin, {
          ...opts,
          pipelining: new URL(String(origin)).protocol === "https:" ? H2_STREAMS_PER_CONNECTION : 1,
        }),
    });
  }

  /** Send one request and read the whole answer (bounded by maxResponseBytes and timeoutMs). */
  async request(url: string, req: HttpRequest): Promise<HttpResponse> {
    if (this.closed) throw new HttpClientError("HTTP_ABORTED", "HTTP client is closed");
    const u = new URL(url);
    const cap = req.maxResponseBytes ?? this.maxResponseBytes;
    const ac = new AbortController();
    const fail = (err: HttpClientError) => {
      if (!ac.signal.aborted) ac.abort(err);
    };
    const whole = setTimeout(
      () => fail(new HttpClientError("HTTP_TIMEOUT", req.timeoutText ?? `request to ${u.origin} timed out`)),
      req.timeoutMs,
    );
    const headersTimer =
      req.headersTimeoutMs === undefined
        ? null
        : setTimeout(
            () =>
              fail(
                new HttpClientError(
                  "HTTP_TIMEOUT",
                  req.headersTimeoutText ?? `no answer from ${u.origin} in time`,
                ),
              ),
            req.headersTimeoutMs,
          );
    const onAbort = () => fail(new HttpClientError("HTTP_ABORTED", `request to ${u.origin} was cancelled`));
    if (req.signal?.aborted) onAbort();
    req.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      const res = await this.agent.request({
        origin: u.origin,
        path: `${u.pathname}${u.search}`,
        method: req.method ?? "GET",
        headers: req.headers,
        body: req.body,
        signal: ac.signal,
        // Lets concurrent segments share one HTTP/2 session: undici otherwise holds a POST
        // back until the connection is idle and opens another connection meanwhile.
        idempotent: u.protocol === "https:",
      });
      if (headersTimer) clearTimeout(headersTimer);
      const declared = Number(res.headers["content-length"] ?? Number.NaN);
      if (declared > cap) {
        res.body.destroy();
        throw new HttpClientError("HTTP_TOO_LARGE", `answer from ${u.origin} is larger than ${cap} bytes`);
      }
      const chunks: Buffer[] = [];
      let total = 0;
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        total += chunk.length;
        if (total > cap) {
          res.body.destroy();
          throw new HttpClientError("HTTP_TOO_LARGE", `answer from ${u.origin} is larger than ${cap} bytes`);
        }
        chunks.push(chunk);
      }
      return { status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) };
    } catch (err) {
      if (ac.signal.aborted && ac.signal.reason instanceof HttpClientError) throw ac.signal.reason;
      if (err instanceof HttpClientError) throw err;
      throw new HttpClientError("HTTP_FAILED", describe(err, u.origin));
    } finally {
      clearTimeout(whole);
      if (headersTimer) clearTimeout(headersTimer);
      req.signal?.removeEventListener("abort", onAbort);
    }
  }

  /** Stop taking requests, let those in flight finish for a moment, then cut the connections. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<"late">((resolve) => {
      timer = setTimeout(() => resolve("late"), CLOSE_GRACE_MS);
    });
    const outcome = await Promise.race([this.agent.close().then(() => "done" as const), grace]);
    clearTimeout(timer);
    if (outcome === "late") await this.agent.destroy();
  }
}

/** A one-line reason from undici's and Node's network errors (the cause holds the useful code). */
function describe(err: unknown, origin: string): string {
  const e = err as { message?: string; code?: string; cause?: { message?: string; code?: string } };
  const cause = e.cause?.message ?? "";
  const text = e.message && e.message !== "fetch failed" ? e.message : cause || String(err);
  return `${origin}: ${text}${cause && !text.includes(cause) ? ` (${cause})` : ""}`;
}
