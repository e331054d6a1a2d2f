import http2 from "node:http2";
import https from "node:https";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { errorMessage, LpError } from "../errors/LpError.js";
import { isNonRetryable } from "../media/ffmpeg/errors.js";
import { Capability, capabilityBitstring } from "../protocol/capabilities.js";
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

/** go-livepeer's rendition download limit (MaxSegSize) and timeout (HTTPTimeout / 2). */
const MAX_RENDITION_BYTES = 300_000_000;
const DOWNLOAD_TIMEOUT_MS = 4000;

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

/**
 * A gateway's connection to orchestrators (server/rpc.go GetOrchestratorInfo and
 * server/segment_rpc.go SubmitSegment): GetOrchestrator over gRPC/TLS and POST /segment over
 * HTTP/2, without certificate checks, as go-livepeer does.
 */
export class OrchestratorClient {
  /** GetOrchestrator with the job capabilities; offchain the address and signature are empty. */
  async getInfo(uri: string, caps: Capabilities, timeoutMs: number): Promise<OrchestratorInfo> {
    return grpcClient(uri).getOrchestrator(
      { address: new Uint8Array(20), sig: new Uint8Array(0), capabilities: caps },
      { timeoutMs },
    );
  }

  /** Tell an orchestrator a stream ended so it frees the session now (EndTranscodingSession). */
  async endSession(uri: string, info: OrchestratorInfo, timeoutMs = 2500): Promise<void> {
    await grpcClient(uri).endTranscodingSession({ authToken: info.authToken }, { timeoutMs });
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
    },
  ): Promise<SubmitResult> {
    const wire = profilesToWire(seg.profiles).map((p) => ({ ...p, fpsDen: p.fpsDen === 1 ? 0 : p.fpsDen }));
    const segData = create(SegDataSchema, {
      manifestId: Buffer.from(seg.manifestId, "utf8"),
      seq: BigInt(seg.seq),
      hash: keccak(seg.data),
      profiles: Buffer.from("invalid"),
      sig: new Uint8Array(0),
      duration: Math.trunc(seg.durationMs),
      capabilities: seg.caps,
      authToken: info.authToken,
      [profileField(seg.profiles)]: wire,
    });
    const started = performance.now();
    const { requestMs, uploadMs } = segmentTimeouts(seg.durationMs);
    const { status, body } = await postSegment(
      `${info.transcoder}/segment`,
      { [SEGMENT_HEADER]: encodeSegmentHeader(segData), [PAYMENT_HEADER]: "", "content-type": "video/MP2T" },
      seg.data,
      { requestMs, uploadMs },
    );
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
      segments.map(async (s) => ({ data: await download(s.url), pixels: Number(s.pixels), url: s.url })),
    );
    return { renditions, elapsedMs, info: result.info };
  }
}

/** net.Orchestrator over gRPC/TLS without certificate checks (orchestrators self-sign). */
function grpcClient(uri: string) {
  return createClient(
    Orchestrator,
    createGrpcTransport({ baseUrl: uri, nodeOptions: { rejectUnauthorized: false } }),
  );
}

function postSegment(
  url: string,
  headers: Record<string, string>,
  data: Buffer,
  t: { requestMs: number; uploadMs: number },
): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const session = http2.connect(u.origin, { rejectUnauthorized: false });
    let done = false;
    const finish = (err: Error | null, value?: { status: number; body: Buffer }) => {
      if (done) return;
      done = true;
      clearTimeout(requestTimer);
      clearTimeout(uploadTimer);
      session.close();
      if (err) {
        session.destroy();
        reject(err instanceof SubmitError ? err : new SubmitError(err.message, true));
      } else resolve(value!);
    };
    const requestTimer = setTimeout(
      () => finish(new SubmitError("segment request timed out", true)),
      t.requestMs,
    );
    const uploadTimer = setTimeout(
      () => finish(new SubmitError("segment upload timed out", true)),
      t.uploadMs,
    );
    session.on("error", (err) => finish(err));
    const req = session.request({ ":method": "POST", ":path": u.pathname, ...headers });
    let status = 0;
    const chunks: Buffer[] = [];
    req.on("response", (h) => {
      clearTimeout(uploadTimer);
      status = Number(h[":status"]);
    });
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => finish(null, { status, body: Buffer.concat(chunks) }));
    req.on("error", (err) => finish(err));
    req.end(data);
  });
}

/** GET a rendition (no certificate checks, 4 s, size cap); non-200 is an error. */
export function download(url: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { rejectUnauthorized: false, timeout: DOWNLOAD_TIMEOUT_MS }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new SubmitError(`rendition download failed: HTTP ${res.statusCode}`, true));
        return;
      }
      const chunks: Buffer[] = [];
      let total = 0;
      res.on("data", (c: Buffer) => {
        total += c.length;
        if (total > MAX_RENDITION_BYTES) req.destroy(new Error("rendition too large"));
        else chunks.push(c);
      });
      res.on("end", () => resolve(Buffer.concat(chunks)));
      res.on("error", (err) => reject(new SubmitError(err.message, true)));
    });
    req.on("timeout", () => req.destroy(new Error("rendition download timed out")));
    req.on("error", (err) => reject(new SubmitError(err.message, true)));
  });
}
