import type { Http2ServerRequest, ServerHttp2Stream } from "node:http2";
import type { FastifyReply, FastifyRequest } from "fastify";
import { errorMessage, isLpError, LpError } from "../errors/LpError.js";
import { declaredLength, readBody } from "../http/body.js";
import { parseContentType, parseMultipart } from "../http/multipart.js";
import type { Logger } from "../logger/logger.js";
import { MAX_SEGMENT_BYTES, MIME_MULTIPART_MIXED, MIME_OCTET_STREAM } from "../protocol/constants.js";
import { encodeTranscodeResult } from "../protocol/segment.js";
import type { Orchestrator, SegmentRequest } from "./Orchestrator.js";
import { requestContentType } from "./OrchestratorServer.js";
import { type RemoteTranscoderPool, TRANSCODING_ERROR_MIME } from "./RemoteTranscoderPool.js";

/** Limits on segment uploads (POST /segment and /transcodeResults bodies). */
export interface UploadLimits {
  /** Largest body; go-livepeer's MaxSegSize unless a test lowers it. */
  maxBodyBytes: number;
  /** Uploads one auth-token session may have in flight at once; more get 429. */
  maxUploadsPerSession: number;
  /** Floor of the upload deadline (see uploadDeadlineMs). */
  minUploadMs: number;
  /**
   * Bytes all uploads in flight may hold together (a declared Content-Length is reserved up
   * front, an undeclared body as it arrives); more get 503. Tokens are free, so this, not the per-session cap,
   * is what keeps many clients' bodies from exhausting memory.
   */
  maxInFlightUploadBytes: number;
}

/** Defaults. A gateway sends one segment per stream at a time, two when a retry overlaps. */
export const DEFAULT_UPLOAD_LIMITS: UploadLimits = {
  maxBodyBytes: MAX_SEGMENT_BYTES,
  maxUploadsPerSession: 4,
  minUploadMs: 10_000,
  // Five maximal segments at once; real segments are a few MB, so hundreds of uploads fit.
  maxInFlightUploadBytes: 5 * MAX_SEGMENT_BYTES,
};

/**
 * How long a gateway gets to send a segment body. go-livepeer's gateway itself abandons an
 * upload after max(2 s, 0.5 x duration) (times its -timeoutMultiplier), so an honest gateway is
 * done long before max(10 s, 2 x duration); the size term (1 ms per KB declared, i.e. 1 MB/s)
 * keeps a legitimately large segment on a modest link inside the bound. A client trickling bytes
 * holds its connection for seconds, never a session slot.
 */
export function uploadDeadlineMs(durationMs: number, declaredBytes: number, minMs: number): number {
  return Math.max(minMs, 2 * durationMs) + Math.ceil(declaredBytes / 1000);
}

/** A plain-text error answered the go-livepeer way (Go's http.Error: text plus a newline). */
function sendText(reply: FastifyReply, status: number, text: string): FastifyReply {
  return reply
    .code(status)
    .header("Content-Type", "text/plain; charset=utf-8")
    .header("X-Content-Type-Options", "nosniff")
    .send(`${text}\n`);
}

/** HTTP status and text of a /segment failure (server/segment_rpc.go's answers). */
export function segmentErrorStatus(err: unknown): { status: number; text: string } {
  if (!isLpError(err)) return { status: 500, text: "Internal Server Error" };
  switch (err.code) {
    case "BAD_PAYMENT":
      return { status: 402, text: err.message };
    // A refused ticket or payment, and a session without credit (ProcessPayment, SufficientBalance).
    case "PAYMENT_REFUSED":
    case "INSUFFICIENT_BALANCE":
      return { status: 400, text: err.message };
    case "BODY_TOO_LARGE":
    case "BODY_INCOMPLETE":
      return { status: 500, text: "Internal Server Error" };
    case "UPLOAD_TIMEOUT":
      return { status: 408, text: `segment upload took too long: ${err.message}` };
    case "TOO_MANY_UPLOADS":
      return { status: 429, text: err.message };
    case "UPLOADS_BUSY":
      return { status: 503, text: err.message };
    default:
      // Credentials, capabilities, auth token, capacity and hash failures are all 403.
      return { status: 403, text: err.message };
  }
}

/**
 * The rest of an unfinished request body is not wanted: cut just that request. On HTTP/1.1 the
 * connection closes once the answer is out, since the unread body would otherwise be read as the
 * next request. On HTTP/2 the connection guard resets an answered stream whose body is still
 * coming (the session and its other streams live on).
 */
function cutRequest(req: FastifyRequest, reply: FastifyReply): void {
  const raw = req.raw as unknown as Partial<Http2ServerRequest> & FastifyRequest["raw"];
  if (raw.complete || raw.stream) return;
  reply.header("Connection", "close");
  const socket = req.raw.socket;
  reply.raw.once("finish", () => socket.end());
}

/** Counts uploads in flight per auth-token session. */
class UploadCounter {
  private readonly counts = new Map<string, number>();
  constructor(private readonly max: number) {}

  tryAcquire(key: string): boolean {
    const n = this.counts.get(key) ?? 0;
    if (n >= this.max) return false;
    this.counts.set(key, n + 1);
    return true;
  }

  release(key: string): void {
    const n = (this.counts.get(key) ?? 1) - 1;
    if (n <= 0) this.counts.delete(key);
    else this.counts.set(key, n);
  }
}

/**
 * POST /segment at the HTTP edge (server/segment_rpc.go ServeSegment): headers checked first,
 * the body read under a size cap, a deadline and a per-session upload cap, then the slot taken,
 * 200 sent at once and the TranscodeResult streamed after it. A gateway that goes away (HTTP/1.1
 * socket closed, HTTP/2 stream reset or session closed) cancels the transcode.
 */
export function segmentHandler(
  orch: Orchestrator,
  deps: { logger: Logger; limits?: Partial<UploadLimits> },
): (req: FastifyRequest, reply: FastifyReply) => Promise<void> {
  const limits = { ...DEFAULT_UPLOAD_LIMITS, ...deps.limits };
  const uploads = new UploadCounter(limits.maxUploadsPerSession);
  let reservedBytes = 0;
  const log = deps.logger;
  const fail = (req: FastifyRequest, reply: FastifyReply, err: unknown, seg?: SegmentRequest) => {
    const { status, text } = segmentErrorStatus(err);
    const ctx = seg
      ? { manifestID: seg.manifestId, seqNo: Number(seg.seq), orchSessionID: seg.sessionId }
      : {};
    if (status >= 500) log.error({ ...ctx, err: errorMessage(err) }, "segment request failed");
    else log.warn({ ...ctx, status, err: errorMessage(err) }, "segment rejected");
    cutRequest(req, reply);
    void sendText(reply, status, text);
  };
  const header = (req: FastifyRequest) => (name: string) => {
    const v = req.headers[name.toLowerCase()];
    return Array.isArray(v) ? v[0] : v;
  };

  return async (req, reply) => {
    let seg: SegmentRequest;
    try {
      seg = orch.checkSegment(header(req));
    } catch (err) {
      fail(req, reply, err);
      return;
    }
    // On a chain the payment is checked and credited before a byte of the body is read.
    try {
      await orch.processPayment(seg);
    } catch (err) {
      fail(req, reply, err, seg);
      return;
    }
    const contentLength = header(req)("content-length");
    // A declared length is reserved up front; an undeclared body is reserved as it arrives.
    let reserved = Math.min(declaredLength(contentLength) ?? 0, limits.maxBodyBytes);
    if (reservedBytes + reserved > limits.maxInFlightUploadBytes) {
      fail(req, reply, new LpError("UPLOADS_BUSY", "too many uploads in progress; try again"), seg);
      return;
    }
    if (!uploads.tryAcquire(seg.sessionId)) {
      fail(req, reply, new LpError("TOO_MANY_UPLOADS", "too many concurrent uploads for this session"), seg);
      return;
    }
    reservedBytes += reserved;
    const reserve = (bytes: number) => {
      if (reservedBytes + bytes > limits.maxInFlightUploadBytes) return false;
      reservedBytes += bytes;
      reserved += bytes;
      return true;
    };
    let data: Buffer;
    try {
      data = await readBody(req.raw, {
        limit: limits.maxBodyBytes,
        contentLength,
        deadlineMs: uploadDeadlineMs(seg.durationMs, declaredLength(contentLength) ?? 0, limits.minUploadMs),
        reserve,
      });
      orch.admitSegment(seg, data);
    } catch (err) {
      fail(req, reply, err, seg);
      return;
    } finally {
      uploads.release(seg.sessionId);
      reservedBytes -= reserved;
    }

    // 200 right away: the upload is done; everything else travels in the body.
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, { "Content-Type": MIME_OCTET_STREAM });
    (raw as { flushHeaders?: () => void }).flushHeaders?.();

    const abort = new AbortController();
    let done = false;
    const onGone = () => {
      if (!done) abort.abort(new LpError("GATEWAY_GONE", "gateway went away"));
    };
    // On HTTP/2 the response object may never say it closed early; the stream always does.
    const stream = (req.raw as unknown as Partial<Http2ServerRequest>).stream as
      | ServerHttp2Stream
      | undefined;
    const watched = stream ?? raw;
    watched.once("close", onGone);
    stream?.once("aborted", onGone);
    let body: Buffer;
    try {
      body = encodeTranscodeResult(await orch.transcodeSegment(seg, data, abort.signal));
    } finally {
      done = true;
      watched.off("close", onGone);
      stream?.off("aborted", onGone);
    }
    if (abort.signal.aborted || raw.destroyed || stream?.destroyed) return;
    raw.end(body);
  };
}

/**
 * POST /transcodeResults at the HTTP edge (server/ot_rpc.go TranscodeResults): everything that
 * can be decided from headers is decided before the body is read; the body has the same size
 * cap as a segment's renditions and the task's own deadline.
 */
export function transcodeResultsHandler(
  pool: RemoteTranscoderPool,
  deps: { logger: Logger; limits?: Partial<UploadLimits> },
): (req: FastifyRequest, reply: FastifyReply) => Promise<unknown> {
  const limits = { ...DEFAULT_UPLOAD_LIMITS, ...deps.limits };
  return async (req, reply) => {
    const h = (name: string) => {
      const v = req.headers[name];
      return Array.isArray(v) ? v[0] : v;
    };
    const refuse = (status: number, text: string) => {
      cutRequest(req, reply);
      return sendText(reply, status, text);
    };
    if (!pool.authorizeResults(h("authorization"), h("credentials"))) {
      deps.logger.warn({ ip: req.ip }, "transcode results refused: bad Authorization or Credentials");
      return refuse(401, "Unauthorized");
    }
    const ct = parseContentType(requestContentType(req));
    if ("error" in ct) return refuse(415, ct.error);
    const taskText = h("taskid") ?? "";
    if (!/^-?\d{1,20}$/.test(taskText)) return refuse(400, "Invalid Task ID");
    const taskId = BigInt(taskText);
    if (!pool.isOutstanding(taskId)) {
      deps.logger.warn({ taskId: taskText, ip: req.ip }, "results for a task that is not outstanding");
      return refuse(404, "Unknown Task ID");
    }
    let body: Buffer;
    try {
      const contentLength = h("content-length");
      // Renditions of one segment: up to 10 outputs, each at most a segment's size.
      body = await readBody(req.raw, {
        limit: limits.maxBodyBytes * 8,
        contentLength,
        deadlineMs: limits.minUploadMs + Math.ceil((declaredLength(contentLength) ?? 0) / 1000),
      });
    } catch (err) {
      return refuse(isLpError(err, "UPLOAD_TIMEOUT") ? 408 : 500, errorMessage(err));
    }
    if (ct.type === TRANSCODING_ERROR_MIME) {
      pool.completeTask(taskId, { error: body.toString("utf8") });
      return sendText(reply, 200, "OK");
    }
    if (!/^\d+$/.test(h("pixels") ?? "")) return sendText(reply, 400, "Invalid Pixels");
    if (ct.type !== MIME_MULTIPART_MIXED || !ct.params["boundary"])
      return sendText(reply, 415, `unsupported media type ${ct.type}`);
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
      pool.completeTask(taskId, { renditions });
      return sendText(reply, 200, "OK");
    } catch (err) {
      pool.completeTask(taskId, { error: errorMessage(err) });
      return sendText(reply, 500, errorMessage(err));
    }
  };
}
