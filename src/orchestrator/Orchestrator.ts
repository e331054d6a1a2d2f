import { create } from "@bufbuild/protobuf";
import { errorMessage, isLpError, LpError } from "../errors/LpError.js";
import type { Logger } from "../logger/logger.js";
import type { Transcoder } from "../media/transcoder.js";
// Types only: an offchain node never loads the payments and chain code.
import type { ReceivedPayment, Recipient } from "../payments/Recipient.js";
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
  type Payment,
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
  segmentFlatten,
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
  /** The decoded Livepeer-Payment (empty offchain). */
  payment: Payment;
  /** On a chain, what the accepted payment left: the sender and the session's price. */
  paid?: ReceivedPayment;
  /** On a chain, the reply's OrchestratorInfo, made before the payment as go-livepeer does. */
  replyInfo?: OrchestratorInfo;
}

export interface OrchestratorCollaborators {
  logger: Logger;
  transcoder: Transcoder;
  store: MemoryStore;
  sessions: SessionManager;
  authTokens: AuthTokens;
  /** Payments on a chain; null offchain, where nothing is paid. */
  recipient?: Recipient | null;
}

/**
 * The orchestrator role (go-livepeer's core/orchestrator.go with server/rpc.go and
 * server/segment_rpc.go): discovery answers with capabilities and a fresh auth token, and
 * POST /segment checks a gateway's segment in go-livepeer's order, answers 200 at once, then
 * transcodes and streams back a TranscodeResult. On a chain the Recipient adds the signature
 * checks, ticket params and price, the payment check before the body is read, and the debit
 * after transcoding; offchain it is null and nothing is paid. HTTP lives in ./http.ts; this class
 * takes plain values and throws LpErrors with codes that the edge maps to statuses.
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

  /** Payments on a chain (null offchain). */
  get recipient(): Recipient | null {
    return this.deps.recipient ?? null;
  }

  /** The node's Capabilities message, from what its transcoder can actually do. */
  capabilities(): Capabilities {
    const caps = [...new Set([...this.deps.transcoder.capabilities(), ...NODE_CAPABILITIES])].sort(
      (a, b) => a - b,
    );
    return nodeCapabilities(caps, { version: this.options.version });
  }

  /**
   * OrchestratorInfo as go-livepeer fills it (orchestratorInfoWithCaps): offchain a zero address
   * and no price; on a chain the node's address, and ticket params and a price made for this
   * gateway (`sender`) and session (its pinned price once it paid).
   */
  async info(
    authSessionId?: string,
    payer?: { sender: Uint8Array | ReceivedPayment["sender"]; sessionId: string },
  ): Promise<OrchestratorInfo> {
    const info = create(OrchestratorInfoSchema, {
      transcoder: this.serviceUri,
      address: new Uint8Array(20),
      capabilities: this.capabilities(),
      authToken: this.deps.authTokens.issue(authSessionId),
      nodes: this.options.nodes,
    });
    const recipient = this.deps.recipient;
    if (recipient) {
      const quote = await recipient.quote(payer?.sender ?? new Uint8Array(0), payer?.sessionId ?? "");
      info.address = recipient.addressBytes();
      info.ticketParams = quote.ticketParams;
      info.priceInfo = quote.priceInfo;
    }
    return info;
  }

  /**
   * gRPC GetOrchestrator (server/rpc.go getOrchestrator). Offchain any signature is accepted, as
   * go-livepeer does; on a chain the request must be signed by its address (the InfoSig over the
   * EIP-55 text of the address), and the params are made for that address.
   */
  async getOrchestrator(req: OrchestratorRequest): Promise<OrchestratorInfo> {
    if (this.deps.recipient && !this.deps.recipient.verifyInfoSig(req.address, req.sig)) {
      throw new LpError("ORCH_REQ_SIG", "Invalid orchestrator request: orchestrator req sig check failed");
    }
    if (!this.deps.sessions.hasCapacity(""))
      throw new LpError("ORCH_CAPPED", "Invalid orchestrator request: OrchestratorCapped");
    return this.info(undefined, { sender: req.address, sessionId: "" });
  }

  /**
   * gRPC Ping: on a chain the node's signature of the value (go-livepeer's orchestrator Sign), so a
   * caller can tell which account answers; offchain an empty value, as go-livepeer.
   */
  async ping(req: PingPong): Promise<PingPong> {
    const recipient = this.deps.recipient;
    const value = recipient ? await recipient.sign(req.value) : new Uint8Array(0);
    return create(PingPongSchema, { value });
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
    let payment: Payment;
    try {
      payment = decodePaymentHeader(header(PAYMENT_HEADER));
    } catch (err) {
      throw isLpError(err) ? err : new LpError("BAD_PAYMENT", errorMessage(err));
    }
    try {
      const segData = decodeSegmentHeader(header(SEGMENT_HEADER));
      const profiles = profilesFromWire(segmentProfiles(segData));
      if (segData.duration < 0 || segData.duration > MAX_SEGMENT_DURATION_MS) {
        throw new LpError("INVALID_DURATION", "invalid duration");
      }
      // Offchain the segment signature is not checked (VerifySig is always true without a key); on
      // a chain the payment's sender must have signed the segment's metadata.
      const recipient = this.deps.recipient;
      if (recipient) {
        const flat = segmentFlatten({
          manifestId: segData.manifestId,
          seq: segData.seq < 0n ? -segData.seq : segData.seq,
          hash: segData.hash,
          profileNames: profiles.map((p) => p.name),
        });
        if (!recipient.verifySig(payment.sender, keccak(flat), segData.sig))
          throw new LpError("SEG_SIG", "ErrSegSig");
      }
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
        payment,
      };
    } catch (err) {
      throw isLpError(err) ? err : new LpError("BAD_SEGDATA", errorMessage(err));
    }
  }

  /**
   * Steps 4-5 of /segment, before the body is read (a no-op offchain): every ticket of the payment
   * is checked and credited, winners are stored, and a session without enough credit is refused
   * with "Insufficient balance". Throws PAYMENT_REFUSED or INSUFFICIENT_BALANCE (400 at the edge).
   */
  async processPayment(seg: SegmentRequest): Promise<void> {
    const recipient = this.deps.recipient;
    if (!recipient) return;
    // Step 3: the reply's info (fresh params for this gateway). Failing here is go-livepeer's 500.
    try {
      seg.replyInfo = await this.replyInfo(seg, { sender: seg.payment.sender, sessionId: seg.sessionId });
    } catch (err) {
      this.log.error(
        { orchSessionID: seg.sessionId, err: errorMessage(err) },
        "could not make the reply's ticket params",
      );
      throw new Error("Internal Server Error");
    }
    const paid = await recipient.receivePayment(seg.payment, seg.sessionId);
    recipient.requireBalance(paid, seg.sessionId);
    seg.paid = paid;
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
      const pixels = out.renditions.reduce((a, r) => a + BigInt(r.pixels), 0n);
      if (seg.paid && this.deps.recipient) {
        const fee = this.deps.recipient.debit(seg.paid, seg.sessionId, pixels);
        log.debug({ pixels: pixels.toString(), fee: fee.ratString() }, "segment fees debited");
      }
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
        info: seg.replyInfo ?? (await this.replyInfo(seg)),
      });
    } catch (err) {
      log.warn({ err: errorMessage(err) }, signal.aborted ? "transcode cancelled" : "could not transcode");
      return create(TranscodeResultSchema, {
        seq: seg.seq,
        result: { case: "error", value: errorMessage(err) },
        info: seg.replyInfo ?? (await this.replyInfo(seg).catch(() => undefined)),
      });
    } finally {
      this.deps.sessions.release(seg.sessionId);
    }
  }

  /**
   * The OrchestratorInfo in a segment reply: fresh info (on a chain, new ticket params at the
   * session's pinned price for the paying gateway), the caller's auth token.
   */
  private async replyInfo(
    seg: SegmentRequest,
    payer?: { sender: Uint8Array; sessionId: string },
  ): Promise<OrchestratorInfo> {
    const info = await this.info(undefined, payer);
    info.authToken = seg.authToken;
    return info;
  }
}
