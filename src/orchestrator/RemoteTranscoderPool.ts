import { timingSafeEqual } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import type { FastifyReply, FastifyRequest } from "fastify";
import { errorMessage, LpError } from "../errors/LpError.js";
import { parseContentType, parseMultipart } from "../http/multipart.js";
import type { Logger } from "../logger/logger.js";
import {
  capabilitiesCompatible,
  capabilitiesFromBitstring,
  capabilityBitstring,
  DEFAULT_CAPABILITIES,
} from "../protocol/capabilities.js";
import {
  type Capabilities,
  CapabilitiesSchema,
  type NotifySegment,
  NotifySegmentSchema,
  type RegisterRequest,
  SegDataSchema,
} from "../protocol/gen/lp_rpc_pb.js";
import { AsyncQueue } from "../utils/AsyncQueue.js";
import type { MemoryStore } from "./MemoryStore.js";
import { MAX_SEGMENT_BYTES } from "./Orchestrator.js";
import { requestContentType } from "./OrchestratorServer.js";
import type { SegmentJob, SegmentOutput, SegmentTranscoder } from "./SegmentTranscoder.js";

/** go-livepeer's protoVerLPT: the Authorization value a transcoder sends with results. */
export const TRANSCODER_AUTH = "Livepeer-Transcoder-1.0";
export const TRANSCODING_ERROR_MIME = "livepeer/transcoding-error";

/** Per-task wait: max(8 s, 4 x segment duration), as go-livepeer. */
export function taskTimeoutMs(durationMs: number): number {
  return Math.max(8000, 4 * durationMs);
}

interface TaskResult {
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
export class RemoteTranscoderPool implements SegmentTranscoder {
  private readonly transcoders = new Set<RemoteTranscoder>();
  private readonly sessions = new Map<string, RemoteTranscoder>();
  private readonly tasks = new Map<bigint, Task>();
  private nextTaskId = 0n;
  private nextTranscoderId = 1;
  private readonly secret: Buffer;

  constructor(
    private readonly options: PoolOptions,
    private readonly deps: { logger: Logger; store: MemoryStore },
  ) {
    this.secret = Buffer.from(options.secret, "utf8");
  }

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

  async transcode(job: SegmentJob): Promise<SegmentOutput> {
    const path = this.deps.store.put(job.sessionId, "", `${job.seq}.tempfile`, {
      data: job.data,
      contentType: "video/mp2t",
    });
    const url = `${this.options.serviceUri()}/stream/${path}`;
    const tried = new Set<RemoteTranscoder>();
    let lastError = "no transcoders available";
    // One attempt per connected transcoder at most: a disconnect or timeout moves the task on.
    for (;;) {
      if (job.signal.aborted) throw new LpError("ABORTED", "segment request cancelled");
      let t: RemoteTranscoder;
      try {
        t = this.select(job.sessionId, job.segData.capabilities, tried);
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
    job: SegmentJob,
    url: string,
  ): Promise<{ kind: "result"; result: TaskResult } | { kind: "timeout" } | { kind: "gone" }> {
    const id = this.nextTaskId++;
    const segData = create(SegDataSchema, { ...job.segData, hash: new Uint8Array(32), storage: [] });
    return new Promise((resolve) => {
      const finish = (v: { kind: "result"; result: TaskResult } | { kind: "timeout" } | { kind: "gone" }) => {
        clearTimeout(timer);
        this.tasks.delete(id);
        t.tasks.delete(id);
        job.signal.removeEventListener("abort", onAbort);
        resolve(v);
      };
      const task: Task = { id, transcoder: t, resolve: (result) => finish({ kind: "result", result }) };
      const timer = setTimeout(() => finish({ kind: "timeout" }), taskTimeoutMs(job.durationMs));
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

  /** POST /transcodeResults (server/ot_rpc.go TranscodeResults). */
  async handleResults(req: FastifyRequest, reply: FastifyReply): Promise<unknown> {
    const text = (status: number, body: string) =>
      reply.code(status).header("Content-Type", "text/plain; charset=utf-8").send(`${body}\n`);
    const h = (name: string) => {
      const v = req.headers[name];
      return Array.isArray(v) ? v[0] : v;
    };
    // Everything below is decided before the body is read.
    if (h("authorization") !== TRANSCODER_AUTH || !this.secretMatches(h("credentials"))) {
      req.raw.resume();
      this.deps.logger.warn({ ip: req.ip }, "transcode results refused: bad Authorization or Credentials");
      return text(401, "Unauthorized");
    }
    const ct = parseContentType(requestContentType(req));
    if ("error" in ct) {
      req.raw.resume();
      return text(415, ct.error);
    }
    const taskText = h("taskid") ?? "";
    if (!/^-?\d+$/.test(taskText)) {
      req.raw.resume();
      return text(400, "Invalid Task ID");
    }
    const task = this.tasks.get(BigInt(taskText));
    if (!task) {
      req.raw.resume();
      this.deps.logger.warn({ taskId: taskText, ip: req.ip }, "results for a task that is not outstanding");
      return text(404, "Unknown Task ID");
    }
    let body: Buffer;
    try {
      body = await readAll(req, MAX_SEGMENT_BYTES * 8);
    } catch (err) {
      return text(500, errorMessage(err));
    }
    if (ct.type === TRANSCODING_ERROR_MIME) {
      task.resolve({ error: body.toString("utf8") });
      return text(200, "OK");
    }
    if (!/^\d+$/.test(h("pixels") ?? "")) return text(400, "Invalid Pixels");
    if (ct.type !== "multipart/mixed" || !ct.params["boundary"])
      return text(415, `unsupported media type ${ct.type}`);
    try {
      const renditions: { data: Buffer; pixels: number }[] = [];
      for (const part of parseMultipart(body, ct.params["boundary"])) {
        const px = part.headers["pixels"];
        if (px === undefined) {
          if (renditions.length === 0) throw new Error("Unknown perceptual hash");
          continue; // perceptual hash of the previous rendition: not used yet
        }
        if (!/^\d+$/.test(px)) throw new Error(`invalid Pixels header "${px}"`);
        renditions.push({ data: Buffer.from(part.body), pixels: Number(px) });
      }
      task.resolve({ renditions });
      return text(200, "OK");
    } catch (err) {
      task.resolve({ error: errorMessage(err) });
      return text(500, errorMessage(err));
    }
  }

  /** Close every stream (server stop). */
  close(): void {
    for (const t of [...this.transcoders]) this.remove(t);
  }
}

async function readAll(req: FastifyRequest, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req.raw as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > limit) throw new Error("body too large");
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total);
}
