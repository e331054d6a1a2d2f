import http2 from "node:http2";
import https from "node:https";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { errorMessage } from "../errors/LpError.js";
import { buildMultipart, randomBoundary } from "../http/multipart.js";
import type { Logger } from "../logger/logger.js";
import type { Service } from "../node/Service.js";
import { TRANSCODER_AUTH, TRANSCODING_ERROR_MIME } from "../orchestrator/RemoteTranscoderPool.js";
import type { SegmentTranscoder } from "../orchestrator/SegmentTranscoder.js";
import { NODE_CAPABILITIES, nodeCapabilities } from "../protocol/capabilities.js";
import { type NotifySegment, Transcoder } from "../protocol/gen/lp_rpc_pb.js";
import { profilesFromWire } from "../protocol/profiles.js";
import { DEFAULT_SEGMENT_DURATION_MS, segmentProfiles } from "../protocol/segment.js";
import { VERSION } from "../version.js";

/** Source download limit and timeout (go-livepeer: MaxSegSize, HTTPTimeout/2). */
const MAX_SOURCE_BYTES = 300_000_000;
const DOWNLOAD_TIMEOUT_MS = 4000;
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
    private readonly deps: { logger: Logger; transcoder: SegmentTranscoder; fatal: (err: Error) => void },
  ) {}

  private get origin(): string {
    return `https://${this.options.orchAddr}`;
  }

  async start(): Promise<void> {
    this.abort = new AbortController();
    this.loop = this.run(this.abort.signal);
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
    // Tasks already running finish (their results still reach the orchestrator if it is up).
    await Promise.allSettled([...this.inFlight]);
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
      const source = await download(msg.url);
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
            "Content-Type": profiles[i]!.format === "mp4" ? "video/mp4" : "video/mp2t",
            "Content-Length": String(r.data.length),
            Pixels: String(r.pixels),
          },
          body: r.data,
        })),
        boundary,
      );
      headers = {
        "content-type": `multipart/mixed; boundary=${boundary}`,
        pixels: String(out.decodedPixels ?? 0),
      };
      this.tasksDone += 1;
      log.info({ ms: Date.now() - started }, "task transcoded");
    } catch (err) {
      this.tasksFailed += 1;
      log.warn({ err: errorMessage(err) }, "task failed");
      body = Buffer.from(errorMessage(err), "utf8");
      headers = { "content-type": TRANSCODING_ERROR_MIME, pixels: "0" };
    }
    try {
      const status = await this.postResults(msg.taskId, headers, body);
      if (status !== 200) log.warn({ status }, "orchestrator did not accept the results");
    } catch (err) {
      log.warn({ err: errorMessage(err) }, "could not post results");
    }
  }

  private postResults(taskId: bigint, headers: Record<string, string>, body: Buffer): Promise<number> {
    return new Promise((resolve, reject) => {
      const session = http2.connect(this.origin, { rejectUnauthorized: false });
      session.on("error", reject);
      const req = session.request({
        ":method": "POST",
        ":path": "/transcodeResults",
        authorization: TRANSCODER_AUTH,
        credentials: this.options.secret,
        taskid: String(taskId),
        ...headers,
      });
      req.setTimeout(POST_TIMEOUT_MS, () => req.close(http2.constants.NGHTTP2_CANCEL));
      req.on("response", (h) => {
        req.resume();
        req.on("end", () => session.close());
        resolve(Number(h[":status"]));
      });
      req.on("error", (err) => {
        session.destroy();
        reject(err);
      });
      req.end(body);
    });
  }
}

/** GET a source segment from the orchestrator (no certificate checks, 4 s, size cap). */
function download(url: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { rejectUnauthorized: false, timeout: DOWNLOAD_TIMEOUT_MS }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`${res.statusCode} ${res.statusMessage ?? ""}`.trim()));
        return;
      }
      const chunks: Buffer[] = [];
      let total = 0;
      res.on("data", (c: Buffer) => {
        total += c.length;
        if (total > MAX_SOURCE_BYTES) req.destroy(new Error("source segment too large"));
        else chunks.push(c);
      });
      res.on("end", () => resolve(Buffer.concat(chunks)));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("source download timed out")));
    req.on("error", reject);
  });
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
