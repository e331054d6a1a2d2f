import { create } from "@bufbuild/protobuf";
import { type Client, createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { errorMessage, LpError } from "../errors/LpError.js";
import { HttpClient } from "../http/client.js";
import { isNonRetryable } from "../media/ffmpeg/errors.js";
import { Capability, capabilityBitstring } from "../protocol/capabilities.js";
import { MAX_SEGMENT_BYTES } from "../protocol/constants.js";
import {
  type Capabilities,
  CapabilitiesSchema,
  Orchestrator,
  type OrchestratorInfo,
  SegDataSchema,
} from "../protocol/gen/lp_rpc_pb.js";
import { type ProfileSpec, profilesToWire } from "../protocol/profiles.js";
import {
  decodeTranscodeResult,
  encodeSegmentHeader,
  keccak,
  PAYMENT_HEADER,
  SEGMENT_HEADER,
} from "../protocol/segment.js";

/** go-livepeer's rendition download timeout (HTTPTimeout / 2); the size cap is MaxSegSize. */
const DOWNLOAD_TIMEOUT_MS = 4000;
/** go-livepeer sends this exact spelling (not MIME_MPEGTS) for every segment, MP4 too. */
const SEGMENT_CONTENT_TYPE = "video/MP2T";

/** Whole-request and upload timeouts for a segment (common/util.go). */
export function segmentTimeouts(durationMs: number): { requestMs: number; uploadMs: number } {
  return { requestMs: Math.max(8000, 4 * durationMs), uploadMs: Math.max(2000, durationMs / 2) };
}

/** Input video codecs a gateway can send (go-livepeer FfmpegNameToVideoCodec) and their decode capability. */
export const INPUT_CODEC_CAPS: Record<string, number> = {
  h264: Capability.H264,
  hevc: Capability.HEVC_Decode,
  vp8: Capability.VP8_Decode,
  vp9: Capability.VP9_Decode,
};

/**
 * The capabilities a gateway puts in a transcoding job (core/capabilities.go JobCapabilities):
 * auth token, the input codec's decoder, and per output its format, encoder, profile, GOP and fractional fps.
 */
export function jobCapabilities(
  profiles: readonly ProfileSpec[],
  minVersion = "",
  inputCodec = "h264",
): Capabilities {
  const caps = new Set<number>([Capability.AuthToken, INPUT_CODEC_CAPS[inputCodec] ?? Capability.H264]);
  for (const p of profiles) {
    caps.add(p.format === "mp4" ? Capability.MP4 : Capability.MPEGTS);
    if (p.codec === "h265") caps.add(Capability.HEVC_Encode);
    if (p.codec === "vp8") caps.add(Capability.VP8_Encode);
    if (p.codec === "vp9") caps.add(Capability.VP9_Encode);
    if (p.fpsDen > 1) caps.add(Capability.FractionalFramerates);
    if (p.gopMs !== 0) caps.add(Capability.GOP);
    const bit = {
      none: null,
      baseline: Capability.ProfileH264Baseline,
      main: Capability.ProfileH264Main,
      high: Capability.ProfileH264High,
      "constrained-high": Capability.ProfileH264ConstrainedHigh,
    }[p.profile];
    if (bit !== null) caps.add(bit);
  }
  return create(CapabilitiesSchema, {
    bitstring: capabilityBitstring([...caps]),
    constraints: minVersion ? { minVersion } : undefined,
  });
}

/** Which SegData profile field go-livepeer fills (core/streamdata.go NetSegData). */
export function profileField(
  profiles: readonly ProfileSpec[],
): "fullProfiles" | "fullProfiles2" | "fullProfiles3" {
  const simple = profiles.every((p) => p.fpsDen <= 1 && p.profile === "none" && p.gopMs === 0);
  if (!simple) return "fullProfiles3";
  return profiles.every((p) => p.format === "mpegts") ? "fullProfiles" : "fullProfiles2";
}

export interface SubmitResult {
  renditions: { data: Buffer; pixels: number; url: string }[];
  /** Upload plus transcode plus response time (for the latency score). */
  elapsedMs: number;
  info: OrchestratorInfo | undefined;
}

/** A failed submission, with go-livepeer's retry class. */
export class SubmitError extends LpError {
  constructor(message: string, retryable: boolean) {
    super(retryable ? "SUBMIT_FAILED" : "SUBMIT_NON_RETRYABLE", message, { retryable });
  }
}

/** An orchestrator's gRPC client and the HTTP/2 session manager it shares across calls. */
interface GrpcChannel {
  client: Client<typeof Orchestrator>;
  manager: Http2SessionManager;
}

/**
 * A gateway's connection to orchestrators (server/rpc.go GetOrchestratorInfo and
 * server/segment_rpc.go SubmitSegment): GetOrchestrator over gRPC/TLS and POST /segment over
 * HTTP/2, without certificate checks, as go-livepeer does. Connections are kept per
 * orchestrator (one HTTP/2 session for gRPC, one pooled session for segments and downloads)
 * until close().
 */
export class OrchestratorClient {
  private readonly http: HttpClient;
  private readonly ownsHttp: boolean;
  private readonly channels = new Map<string, GrpcChannel>();

  private readonly creds: (() => { address: Uint8Array; sig: Uint8Array }) | null;

  /** `creds` (on a chain): the gateway's address and InfoSig sent in every GetOrchestrator. */
  constructor(deps: { http?: HttpClient; creds?: () => { address: Uint8Array; sig: Uint8Array } } = {}) {
    this.ownsHttp = deps.http === undefined;
    this.http = deps.http ?? new HttpClient({ insecureTls: true });
    this.creds = deps.creds ?? null;
  }

  /**
   * GetOrchestrator with the job capabilities; offchain the address and signature are empty, on a
   * chain they are the gateway's (the orchestrator makes its ticket params for that address).
   */
  async getInfo(uri: string, caps: Capabilities, timeoutMs: number): Promise<OrchestratorInfo> {
    const c = this.creds?.() ?? { address: new Uint8Array(20), sig: new Uint8Array(0) };
    return this.grpc(uri).getOrchestrator(
      { address: c.address, sig: c.sig, capabilities: caps },
      { timeoutMs },
    );
  }

  /** Tell an orchestrator a stream ended so it frees the session now (EndTranscodingSession). */
  async endSession(uri: string, info: OrchestratorInfo, timeoutMs = 2500): Promise<void> {
    await this.grpc(uri).endTranscodingSession({ authToken: info.authToken }, { timeoutMs });
  }

  /** Close every connection (node shutdown); requests in flight get a moment to finish. */
  async close(): Promise<void> {
    for (const ch of this.channels.values()) ch.manager.abort();
    this.channels.clear();
    if (this.ownsHttp) await this.http.close();
  }

  /** net.Orchestrator over gRPC/TLS without certificate checks (orchestrators self-sign). */
  private grpc(uri: string): Client<typeof Orchestrator> {
    let ch = this.channels.get(uri);
    if (!ch) {
      const manager = new Http2SessionManager(
        uri,
        { idleConnectionTimeoutMs: 60_000 },
        { rejectUnauthorized: false },
      );
      const client = createClient(
        Orchestrator,
        createGrpcTransport({ baseUrl: uri, sessionManager: manager }),
      );
      ch = { client, manager };
      this.channels.set(uri, ch);
    }
    return ch.client;
  }

  /** Send one segment to an orchestrator and download its renditions. */
  async submit(
    info: OrchestratorInfo,
    seg: {
      manifestId: string;
      seq: number;
      data: Buffer;
      durationMs: number;
      profiles: ProfileSpec[];
      caps: Capabilities;
      signal?: AbortSignal;
      /** Livepeer-Payment value; "" (offchain) when absent. */
      payment?: string;
      /** Signs the segment's credentials (SegData.sig) on a chain; offchain the sig is empty. */
      sign?: (md: {
        manifestId: string;
        seq: number;
        hash: Uint8Array;
        profileNames: string[];
      }) => Promise<Uint8Array>;
    },
  ): Promise<SubmitResult> {
    const wire = profilesToWire(seg.profiles).map((p) => ({ ...p, fpsDen: p.fpsDen === 1 ? 0 : p.fpsDen }));
    const hash = keccak(seg.data);
    let sig: Uint8Array = new Uint8Array(0);
    if (seg.sign) {
      try {
        sig = await seg.sign({
          manifestId: seg.manifestId,
          seq: seg.seq,
          hash,
          profileNames: seg.profiles.map((p) => p.name),
        });
      } catch (err) {
        throw new SubmitError(`segment signing failed: ${errorMessage(err)}`, false);
      }
    }
    const segData = create(SegDataSchema, {
      manifestId: Buffer.from(seg.manifestId, "utf8"),
      seq: BigInt(seg.seq),
      hash,
      profiles: Buffer.from("invalid"),
      sig,
      duration: Math.trunc(seg.durationMs),
      capabilities: seg.caps,
      authToken: info.authToken,
      [profileField(seg.profiles)]: wire,
    });
    const started = performance.now();
    const { requestMs, uploadMs } = segmentTimeouts(seg.durationMs);
    let status: number;
    let body: Buffer;
    try {
      ({ status, body } = await this.http.request(`${info.transcoder}/segment`, {
        method: "POST",
        headers: {
          [SEGMENT_HEADER]: encodeSegmentHeader(segData),
          [PAYMENT_HEADER]: seg.payment ?? "",
          "content-type": SEGMENT_CONTENT_TYPE,
        },
        body: seg.data,
        timeoutMs: requestMs,
        headersTimeoutMs: uploadMs,
        timeoutText: "segment request timed out",
        headersTimeoutText: "segment upload timed out",
        signal: seg.signal,
      }));
    } catch (err) {
      throw new SubmitError(errorMessage(err), true);
    }
    if (status !== 200) throw new SubmitError(body.toString("utf8").trim() || `HTTP ${status}`, true);
    let result: ReturnType<typeof decodeTranscodeResult>;
    try {
      result = decodeTranscodeResult(body);
    } catch (err) {
      throw new SubmitError(`unreadable TranscodeResult: ${errorMessage(err)}`, true);
    }
    if (result.result.case === "error")
      throw new SubmitError(result.result.value, !isNonRetryable(result.result.value));
    if (result.result.case !== "data") throw new SubmitError("UnknownResponse", true);
    const segments = result.result.value.segments;
    if (segments.length !== seg.profiles.length) throw new SubmitError("MismatchedSegments", true);
    const elapsedMs = performance.now() - started;
    const renditions = await Promise.all(
      segments.map(async (s) => ({
        data: await this.download(s.url, seg.signal),
        pixels: Number(s.pixels),
        url: s.url,
      })),
    );
    return { renditions, elapsedMs, info: result.info };
  }

  /** GET a rendition (no certificate checks, 4 s, MaxSegSize cap); non-200 is an error (core/os.go DownloadData). */
  async download(url: string, signal?: AbortSignal): Promise<Buffer> {
    let res: { status: number; body: Buffer };
    try {
      res = await this.http.request(url, {
        timeoutMs: DOWNLOAD_TIMEOUT_MS,
        maxResponseBytes: MAX_SEGMENT_BYTES,
        timeoutText: "rendition download timed out",
        signal,
      });
    } catch (err) {
      throw new SubmitError(errorMessage(err), true);
    }
    if (res.status !== 200) throw new SubmitError(`rendition download failed: HTTP ${res.status}`, true);
    return res.body;
  }
}
