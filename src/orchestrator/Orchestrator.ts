import { create } from "@bufbuild/protobuf";
import { errorMessage, isLpError, LpError } from "../errors/LpError.js";
import type { Logger } from "../logger/logger.js";
import type { Transcoder } from "../media/transcoder.js";
import type { AuthTokens } from "../protocol/authToken.js";
import { capabilitiesCompatible, NODE_CAPABILITIES, nodeCapabilities } from "../protocol/capabilities.js";
import {
  DEFAULT_SEGMENT_DURATION_MS,
  extensionForFormat,
  MAX_SEGMENT_DURATION_MS,
  mimeForFormat,
} from "../protocol/constants.js";
import {
  type Capabilities,
  type EndTranscodingSessionRequest,
  type OrchestratorInfo,
  OrchestratorInfoSchema,
  type OrchestratorRequest,
  type PingPong,
  PingPongSchema,
  type SegData,
  TranscodedSegmentDataSchema,
  type TranscodeResult,
  TranscodeResultSchema,
} from "../protocol/gen/lp_rpc_pb.js";
import { type ProfileSpec, profilesFromWire } from "../protocol/profiles.js";
import {
  decodePaymentHeader,
  decodeSegmentHeader,
  keccak,
  PAYMENT_HEADER,
  SEGMENT_HEADER,
  segmentProfiles,
} from "../protocol/segment.js";
import type { MemoryStore } from "../storage/MemoryStore.js";
import type { SessionManager } from "./SessionManager.js";

export interface OrchestratorOptions {
  serviceUri: string;
  nodes: string[];
  version: string;
}

/** A /segment request whose headers passed their checks (its body not read yet). */
export interface SegmentRequest {
  segData: SegData;
  authToken: NonNullable<SegData["authToken"]>;
  /** keccak256 of the body, as the gateway declared it. */
  hash: Uint8Array;
  /** The auth token's session id: the orchestrator's session key and storage prefix. */
  sessionId: string;
  manifestId: string;
  seq: bigint;
  durationMs: number;
  profiles: ProfileSpec[];
}

export interface OrchestratorCollaborators {
  logger: Logger;
  transcoder: Transcoder;
  store: MemoryStore;
  sessions: SessionManager;
  authTokens: AuthTokens;
}

/**
 * The orchestrator role, offchain (go-livepeer's core/orchestrator.go with server/rpc.go and
 * server/segment_rpc.go): discovery answers with capabilities and a fresh auth token, and
 * POST /segment checks a gateway's segment in go-livepeer's order, answers 200 at once, then
 * transcodes and streams back a TranscodeResult. Payments plug in at `decodePaymentHeader`
 * and the balance seam marked below when they land. HTTP lives in ./http.ts; this class takes
 * plain values and throws LpErrors with codes that the edge maps to statuses.
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

  /**
   * Steps 1-2 of /segment (server/segment_rpc.go ServeSegment): payment header, segment
   * credentials, auth token, and a cheap capacity check that takes nothing. Throws LpErrors:
   * BAD_PAYMENT (402 at the edge) or a credentials error whose text go-livepeer's gateway reads.
   */
  checkSegment(header: (name: string) => string | undefined): SegmentRequest {
    try {
      decodePaymentHeader(header(PAYMENT_HEADER));
    } catch (err) {
      throw isLpError(err) ? err : new LpError("BAD_PAYMENT", errorMessage(err));
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
        sessionId: authToken.sessionId,
        manifestId: Buffer.from(segData.manifestId).toString("utf8"),
        seq: segData.seq,
        durationMs: segData.duration === 0 ? DEFAULT_SEGMENT_DURATION_MS : segData.duration,
        profiles,
      };
    } catch (err) {
      throw isLpError(err) ? err : new LpError("BAD_SEGDATA", errorMessage(err));
    }
  }

  /**
   * Steps 7-8: the body arrived; check its hash and only then take a session slot, so a slow or
   * bogus upload never holds capacity. Throws SEGMENT_HASH_MISMATCH or ORCH_CAPPED. On success the
   * caller must run `transcodeSegment`, which gives the slot back.
   */
  admitSegment(seg: SegmentRequest, data: Buffer): void {
    if (!keccak(data).equals(Buffer.from(seg.hash))) {
      this.log.warn(
        { manifestID: seg.manifestId, seqNo: Number(seg.seq), orchSessionID: seg.sessionId },
        "mismatched hash for body; rejecting",
      );
      throw new LpError("SEGMENT_HASH_MISMATCH", "Forbidden");
    }
    if (!this.deps.sessions.acquire(seg.sessionId)) throw new LpError("ORCH_CAPPED", "OrchestratorCapped");
    this.deps.sessions.accept(seg.sessionId);
  }

  /**
   * Step 9-10: transcode an admitted segment and store its renditions. Never throws: a failure
   * is the TranscodeResult's error text, as go-livepeer answers it. Releases the session slot.
   */
  async transcodeSegment(seg: SegmentRequest, data: Buffer, signal: AbortSignal): Promise<TranscodeResult> {
    const log = this.log.child({
      manifestID: seg.manifestId,
      seqNo: Number(seg.seq),
      orchSessionID: seg.sessionId,
    });
    const info = this.replyInfo(seg.authToken);
    const started = Date.now();
    try {
      const out = await this.deps.transcoder.transcode({
        sessionId: seg.sessionId,
        manifestId: seg.manifestId,
        seq: seg.seq,
        data,
        durationMs: seg.durationMs,
        profiles: seg.profiles,
        segData: seg.segData,
        signal,
      });
      if (out.renditions.length !== seg.profiles.length)
        throw new LpError("MISMATCHED_SEGMENTS", "MismatchedSegments");
      const segments = out.renditions.map((r, i) => {
        const profile = seg.profiles[i]!;
        const path = this.deps.store.put(
          seg.sessionId,
          profile.name,
          `${seg.seq}${extensionForFormat(profile.format)}`,
          {
            data: r.data,
            contentType: mimeForFormat(profile.format),
          },
        );
        return create(TranscodedSegmentDataSchema, {
          url: `${this.serviceUri}/stream/${path}`,
          pixels: BigInt(r.pixels),
        });
      });
      // Payments seam: debit Σ pixels × expected price here once tickets land.
      log.info(
        {
          ms: Date.now() - started,
          renditions: segments.length,
          pixels: out.renditions.reduce((a, r) => a + r.pixels, 0),
        },
        "segment transcoded",
      );
      return create(TranscodeResultSchema, {
        seq: seg.seq,
        result: { case: "data", value: { segments } },
        info,
      });
    } catch (err) {
      log.warn({ err: errorMessage(err) }, signal.aborted ? "transcode cancelled" : "could not transcode");
      return create(TranscodeResultSchema, {
        seq: seg.seq,
        result: { case: "error", value: errorMessage(err) },
        info,
      });
    } finally {
      this.deps.sessions.release(seg.sessionId);
    }
  }

  /** The OrchestratorInfo in a segment reply: fresh info, the caller's auth token. */
  private replyInfo(authToken: OrchestratorInfo["authToken"]): OrchestratorInfo {
    const info = this.info();
    info.authToken = authToken;
    return info;
  }
}
