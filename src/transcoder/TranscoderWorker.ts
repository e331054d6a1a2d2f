import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { errorMessage } from "../errors/LpError.js";
import { HttpClient } from "../http/client.js";
import { buildMultipart, randomBoundary } from "../http/multipart.js";
import type { Logger } from "../logger/logger.js";
import type { Transcoder as MediaTranscoder } from "../media/transcoder.js";
import type { Service } from "../node/Service.js";
import { NODE_CAPABILITIES, nodeCapabilities } from "../protocol/capabilities.js";
import {
  MAX_SEGMENT_BYTES,
  MIME_MULTIPART_MIXED,
  MIME_TRANSCODING_ERROR,
  mimeForFormat,
  TRANSCODER_AUTH,
} from "../protocol/constants.js";
import { type NotifySegment, Transcoder } from "../protocol/gen/lp_rpc_pb.js";
import { profilesFromWire } from "../protocol/profiles.js";
import { DEFAULT_SEGMENT_DURATION_MS, segmentProfiles } from "../protocol/segment.js";
import { VERSION } from "../version.js";

/** Source download timeout (go-livepeer: HTTPTimeout/2); the size cap is MaxSegSize. */
const DOWNLOAD_TIMEOUT_MS = 4000;
/** The orchestrator's answer to /transcodeResults is a short text at most. */
const MAX_POST_ANSWER_BYTES = 64 * 1024;
const POST_TIMEOUT_MS = 30_000;
const MAX_BACKOFF_MS = 60_000;

/** Errors from the orchestrator after which retrying cannot help (server/ot_rpc.go). */
const FATAL = ["invalid secret", "zero capacity"];

export interface TranscoderWorkerOptions {
  /** host:port of the orchestrator. */
  orchAddr: string;
  secret: string;
  capacity: number;
  /** First reconnect delay; doubles up to a minute. */
  initialBackoffMs?: number;
}

/**
 * Standalone transcoder mode (go-livepeer server/ot_rpc.go runTranscoder): registers with an
 * orchestrator over gRPC, takes NotifySegment tasks up to its capacity at once, downloads each
 * source, transcodes it locally and posts the renditions to /transcodeResults as multipart.
 * Reconnects with exponential backoff; "invalid secret" and "zero capacity" are fatal.
 */
export class TranscoderWorker implements Service {
  readonly name = "transcoder-worker";
  private abort = new AbortController();
  private loop: Promise<void> | null = null;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly waiting: NotifySegment[] = [];
  connected = false;
  tasksDone = 0;
  tasksFailed = 0;

  constructor(
    private readonly options: TranscoderWorkerOptions,
    private readonly deps: { logger: Logger; transcoder: MediaTranscoder; fatal: (err: Error) => void },
  ) {}

  private get origin(): string {
    return `https://${this.options.orchAddr}`;
  }

  /** Downloads and result posts to the orchestrator share its connection (HTTP/2, no certificate checks). */
  private http = new HttpClient({ insecureTls: true });

  async start(): Promise<void> {
    this.abort = new AbortController();
    this.http = new HttpClient({ insecureTls: true });
    this.loop = this.run(this.abort.signal);
  }

  /**
   * First phase of a stop: tasks already taken (running or queued) finish and post their results
   * while the registration stays open, so the orchestrator does not re-dispatch them. At the
   * deadline stop() cancels what is left, and the orchestrator moves those tasks elsewhere.
   */
  async drain(signal: AbortSignal): Promise<void> {
    const deadline = new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      else signal.addEventListener("abort", () => resolve(), { once: true });
    });
    if (this.inFlight.size > 0)
      this.deps.logger.info({ tasks: this.inFlight.size + this.waiting.length }, "finishing tasks in flight");
    // Queued tasks start as running ones end, so wait until nothing runs (or the deadline).
    while (this.inFlight.size > 0 && !signal.aborted) {
      await Promise.race([Promise.allSettled([...this.inFlight]), deadline]);
    }
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
    // Tasks still running are cancelled by the abort (their ffmpeg killed); wait for them to unwind.
    await Promise.allSettled([...this.inFlight]);
    await this.http.close();
  }

  private async run(signal: AbortSignal): Promise<void> {
    const log = this.deps.logger;
    let backoff = this.options.initialBackoffMs ?? 1000;
    const transport = createGrpcTransport({
      baseUrl: this.origin,
      nodeOptions: { rejectUnauthorized: false },
    });
    const client = createClient(Transcoder, transport);
    while (!signal.aborted) {
      try {
        log.info(
          { orchestrator: this.options.orchAddr, capacity: this.options.capacity },
          "registering with orchestrator",
        );
        const caps = nodeCapabilities(
          [...new Set([...this.deps.transcoder.capabilities(), ...NODE_CAPABILITIES])],
          {
            version: VERSION,
          },
        );
        const stream = client.registerTranscoder(
          { secret: this.options.secret, capacity: BigInt(this.options.capacity), capabilities: caps },
          { signal },
        );
        for await (const msg of stream) {
          backoff = this.options.initialBackoffMs ?? 1000;
          this.onMessage(msg);
        }
        if (signal.aborted) break;
        log.warn({ orchestrator: this.options.orchAddr }, "orchestrator closed the registration stream");
      } catch (err) {
        if (signal.aborted) break;
        const text = err instanceof ConnectError ? err.rawMessage : errorMessage(err);
        if (FATAL.some((f) => text.includes(f))) {
          log.error(
            { orchestrator: this.options.orchAddr, err: text },
            "orchestrator refused this transcoder",
          );
          this.deps.fatal(new Error(`orchestrator refused registration: ${text}`));
          return;
        }
        const code = err instanceof ConnectError ? Code[err.code] : undefined;
        log.warn(
          { orchestrator: this.options.orchAddr, err: text, code, retryInMs: backoff },
          "cannot reach orchestrator",
        );
      } finally {
        this.connected = false;
      }
      await sleep(backoff, signal);
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
  }

  private onMessage(msg: NotifySegment): void {
    this.connected = true;
    if (msg.url === "") {
      const sid = msg.segData?.authToken?.sessionId;
      if (sid) this.deps.transcoder.endSession?.(sid);
      return;
    }
    this.waiting.push(msg);
    this.pump();
  }

  /** Start queued tasks while below capacity. */
  private pump(): void {
    while (this.inFlight.size < this.options.capacity && this.waiting.length > 0) {
      const msg = this.waiting.shift()!;
      const p = this.runTask(msg).finally(() => {
        this.inFlight.delete(p);
        this.pump();
      });
      this.inFlight.add(p);
    }
  }

  private async runTask(msg: NotifySegment): Promise<void> {
    const log = this.deps.logger.child({
      taskId: String(msg.taskId),
      seqNo: Number(msg.segData?.seq ?? 0),
      orchSessionID: msg.segData?.authToken?.sessionId,
    });
    const started = Date.now();
    log.info("task received");
    let body: Buffer;
    let headers: Record<string, string>;
    try {
      const seg = msg.segData;
      if (!seg) throw new Error("empty seg data");
      const profiles = profilesFromWire(segmentProfiles(seg));
      const source = await this.download(msg.url);
      const out = await this.deps.transcoder.transcode({
        sessionId: seg.authToken?.sessionId ?? "",
        manifestId: Buffer.from(seg.manifestId).toString("utf8"),
        seq: seg.seq,
        data: source,
        durationMs: seg.duration === 0 ? DEFAULT_SEGMENT_DURATION_MS : seg.duration,
        profiles,
        segData: seg,
        signal: this.abort.signal,
      });
      if (out.renditions.length !== profiles.length) throw new Error("segment / profile mismatch");
      const boundary = randomBoundary();
      body = buildMultipart(
        out.renditions.map((r, i) => ({
          headers: {
            "Content-Type": mimeForFormat(profiles[i]!.format),
            "Content-Length": String(r.data.length),
            Pixels: String(r.pixels),
          },
          body: r.data,
        })),
        boundary,
      );
      headers = {
        "content-type": `${MIME_MULTIPART_MIXED}; boundary=${boundary}`,
        pixels: String(out.decodedPixels ?? 0),
      };
      this.tasksDone += 1;
      log.info({ ms: Date.now() - started }, "task transcoded");
    } catch (err) {
      this.tasksFailed += 1;
      log.warn({ err: errorMessage(err) }, "task failed");
      body = Buffer.from(errorMessage(err), "utf8");
      headers = { "content-type": MIME_TRANSCODING_ERROR, pixels: "0" };
    }
    try {
      const status = await this.postResults(msg.taskId, headers, body);
      if (status !== 200) log.warn({ status }, "orchestrator did not accept the results");
    } catch (err) {
      log.warn({ err: errorMessage(err) }, "could not post results");
    }
  }

  private async postResults(taskId: bigint, headers: Record<string, string>, body: Buffer): Promise<number> {
    const res = await this.http.request(`${this.origin}/transcodeResults`, {
      method: "POST",
      headers: {
        authorization: TRANSCODER_AUTH,
        credentials: this.options.secret,
        taskid: String(taskId),
        ...headers,
      },
      body,
      timeoutMs: POST_TIMEOUT_MS,
      maxResponseBytes: MAX_POST_ANSWER_BYTES,
      timeoutText: "posting results timed out",
    });
    return res.status;
  }

  /** GET a source segment from the orchestrator (4 s, MaxSegSize cap); non-200 is an error. */
  private async download(url: string): Promise<Buffer> {
    const res = await this.http.request(url, {
      timeoutMs: DOWNLOAD_TIMEOUT_MS,
      maxResponseBytes: MAX_SEGMENT_BYTES,
      timeoutText: "source download timed out",
    });
    if (res.status !== 200) throw new Error(`source download failed: HTTP ${res.status}`);
    return res.body;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });
}
