import { create } from "@bufbuild/protobuf";
import type { FastifyReply, FastifyRequest } from "fastify";
import { errorMessage, LpError } from "../errors/LpError.js";
import type { Logger } from "../logger/logger.js";
import type { AuthTokens } from "../protocol/authToken.js";
import { capabilitiesCompatible, NODE_CAPABILITIES, nodeCapabilities } from "../protocol/capabilities.js";
import {
  type Capabilities,
  type EndTranscodingSessionRequest,
  type OrchestratorInfo,
  OrchestratorInfoSchema,
  type OrchestratorRequest,
  type PingPong,
  PingPongSchema,
  TranscodedSegmentDataSchema,
  TranscodeResultSchema,
} from "../protocol/gen/lp_rpc_pb.js";
import { type ProfileSpec, profilesFromWire } from "../protocol/profiles.js";
import {
  DEFAULT_SEGMENT_DURATION_MS,
  decodePaymentHeader,
  decodeSegmentHeader,
  encodeTranscodeResult,
  keccak,
  MAX_SEGMENT_DURATION_MS,
  PAYMENT_HEADER,
  SEGMENT_HEADER,
  segmentProfiles,
} from "../protocol/segment.js";
import type { MemoryStore } from "./MemoryStore.js";
import type { SegmentTranscoder } from "./SegmentTranscoder.js";
import type { SessionManager } from "./SessionManager.js";

/** go-livepeer's common.MaxSegSize. */
export const MAX_SEGMENT_BYTES = 300_000_000;

export interface OrchestratorOptions {
  serviceUri: string;
  nodes: string[];
  version: string;
  /** Cap on the body size; go-livepeer's MaxSegSize unless a test lowers it. */
  maxSegmentBytes?: number;
}

export interface OrchestratorCollaborators {
  logger: Logger;
  transcoder: SegmentTranscoder;
  store: MemoryStore;
  sessions: SessionManager;
  authTokens: AuthTokens;
}

/** An HTTP error answered the go-livepeer way: plain text plus a newline (Go's http.Error). */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const EXTENSIONS: Record<ProfileSpec["format"], { ext: string; type: string }> = {
  mpegts: { ext: ".ts", type: "video/mp2t" },
  mp4: { ext: ".mp4", type: "video/mp4" },
};

/**
 * The orchestrator role, offchain (go-livepeer's core/orchestrator.go with server/rpc.go and
 * server/segment_rpc.go): discovery answers with capabilities and a fresh auth token, and
 * POST /segment checks a gateway's segment in go-livepeer's order, answers 200 at once, then
 * transcodes and streams back a TranscodeResult. Payments plug in at `decodePaymentHeader`
 * and the balance seam marked below when they land.
 */
export class Orchestrator {
  private readonly log: Logger;
  /** The URI gateways use; set once the port is known when binding port 0. */
  serviceUri: string;

  constructor(
    private readonly options: OrchestratorOptions,
    private readonly deps: OrchestratorCollaborators,
  ) {
    this.log = deps.logger;
    this.serviceUri = options.serviceUri;
  }

  /** The node's Capabilities message, from what its transcoder can actually do. */
  capabilities(): Capabilities {
    const caps = [...new Set([...this.deps.transcoder.capabilities(), ...NODE_CAPABILITIES])].sort(
      (a, b) => a - b,
    );
    return nodeCapabilities(caps, { version: this.options.version });
  }

  /** OrchestratorInfo as an offchain go-livepeer fills it (orchestratorInfoWithCaps). */
  info(authSessionId?: string): OrchestratorInfo {
    return create(OrchestratorInfoSchema, {
      transcoder: this.serviceUri,
      address: new Uint8Array(20),
      capabilities: this.capabilities(),
      authToken: this.deps.authTokens.issue(authSessionId),
      nodes: this.options.nodes,
    });
  }

  /** gRPC GetOrchestrator. Offchain, any signature is accepted, as go-livepeer does. */
  getOrchestrator(_req: OrchestratorRequest): OrchestratorInfo {
    if (!this.deps.sessions.hasCapacity(""))
      throw new LpError("ORCH_CAPPED", "Invalid orchestrator request: OrchestratorCapped");
    return this.info();
  }

  /** gRPC Ping: offchain the signature of the value is empty. */
  ping(_req: PingPong): PingPong {
    return create(PingPongSchema, { value: new Uint8Array(0) });
  }

  /** gRPC EndTranscodingSession: HMAC checked, expiry not (as go-livepeer). */
  endTranscodingSession(req: EndTranscodingSessionRequest): void {
    if (!req.authToken || !this.deps.authTokens.authentic(req.authToken)) {
      throw new LpError("INVALID_AUTH_TOKEN", "Invalid auth token");
    }
    this.endSession(req.authToken.sessionId);
  }

  /** End a session: release capacity, stored renditions and transcoder state. */
  endSession(sessionId: string): void {
    this.deps.sessions.end(sessionId);
  }

  /** Called by the session manager when a session ends (idle or requested). */
  onSessionEnded(sessionId: string): void {
    this.deps.store.deleteSession(sessionId);
    this.deps.transcoder.endSession?.(sessionId);
    this.log.debug({ orchSessionID: sessionId }, "transcode session ended");
  }

  /** POST /segment (server/segment_rpc.go ServeSegment). */
  async handleSegment(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    let seg: ReturnType<Orchestrator["checkHeaders"]>;
    try {
      seg = this.checkHeaders(req);
    } catch (err) {
      this.fail(reply, err);
      return;
    }
    const { accepted } = seg;
    let data: Buffer;
    // Capacity is taken before reading the body so concurrent new sessions cannot overshoot.
    if (!this.deps.sessions.acquire(accepted.sessionId)) {
      this.fail(reply, new HttpError(403, "OrchestratorCapped"));
      return;
    }
    const log = this.log.child({
      manifestID: accepted.manifestId,
      seqNo: Number(accepted.seq),
      orchSessionID: accepted.sessionId,
    });
    try {
      try {
        data = await readBody(req, this.options.maxSegmentBytes ?? MAX_SEGMENT_BYTES);
      } catch (err) {
        log.warn({ err: errorMessage(err) }, "could not read segment body");
        throw new HttpError(500, "Internal Server Error");
      }
      if (!keccak(data).equals(Buffer.from(seg.hash))) {
        log.warn("mismatched hash for body; rejecting");
        throw new HttpError(403, "Forbidden");
      }
    } catch (err) {
      this.deps.sessions.release(accepted.sessionId);
      this.fail(reply, err);
      return;
    }

    this.deps.sessions.accept(accepted.sessionId);
    // 200 right away: the upload is done; everything else travels in the body.
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, { "Content-Type": "application/octet-stream" });
    (raw as { flushHeaders?: () => void }).flushHeaders?.();

    const abort = new AbortController();
    const onClose = () => {
      if (!raw.writableFinished) abort.abort(new Error("gateway went away"));
    };
    raw.on("close", onClose);
    const info = this.replyInfo(seg.authToken);
    let result: ReturnType<typeof create<typeof TranscodeResultSchema>>;
    const started = Date.now();
    try {
      const out = await this.deps.transcoder.transcode({
        sessionId: accepted.sessionId,
        manifestId: accepted.manifestId,
        seq: accepted.seq,
        data,
        durationMs: accepted.durationMs,
        profiles: accepted.profiles,
        segData: seg.segData,
        signal: abort.signal,
      });
      if (out.renditions.length !== accepted.profiles.length)
        throw new LpError("MISMATCHED_SEGMENTS", "MismatchedSegments");
      const segments = out.renditions.map((r, i) => {
        const profile = accepted.profiles[i]!;
        const { ext, type } = EXTENSIONS[profile.format];
        const path = this.deps.store.put(accepted.sessionId, profile.name, `${accepted.seq}${ext}`, {
          data: r.data,
          contentType: type,
        });
        return create(TranscodedSegmentDataSchema, {
          url: `${this.serviceUri}/stream/${path}`,
          pixels: BigInt(r.pixels),
        });
      });
      // Payments seam: debit Σ pixels × expected price here once tickets land.
      result = create(TranscodeResultSchema, {
        seq: accepted.seq,
        result: { case: "data", value: { segments } },
        info,
      });
      log.info(
        {
          ms: Date.now() - started,
          renditions: segments.length,
          pixels: out.renditions.reduce((a, r) => a + r.pixels, 0),
        },
        "segment transcoded",
      );
    } catch (err) {
      log.warn({ err: errorMessage(err) }, "could not transcode");
      result = create(TranscodeResultSchema, {
        seq: accepted.seq,
        result: { case: "error", value: errorMessage(err) },
        info,
      });
    } finally {
      this.deps.sessions.release(accepted.sessionId);
      raw.off("close", onClose);
    }
    raw.end(encodeTranscodeResult(result));
  }

  /** Steps 1-2 of ServeSegment: payment, segment credentials, auth token. Throws HttpError. */
  private checkHeaders(req: FastifyRequest) {
    const header = (name: string) => {
      const v = req.headers[name.toLowerCase()];
      return Array.isArray(v) ? v[0] : v;
    };
    try {
      decodePaymentHeader(header(PAYMENT_HEADER));
    } catch (err) {
      throw new HttpError(402, errorMessage(err));
    }
    try {
      const segData = decodeSegmentHeader(header(SEGMENT_HEADER));
      const profiles = profilesFromWire(segmentProfiles(segData));
      if (segData.duration < 0 || segData.duration > MAX_SEGMENT_DURATION_MS) {
        throw new LpError("INVALID_DURATION", "invalid duration");
      }
      // Offchain: the segment signature is not checked (VerifySig is always true without a key).
      if (!capabilitiesCompatible(segData.capabilities, this.capabilities())) {
        throw new LpError("INCOMPATIBLE_CAPABILITIES", "incompatible capabilities");
      }
      const check = this.deps.authTokens.check(segData.authToken);
      if (check !== "valid") throw new LpError("AUTH_TOKEN", `${check} auth token`);
      const authToken = segData.authToken!;
      if (!this.deps.sessions.hasCapacity(authToken.sessionId))
        throw new LpError("ORCH_CAPPED", "OrchestratorCapped");
      if (profiles.length === 0) throw new LpError("NO_PROFILES", "no profiles requested");
      return {
        segData,
        authToken,
        hash: segData.hash,
        accepted: {
          sessionId: authToken.sessionId,
          manifestId: Buffer.from(segData.manifestId).toString("utf8"),
          seq: segData.seq,
          durationMs: segData.duration === 0 ? DEFAULT_SEGMENT_DURATION_MS : segData.duration,
          profiles,
        },
      };
    } catch (err) {
      if (err instanceof HttpError) throw err;
      throw new HttpError(403, errorMessage(err));
    }
  }

  /** The OrchestratorInfo in a segment reply: fresh info, the caller's auth token. */
  private replyInfo(authToken: OrchestratorInfo["authToken"]): OrchestratorInfo {
    const info = this.info();
    info.authToken = authToken;
    return info;
  }

  private fail(reply: FastifyReply, err: unknown): void {
    const status = err instanceof HttpError ? err.status : 500;
    const text = err instanceof HttpError ? err.message : "Internal Server Error";
    if (status >= 500) this.log.error({ err: errorMessage(err) }, "segment request failed");
    else this.log.warn({ status, err: text }, "segment rejected");
    void reply
      .code(status)
      .header("Content-Type", "text/plain; charset=utf-8")
      .header("X-Content-Type-Options", "nosniff")
      .send(`${text}\n`);
  }
}

/** Read a request body up to `limit` bytes; larger bodies (declared or actual) are an error. */
async function readBody(req: FastifyRequest, limit: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? Number.NaN);
  if (Number.isFinite(declared) && declared > limit) {
    req.raw.resume();
    throw new Error(`body of ${declared} bytes exceeds ${limit}`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req.raw as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > limit) throw new Error(`body exceeds ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total);
}
