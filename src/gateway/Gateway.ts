import { errorMessage, isLpError, LpError } from "../errors/LpError.js";
import type { Logger } from "../logger/logger.js";
import { formatInfo } from "../media/profiles.js";
import type { GatewayPayments, SegmentPaymentHandle } from "../payments/GatewayPayments.js";
import { MIME_MP4, MIME_MPEGTS } from "../protocol/constants.js";
import type { Capabilities, OrchestratorInfo } from "../protocol/gen/lp_rpc_pb.js";
import type { ProfileSpec } from "../protocol/profiles.js";
import type { MemoryStore } from "../storage/MemoryStore.js";
import { type Clock, type ClockTimer, systemClock } from "../utils/clock.js";
import { jobCapabilities, type OrchestratorClient, SubmitError } from "./OrchestratorClient.js";
import type { OrchestratorList } from "./OrchestratorList.js";
import { OrchestratorPool, type OrchSession, type PoolSelection } from "./OrchestratorPool.js";
import { StreamPlaylists } from "./Playlists.js";
import type { StreamAuth } from "./StreamAuth.js";

/** go-livepeer's httpPushTimeout: a pushed stream with no segment for this long ends. */
export const STREAM_IDLE_MS = 60_000;
/** Ended streams stay readable this long (go-livepeer drops them at once). */
export const ENDED_RETENTION_MS = 60_000;

export interface GatewayOptions {
  profiles: ProfileSpec[];
  /** Candidate orchestrators (-orchAddr list or -orchWebhookUrl). */
  orchestrators: OrchestratorList;
  maxAttempts: number;
  maxStreams: number;
  discoveryTimeoutMs: number;
  blocklist: string[];
  minVersion: string;
  /** On a chain: go-livepeer's stake/price/random selection for every stream's pool. */
  selection?: PoolSelection | null;
  /** -extraNodes: advertised `nodes` followed per orchestrator (one level deep); default 0. */
  extraNodes?: number;
  /** On a chain: -ignoreMaxPriceIfNeeded. */
  ignoreMaxPriceIfNeeded?: boolean;
  streamIdleMs?: number;
  endedRetentionMs?: number;
}

/** One live stream: its playlists, profiles, pool and counters. */
export interface Stream {
  manifestId: string;
  /** How the stream arrives. */
  ingest: "rtmp" | "http";
  profiles: ProfileSpec[];
  caps: Capabilities;
  pool: OrchestratorPool;
  playlists: StreamPlaylists;
  lastSeen: number;
  lastOrch: string | null;
  ok: number;
  failed: number;
  retried: number;
}

/** The outcome of one segment: renditions in profile order (empty when none was produced). */
export interface SegmentOutcome {
  renditions: { profile: ProfileSpec; data: Buffer }[];
  orchestrator: string | null;
}

/** A segment that could not be transcoded; `status` is what HTTP push answers. */
export class SegmentFailure extends LpError {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super("SEGMENT_FAILED", message);
  }
}

/**
 * The gateway's streams (go-livepeer server/broadcast.go processSegment and transcodeSegment,
 * offchain): the source goes into its playlist at once, the segment is sent to the best
 * orchestrator and retried on another up to -maxAttempts (non-retryable errors stop), renditions
 * go into their playlists in sequence order. Per stream state is isolated.
 */
export class Gateway {
  readonly streams = new Map<string, Stream>();
  private readonly endedAt = new Map<string, number>();
  private timer: ClockTimer | null = null;

  constructor(
    readonly options: GatewayOptions,
    private readonly deps: {
      logger: Logger;
      client: OrchestratorClient;
      store: MemoryStore;
      /** -authWebhookUrl: asked once per new stream. */
      auth?: StreamAuth;
      /** Idle and retention timing, and the pools' discovery waits (tests pass a manual clock). */
      clock?: Clock;
      /** On a chain: pays each segment with tickets; null offchain (an empty Livepeer-Payment). */
      payments?: GatewayPayments | null;
    },
  ) {
    this.clock = deps.clock ?? systemClock;
  }

  private readonly clock: Clock;

  /** Ingest manifest ID -> the name the auth webhook gave the stream. */
  private readonly renamed = new Map<string, string>();

  /**
   * The live stream an ingest name refers to, or a new one: with -authWebhookUrl the webhook is
   * asked first (go-livepeer createRTMPStreamIDHandler) and may rename the stream and choose its
   * profiles; profiles from the push's configuration header win over the webhook's. Throws
   * StreamAuthDenied when the webhook refuses, SegmentFailure for limits and conflicts.
   */
  async open(
    ingestId: string,
    ingestUrl: string,
    profiles: ProfileSpec[] | null,
    source: { width: number; height: number },
    ingest: "rtmp" | "http",
    inputCodec = "h264",
  ): Promise<Stream> {
    const known = this.renamed.get(ingestId) ?? ingestId;
    const live = this.streams.get(known);
    if (this.deps.payments && !(live && !live.playlists.ended)) {
      // A gateway that cannot pay says so at once instead of failing every segment later.
      await this.deps.payments.refreshFunds();
      const problem = this.deps.payments.fundsProblem();
      if (problem) {
        this.deps.logger.error({ manifestID: known, reason: problem }, "cannot pay for transcoding");
        throw new SegmentFailure(`cannot pay for transcoding: ${problem}`, 503);
      }
    }
    if (!this.deps.auth || (live && !live.playlists.ended)) {
      return this.stream(known, profiles, source, ingest, inputCodec);
    }
    const answer = await this.deps.auth.authenticate(ingestUrl);
    const id = answer?.manifestId ?? ingestId;
    const s = this.stream(id, profiles ?? answer?.profiles ?? null, source, ingest, inputCodec);
    if (id !== ingestId) this.renamed.set(ingestId, id);
    return s;
  }

  start(): void {
    this.timer = this.clock.setInterval(() => this.sweep(), 1000);
    this.timer.unref?.();
  }

  stop(): void {
    if (this.timer) this.clock.clearInterval(this.timer);
    this.timer = null;
    // Ingest has drained by now: whatever is still in flight is cut rather than left hanging.
    this.stopping.abort(new Error("gateway stopping"));
  }

  /** Aborted at stop: cancels segment submissions still in flight. */
  private readonly stopping = new AbortController();

  /** The manifest ID of the stream started last (for -currentManifest). */
  lastManifestId: string | null = null;

  /**
   * Get or create the stream, with profiles from the push's configuration header or the
   * defaults. An RTMP publish refuses a manifest ID that is live already, as go-livepeer does;
   * HTTP pushes to a live RTMP stream are refused too.
   */
  stream(
    manifestId: string,
    profiles: ProfileSpec[] | null,
    source: { width: number; height: number },
    ingest: "rtmp" | "http" = "http",
    inputCodec = "h264",
  ): Stream {
    let s = this.streams.get(manifestId);
    if (s && !s.playlists.ended) {
      if (ingest === "rtmp" || s.ingest === "rtmp") {
        throw new SegmentFailure(`stream ${manifestId} is already being published`, 409);
      }
      s.lastSeen = this.clock.now();
      return s;
    }
    if ([...this.streams.values()].filter((x) => !x.playlists.ended).length >= this.options.maxStreams) {
      throw new SegmentFailure(`Too many connections for streamID=${manifestId}`, 503);
    }
    const chosen = profiles ?? this.options.profiles;
    const caps = jobCapabilities(chosen, this.options.minVersion, inputCodec);
    const playlists = new StreamPlaylists(manifestId);
    playlists.setVariants(source, chosen);
    s = {
      manifestId,
      ingest,
      profiles: chosen,
      caps,
      pool: new OrchestratorPool(
        {
          list: this.options.orchestrators,
          caps,
          discoveryTimeoutMs: this.options.discoveryTimeoutMs,
          blocklist: this.options.blocklist,
          selection: this.options.selection ?? null,
          extraNodes: this.options.extraNodes ?? 0,
          ignoreMaxPriceIfNeeded: this.options.ignoreMaxPriceIfNeeded ?? false,
        },
        {
          client: this.deps.client,
          logger: this.deps.logger.child({ manifestID: manifestId }),
          clock: this.clock,
          payments: this.deps.payments ?? null,
        },
      ),
      playlists,
      lastSeen: this.clock.now(),
      lastOrch: null,
      ok: 0,
      failed: 0,
      retried: 0,
    };
    this.streams.set(manifestId, s);
    this.endedAt.delete(manifestId);
    this.lastManifestId = manifestId;
    this.deps.logger.info({ manifestID: manifestId, profiles: chosen.map((p) => p.name) }, "stream started");
    return s;
  }

  /** Store one object of a stream and list it in that rendition's playlist. */
  private publish(
    s: Stream,
    rendition: string,
    seg: { seq: number; durationMs: number },
    ext: string,
    data: Buffer,
    mime: string,
  ): void {
    this.deps.store.put(s.manifestId, rendition, `${seg.seq}${ext}`, { data, contentType: mime });
    s.playlists.insert(
      rendition,
      seg.seq,
      seg.durationMs,
      `/stream/${s.manifestId}/${rendition}/${seg.seq}${ext}`,
    );
  }

  /** Process one segment of a stream: source into HLS, transcode with retries, renditions into HLS. */
  async processSegment(
    s: Stream,
    seg: { seq: number; data: Buffer; durationMs: number; ext: ".ts" | ".mp4"; zeroFrames?: boolean },
  ): Promise<SegmentOutcome> {
    s.lastSeen = this.clock.now();
    const log = this.deps.logger.child({ manifestID: s.manifestId, seqNo: seg.seq });
    const mime = seg.ext === ".mp4" ? MIME_MP4 : MIME_MPEGTS;
    this.publish(s, "source", seg, seg.ext, seg.data, mime);
    if (s.profiles.length === 0 || this.options.maxAttempts <= 0)
      return { renditions: [], orchestrator: null };
    if (seg.zeroFrames) {
      // No video frame to transcode (lpms' bypass): every rendition gets the source as is.
      const renditions = s.profiles.map((profile) => {
        this.publish(s, profile.name, seg, seg.ext, seg.data, mime);
        return { profile, data: seg.data };
      });
      s.ok += 1;
      return { renditions, orchestrator: null };
    }
    const tried = new Set<string>();
    let lastError: Error | null = null;
    for (let attempt = 0; attempt < this.options.maxAttempts; attempt++) {
      const sess = await s.pool.select(tried, s.lastOrch);
      if (!sess) break;
      tried.add(sess.uri);
      if (attempt > 0) s.retried += 1;
      let paid: SegmentPaymentHandle | null = null;
      try {
        paid = await this.pay(s, sess, seg.durationMs);
        const payments = this.deps.payments;
        if (paid) payments?.sent(paid);
        const res = await this.deps.client.submit(sess.info, {
          manifestId: s.manifestId,
          seq: seg.seq,
          data: seg.data,
          durationMs: seg.durationMs,
          profiles: s.profiles,
          caps: s.caps,
          signal: this.stopping.signal,
          // Read when the request is built, after sign(): a remote signer fills it in there.
          get payment() {
            return paid?.header;
          },
          sign: payments ? (md) => payments.segmentSig(md, paid) : undefined,
        });
        if (paid) {
          payments?.onResult(
            paid,
            res.renditions.map((r) => BigInt(r.pixels)),
          );
          paid = null;
        }
        s.pool.update(sess.uri, res.info);
        this.applyInfo(s, sess, res.info, log);
        sess.ok += 1;
        if (s.lastOrch !== sess.uri) log.info({ orchestrator: sess.uri }, "using orchestrator");
        s.lastOrch = sess.uri;
        const renditions = res.renditions.map((r, i) => {
          const profile = s.profiles[i]!;
          const { ext, mime: m } = formatInfo(profile.format);
          this.publish(s, profile.name, seg, ext, r.data, m);
          return { profile, data: r.data };
        });
        s.ok += 1;
        return { renditions, orchestrator: sess.uri };
      } catch (err) {
        if (paid) this.deps.payments?.settle(paid);
        if (err instanceof SegmentFailure) {
          s.failed += 1;
          throw err;
        }
        lastError = err as Error;
        sess.failed += 1;
        const retryable = !(err instanceof SubmitError) || err.retryable;
        log.warn(
          { orchestrator: sess.uri, attempt: attempt + 1, err: errorMessage(err), retryable },
          "segment failed",
        );
        if (!retryable) {
          s.failed += 1;
          throw new SegmentFailure(errorMessage(err), 422);
        }
        s.pool.suspend(sess.uri);
        if (s.lastOrch === sess.uri) s.lastOrch = null;
      }
    }
    s.failed += 1;
    if (!lastError) {
      log.warn("no orchestrator available; the source plays untranscoded");
      throw new SegmentFailure("No sessions available", 503);
    }
    const text = `hit max transcode attempts: ${errorMessage(lastError)}`;
    throw new SegmentFailure(text, 422);
  }

  /**
   * The Livepeer-Payment for one attempt (null offchain or for a free session). Params that
   * expired are refreshed from the orchestrator once and the payment retried (go-livepeer's
   * ErrTicketParamsExpired handling); a gateway that cannot pay fails the segment with the reason.
   */
  private async pay(s: Stream, sess: OrchSession, durationMs: number): Promise<SegmentPaymentHandle | null> {
    const payments = this.deps.payments;
    if (!payments || !sess.payment) return null;
    try {
      return await payments.paymentFor(sess.payment, s.profiles, durationMs);
    } catch (err) {
      if (isLpError(err, "CANNOT_PAY"))
        throw new SegmentFailure(`cannot pay for transcoding: ${err.message}`, 503);
      // Sender's TICKET_PARAMS_EXPIRED, matched by code: an offchain node never loads the payments code.
      if (!isLpError(err, "TICKET_PARAMS_EXPIRED")) throw err;
    }
    const info = await s.pool.refreshInfo(sess);
    if (info.authToken?.sessionId !== sess.payment.orchSessionId) {
      payments.endSession(sess.payment);
      sess.payment = payments.startSession(sess.uri, info);
    } else payments.updateSession(sess.payment, info);
    return payments.paymentFor(sess.payment, s.profiles, durationMs);
  }

  /** Fresh params from a segment reply; an orchestrator whose price more than doubled is dropped. */
  private applyInfo(s: Stream, sess: OrchSession, info: OrchestratorInfo | undefined, log: Logger): void {
    const payments = this.deps.payments;
    if (!payments || !sess.payment || !info) return;
    try {
      payments.updateSession(sess.payment, info);
    } catch (err) {
      log.warn({ orchestrator: sess.uri, err: errorMessage(err) }, "refusing orchestrator's new price");
      s.pool.suspend(sess.uri);
      if (s.lastOrch === sess.uri) s.lastOrch = null;
    }
  }

  /** The source's size, once known (RTMP metadata), for the master playlist. */
  setSourceSize(s: Stream, width: number, height: number): void {
    if (width > 0 && height > 0) s.playlists.setVariants({ width, height }, s.profiles);
  }

  /**
   * End a stream: ENDLIST now, storage dropped after the retention time, and every orchestrator
   * it used told to free its session (EndTranscodingSession, best effort).
   */
  end(manifestId: string): void {
    const s = this.streams.get(manifestId);
    if (!s || s.playlists.ended) return;
    s.playlists.ended = true;
    this.endedAt.set(manifestId, this.clock.now());
    this.deps.logger.info({ manifestID: manifestId, ok: s.ok, failed: s.failed }, "stream ended");
    s.pool.endPayments();
    for (const sess of s.pool.known) {
      this.deps.client
        .endSession(sess.uri, sess.info)
        .catch((err) =>
          this.deps.logger.debug(
            { manifestID: manifestId, orchestrator: sess.uri, err: errorMessage(err) },
            "EndTranscodingSession failed",
          ),
        );
    }
  }

  private sweep(): void {
    const now = this.clock.now();
    for (const s of this.streams.values()) {
      // RTMP streams end with their connection (and its own segment timeout), not here.
      if (s.ingest === "rtmp") continue;
      if (!s.playlists.ended && now - s.lastSeen > (this.options.streamIdleMs ?? STREAM_IDLE_MS))
        this.end(s.manifestId);
    }
    for (const [id, at] of this.endedAt) {
      if (now - at > (this.options.endedRetentionMs ?? ENDED_RETENTION_MS)) {
        this.endedAt.delete(id);
        this.streams.delete(id);
        for (const [from, to] of this.renamed) if (to === id) this.renamed.delete(from);
        this.deps.store.deleteSession(id);
      }
    }
  }
}
