import { timingSafeEqual } from "node:crypto";
import { clone, create } from "@bufbuild/protobuf";
import { LpError } from "../errors/LpError.js";
import type { Logger } from "../logger/logger.js";
import type { TranscodeJob, TranscodeResult, Transcoder } from "../media/transcoder.js";
import {
  capabilitiesCompatible,
  capabilitiesFromBitstring,
  capabilityBitstring,
  DEFAULT_CAPABILITIES,
} from "../protocol/capabilities.js";
import { MIME_MPEGTS, MIME_TRANSCODING_ERROR, TRANSCODER_AUTH } from "../protocol/constants.js";
import {
  type Capabilities,
  CapabilitiesSchema,
  type NotifySegment,
  NotifySegmentSchema,
  type RegisterRequest,
  SegDataSchema,
} from "../protocol/gen/lp_rpc_pb.js";
import type { MemoryStore } from "../storage/MemoryStore.js";
import { AsyncQueue } from "../utils/AsyncQueue.js";
import { type Clock, systemClock } from "../utils/clock.js";

/** go-livepeer's protoVerLPT: the Authorization value a transcoder sends with results. */
export const TRANSCODING_ERROR_MIME = MIME_TRANSCODING_ERROR;

/** Per-task wait: max(8 s, 4 x segment duration), as go-livepeer. */
export function taskTimeoutMs(durationMs: number): number {
  return Math.max(8000, 4 * durationMs);
}

/** What a transcoder posted to /transcodeResults for one task. */
export interface TaskResult {
  renditions?: { data: Buffer; pixels: number }[];
  error?: string;
}

interface Task {
  id: bigint;
  transcoder: RemoteTranscoder;
  resolve: (r: TaskResult) => void;
}

/** One connected transcoder. */
export class RemoteTranscoder {
  /** Sessions assigned (go-livepeer's load). */
  load = 0;
  readonly tasks = new Map<bigint, Task>();
  readonly queue = new AsyncQueue<NotifySegment>();
  private readonly onGoneListeners: (() => void)[] = [];
  private goneFlag = false;

  constructor(
    readonly id: number,
    readonly address: string,
    readonly capacity: number,
    readonly capabilities: Capabilities,
  ) {}

  get gone(): boolean {
    return this.goneFlag;
  }

  /** Mark disconnected: close its stream and wake everyone waiting on its tasks. */
  markGone(): void {
    if (this.goneFlag) return;
    this.goneFlag = true;
    this.queue.close();
    for (const l of this.onGoneListeners.splice(0)) l();
  }

  onGone(listener: () => void): void {
    if (this.goneFlag) listener();
    else this.onGoneListeners.push(listener);
  }
}

export interface PoolOptions {
  secret: string;
  /** The orchestrator's service URI, where transcoders fetch sources (read lazily: port 0). */
  serviceUri: () => string;
  /** NotifySegment.orchId: the recipient address, or "offchain". */
  orchId: string;
}

/**
 * The orchestrator's remote transcoder pool (go-livepeer core/orchestrator.go
 * RemoteTranscoderManager and server/ot_rpc.go): transcoders register over a gRPC stream, each
 * session sticks to one transcoder while it stays healthy, new sessions go to the least loaded
 * compatible one, and results come back on POST /transcodeResults. Unlike go-livepeer, a task
 * whose transcoder disconnects or times out is re-dispatched at once to another transcoder, and
 * results for a task that is not outstanding are refused with 404 before the body is read.
 */
export class RemoteTranscoderPool implements Transcoder {
  private readonly transcoders = new Set<RemoteTranscoder>();
  private readonly sessions = new Map<string, RemoteTranscoder>();
  private readonly tasks = new Map<bigint, Task>();
  private nextTaskId = 0n;
  private nextTranscoderId = 1;
  private readonly secret: Buffer;

  constructor(
    private readonly options: PoolOptions,
    private readonly deps: { logger: Logger; store: MemoryStore; clock?: Clock },
  ) {
    this.secret = Buffer.from(options.secret, "utf8");
    this.clock = deps.clock ?? systemClock;
  }

  /** Schedules task timeouts; tests pass a manual clock. */
  private readonly clock: Clock;

  /** Constant-time comparison with the orchestrator's secret. */
  secretMatches(candidate: string | undefined): boolean {
    const c = Buffer.from(candidate ?? "", "utf8");
    return c.length === this.secret.length && timingSafeEqual(c, this.secret);
  }

  /**
   * net.Transcoder/RegisterTranscoder: validates the request, then yields NotifySegment messages
   * until the transcoder or the server goes away.
   */
  async *register(req: RegisterRequest, address: string, signal: AbortSignal): AsyncGenerator<NotifySegment> {
    if (!this.secretMatches(req.secret)) {
      this.deps.logger.warn({ address }, "transcoder registration refused: invalid secret");
      throw new LpError("INVALID_SECRET", "invalid secret");
    }
    if (req.capacity <= 0n) throw new LpError("ZERO_CAPACITY", "zero capacity");
    // A legacy transcoder without capabilities is assumed to have the default set.
    const caps =
      req.capabilities ??
      create(CapabilitiesSchema, { bitstring: capabilityBitstring(DEFAULT_CAPABILITIES) });
    const t = new RemoteTranscoder(this.nextTranscoderId++, address, Number(req.capacity), caps);
    this.transcoders.add(t);
    const log = this.deps.logger.child({ transcoder: t.id, address });
    log.info({ capacity: t.capacity, version: caps.version }, "transcoder registered");
    const onAbort = () => t.markGone();
    signal.addEventListener("abort", onAbort);
    try {
      for await (const msg of t.queue) yield msg;
    } finally {
      signal.removeEventListener("abort", onAbort);
      this.remove(t);
      log.info({ inFlight: t.tasks.size }, "transcoder disconnected");
    }
  }

  private remove(t: RemoteTranscoder): void {
    this.transcoders.delete(t);
    for (const [sid, owner] of this.sessions) if (owner === t) this.sessions.delete(sid);
    t.markGone();
  }

  /** Connected transcoders with their load, for /status. */
  list(): { Address: string; Capacity: number; Load: number }[] {
    return [...this.transcoders].map((t) => ({ Address: t.address, Capacity: t.capacity, Load: t.load }));
  }

  capacity(): number {
    let total = 0;
    for (const t of this.transcoders) total += t.capacity;
    return total;
  }

  capabilities(): number[] {
    const all = new Set<number>();
    for (const t of this.transcoders)
      for (const c of capabilitiesFromBitstring(t.capabilities.bitstring)) all.add(c);
    return [...all];
  }

  /** Pick the session's transcoder, or the least loaded compatible one (selectTranscoder). */
  private select(
    sessionId: string,
    caps: Capabilities | undefined,
    exclude: Set<RemoteTranscoder>,
  ): RemoteTranscoder {
    const sticky = this.sessions.get(sessionId);
    if (sticky && !sticky.gone && !exclude.has(sticky)) return sticky;
    if (sticky) {
      sticky.load = Math.max(0, sticky.load - 1);
      this.sessions.delete(sessionId);
    }
    const candidates = [...this.transcoders].filter((t) => !t.gone && !exclude.has(t));
    const compatible = candidates.filter((t) => capabilitiesCompatible(caps, t.capabilities));
    if (candidates.length > 0 && compatible.length === 0) {
      throw new LpError("NO_COMPATIBLE_TRANSCODER", "no transcoders can provide requested capabilities", {
        retryable: true,
      });
    }
    compatible.sort((a, b) => a.load / a.capacity - b.load / b.capacity);
    const t = compatible[0];
    if (!t || t.load >= t.capacity)
      throw new LpError("NO_TRANSCODERS", "no transcoders available", { retryable: true });
    t.load += 1;
    this.sessions.set(sessionId, t);
    return t;
  }

  async transcode(input: TranscodeJob): Promise<TranscodeResult> {
    const job: PoolJob = {
      ...input,
      sessionId: input.sessionId ?? `segment-${this.nextTaskId}`,
      seq: input.seq ?? 0n,
      signal: input.signal ?? new AbortController().signal,
    };
    const path = this.deps.store.put(job.sessionId, "", `${job.seq}.tempfile`, {
      data: job.data,
      contentType: MIME_MPEGTS,
    });
    const url = `${this.options.serviceUri()}/stream/${path}`;
    const tried = new Set<RemoteTranscoder>();
    let lastError = "no transcoders available";
    // One attempt per connected transcoder at most: a disconnect or timeout moves the task on.
    for (;;) {
      if (job.signal.aborted) throw new LpError("ABORTED", "segment request cancelled");
      let t: RemoteTranscoder;
      try {
        t = this.select(job.sessionId, job.segData?.capabilities, tried);
      } catch (err) {
        if (tried.size === 0) throw err;
        throw new LpError("REMOTE_FAILED", lastError);
      }
      tried.add(t);
      const outcome = await this.runTask(t, job, url);
      if (outcome.kind === "result") {
        if (outcome.result.error !== undefined) {
          this.releaseSession(job.sessionId);
          throw new LpError("REMOTE_TRANSCODE", outcome.result.error);
        }
        return { renditions: outcome.result.renditions ?? [] };
      }
      lastError =
        outcome.kind === "timeout" ? "Remote transcoder took too long" : "Remote transcoder disconnected";
      this.deps.logger.warn(
        { transcoder: t.id, orchSessionID: job.sessionId, seqNo: Number(job.seq) },
        `${lastError}; retrying`,
      );
      if (outcome.kind === "timeout") this.remove(t);
    }
  }

  /** Unpin a session after an error result (completeStreamSession). */
  private releaseSession(sessionId: string): void {
    const t = this.sessions.get(sessionId);
    if (t) t.load = Math.max(0, t.load - 1);
    this.sessions.delete(sessionId);
  }

  private runTask(
    t: RemoteTranscoder,
    job: PoolJob,
    url: string,
  ): Promise<{ kind: "result"; result: TaskResult } | { kind: "timeout" } | { kind: "gone" }> {
    const id = this.nextTaskId++;
    const segData = job.segData ? clone(SegDataSchema, job.segData) : create(SegDataSchema);
    segData.hash = new Uint8Array(32);
    segData.storage = [];
    return new Promise((resolve) => {
      const finish = (v: { kind: "result"; result: TaskResult } | { kind: "timeout" } | { kind: "gone" }) => {
        this.clock.clearTimeout(timer);
        this.tasks.delete(id);
        t.tasks.delete(id);
        job.signal.removeEventListener("abort", onAbort);
        resolve(v);
      };
      const task: Task = { id, transcoder: t, resolve: (result) => finish({ kind: "result", result }) };
      const timer = this.clock.setTimeout(() => finish({ kind: "timeout" }), taskTimeoutMs(job.durationMs));
      const onAbort = () => finish({ kind: "result", result: { error: "segment request cancelled" } });
      job.signal.addEventListener("abort", onAbort);
      this.tasks.set(id, task);
      t.tasks.set(id, task);
      t.onGone(() => {
        if (this.tasks.get(id) === task) finish({ kind: "gone" });
      });
      const sent = t.queue.push(
        create(NotifySegmentSchema, {
          url,
          segData,
          taskId: id,
          orchId: this.options.orchId,
          profiles: Buffer.from("invalid"),
        }),
      );
      if (!sent) finish({ kind: "gone" });
    });
  }

  /** Tell the session's transcoder the session ended (teardown NotifySegment) and unpin it. */
  endSession(sessionId: string): void {
    const t = this.sessions.get(sessionId);
    if (!t) return;
    this.releaseSession(sessionId);
    t.queue.push(
      create(NotifySegmentSchema, {
        url: "",
        taskId: 0n,
        segData: { authToken: { sessionId } },
      }),
    );
  }

  /** Whether a /transcodeResults caller presents the transcoder protocol and the secret. */
  authorizeResults(authorization: string | undefined, credentials: string | undefined): boolean {
    return authorization === TRANSCODER_AUTH && this.secretMatches(credentials);
  }

  /** Whether a task is waiting for its result (results for anything else are refused unread). */
  isOutstanding(taskId: bigint): boolean {
    return this.tasks.has(taskId);
  }

  /**
   * A transcoder's result for a task (server/ot_rpc.go TranscodeResults): renditions or an
   * error text. Returns false when the task is no longer outstanding.
   */
  completeTask(taskId: bigint, result: TaskResult): boolean {
    const task = this.tasks.get(taskId);
    if (!task) return false;
    task.resolve(result);
    return true;
  }

  /** Close every stream (server stop). */
  close(): void {
    for (const t of [...this.transcoders]) this.remove(t);
  }
}

/** A job with the fields the pool keys on filled in. */
type PoolJob = TranscodeJob & { sessionId: string; seq: bigint; signal: AbortSignal };
