import { randomBytes } from "node:crypto";
import { createServer, type Server, type Socket } from "node:net";
import type { HostPort } from "../config/addresses.js";
import { errorMessage } from "../errors/LpError.js";
import type { Logger } from "../logger/logger.js";
import type { ChildProcesses } from "../media/ffmpeg/runFfmpeg.js";
import { type CutSegment, SEGMENT_SECONDS, Segmenter } from "../media/Segmenter.js";
import type { Service } from "../node/Service.js";
import { isValidManifestId } from "../protocol/manifestId.js";
import { type Gateway, SegmentFailure, type Stream } from "./Gateway.js";
import type { AmfObject, AmfValue } from "./rtmp/amf0.js";
import { type MSG_AUDIO, MSG_VIDEO } from "./rtmp/chunks.js";
import {
  AUDIO_CODECS,
  audioInfo,
  FLV_AUDIO,
  FLV_SCRIPT,
  FLV_VIDEO,
  flvHeader,
  flvTag,
  VIDEO_CODECS,
  videoInfo,
} from "./rtmp/flv.js";
import {
  type PublishDecision,
  type PublishRequest,
  type PublishSink,
  RtmpConnection,
  type RtmpHandler,
} from "./rtmp/RtmpConnection.js";
import { StreamAuthDenied } from "./StreamAuth.js";

/** go-livepeer's segmenter timeout: no segment for 10 x SegLen closes the stream. */
export const SEGMENT_TIMEOUT_MS = 10 * SEGMENT_SECONDS * 1000;
/** Media time to wait for the stream's second kind (audio or video) before refusing it. */
const PROBE_MEDIA_MS = 5000;
/** Bytes held while waiting for audio, video and a keyframe. */
const PROBE_MAX_BYTES = 32 * 1024 * 1024;
const ACCEPTED_AUDIO = new Set([2, 10, 14]); // MP3, AAC, MP3 8 kHz
const H264 = 7;

/**
 * Manifest ID and key from the published path, as go-livepeer reads `rtmp://host/<id>[/<key>]`:
 * leading slashes and a `stream/` or `live/` prefix are dropped, a query string is ignored,
 * and a missing ID or key is random (8 / 12 hex digits).
 */
export function parseRtmpPath(app: string, name: string): { manifestId: string; key: string } {
  const path = `${app.split("?")[0]}/${name.split("?")[0]}`;
  const clean = path
    .replace(/^[ /]*/, "")
    .replace(/^stream\//, "")
    .replace(/^live\//, "");
  const slash = clean.indexOf("/");
  const manifestId = slash >= 0 ? clean.slice(0, slash) : clean;
  const key = slash >= 0 ? clean.slice(slash + 1) : "";
  return {
    manifestId: manifestId || randomBytes(4).toString("hex"),
    key: key || randomBytes(6).toString("hex"),
  };
}

/**
 * One published RTMP stream: holds media until it has seen video (H.264, from a keyframe) and
 * audio, then feeds FLV to a segmenter child whose 2 s segments go to the gateway as they are
 * cut (concurrently, as go-livepeer does). No segment for 20 s closes the connection. When the
 * publisher stops, the last segment is flushed, in-flight segments finish, and the stream ends.
 */
class PublishedStream implements PublishSink {
  private state: "probing" | "starting" | "running" | "ended" = "probing";
  private held: Buffer[] = [];
  private heldBytes = 0;
  private metadataTag: Buffer | null = null;
  private sawAudio = false;
  private sawVideo = false;
  private sawKeyframe = false;
  private firstTs: number | null = null;
  private readonly lastTs = new Map<number, number>();
  private segmenter: Segmenter | null = null;
  private startup: Promise<void> = Promise.resolve();
  private readonly inflight = new Set<Promise<void>>();
  /** Segments the segmenter has cut so far. */
  private cut = 0;
  private timer: NodeJS.Timeout;
  private readonly log: Logger;
  readonly finished: Promise<void>;
  private resolveFinished!: () => void;

  constructor(
    private readonly conn: RtmpConnection,
    private readonly stream: Stream,
    private readonly deps: {
      gateway: Gateway;
      logger: Logger;
      ffmpegPath: string;
      segmentTimeoutMs: number;
      workDir: string;
      children: ChildProcesses | null;
    },
  ) {
    this.log = deps.logger.child({ manifestID: stream.manifestId });
    this.timer = this.armTimeout();
    this.finished = new Promise((r) => {
      this.resolveFinished = r;
    });
  }

  private armTimeout(): NodeJS.Timeout {
    return setTimeout(() => {
      this.log.info(
        { remote: this.conn.remote },
        "RTMP Timeout: Ensure keyframe interval is less than 8 seconds",
      );
      this.conn.close("segmenter timeout");
    }, this.deps.segmentTimeoutMs);
  }

  private refuse(reason: string): void {
    this.log.error({ remote: this.conn.remote, reason }, "RTMP stream refused");
    this.conn.close(reason);
  }

  metadata(body: Buffer, values: AmfValue[]): void {
    const obj = values.find((v): v is AmfObject => typeof v === "object" && v !== null && !Array.isArray(v));
    const width = Number(obj?.width ?? 0);
    const height = Number(obj?.height ?? 0);
    if (Number.isFinite(width) && Number.isFinite(height)) {
      this.deps.gateway.setSourceSize(this.stream, Math.round(width), Math.round(height));
    }
    if (this.state !== "probing") return;
    this.metadataTag = flvTag(FLV_SCRIPT, 0, body);
    // Encoders name the codec of every track they will send: one of the two missing is final.
    const hasVideo = obj !== undefined && "videocodecid" in obj;
    const hasAudio = obj !== undefined && "audiocodecid" in obj;
    if (hasVideo !== hasAudio)
      this.refuse(hasVideo ? "Unable to find audio stream" : "Unable to find video stream");
  }

  media(type: typeof MSG_AUDIO | typeof MSG_VIDEO, timestamp: number, payload: Buffer): void {
    if (this.state === "ended") return;
    const video = type === MSG_VIDEO;
    const info = video ? videoInfo(payload) : audioInfo(payload);
    if (!info) return;
    if (video && info.codec !== H264) {
      this.refuse(`unsupported video codec ${VIDEO_CODECS[info.codec] ?? info.codec}: H.264 is required`);
      return;
    }
    if (!video && !ACCEPTED_AUDIO.has(info.codec)) {
      this.refuse(
        `unsupported audio codec ${AUDIO_CODECS[info.codec] ?? info.codec}: AAC or MP3 is required`,
      );
      return;
    }
    if (video) this.sawVideo = true;
    else this.sawAudio = true;
    // Nothing before the first video keyframe except decoder configuration (as lpms drops it).
    if (!this.sawKeyframe && !info.config) {
      if (!(video && info.keyframe)) return;
      this.sawKeyframe = true;
    }
    // Timestamps going backwards on a track are dropped (lpms drops non-increasing DTS).
    const last = this.lastTs.get(type);
    if (last !== undefined && timestamp < last) return;
    this.lastTs.set(type, timestamp);
    const tag = flvTag(video ? FLV_VIDEO : FLV_AUDIO, timestamp, payload);
    if (this.state === "running") {
      this.write(tag);
      return;
    }
    this.held.push(tag);
    this.heldBytes += tag.length;
    if (this.state === "starting") return;
    this.firstTs ??= timestamp;
    if (this.sawAudio && this.sawVideo && this.sawKeyframe) {
      this.startup = this.startSegmenter();
      return;
    }
    if (timestamp - this.firstTs > PROBE_MEDIA_MS || this.heldBytes > PROBE_MAX_BYTES) {
      this.refuse(this.sawVideo ? "Unable to find audio stream" : "Unable to find video stream");
    }
  }

  private write(tag: Buffer): void {
    const seg = this.segmenter;
    if (!seg) return;
    if (!seg.write(tag)) {
      this.conn.pause();
      void seg.drain().then(() => this.conn.resume());
    }
  }

  private async startSegmenter(): Promise<void> {
    this.state = "starting";
    const seg = new Segmenter({
      ffmpegPath: this.deps.ffmpegPath,
      workDir: this.deps.workDir,
      children: this.deps.children,
      inputFormat: "flv",
      onSegment: (s) => this.segment(s),
    });
    this.segmenter = seg;
    try {
      await seg.start();
    } catch (err) {
      this.refuse(`cannot start the segmenter: ${errorMessage(err)}`);
      return;
    }
    if (this.state !== "starting") return seg.kill(); // ended while the child was starting
    this.state = "running";
    seg.write(flvHeader());
    if (this.metadataTag) seg.write(this.metadataTag);
    for (const tag of this.held) this.write(tag);
    this.held = [];
    this.heldBytes = 0;
    this.log.info({ remote: this.conn.remote }, "RTMP stream segmenting");
    void seg.done.then(({ code, signal }) => {
      if (this.state === "running" && (code !== 0 || signal)) {
        this.log.error({ code, signal, err: seg.lastError }, "segmenter failed");
        this.conn.close(`segmenter failed: ${seg.lastError || `exit ${code ?? signal}`}`);
      }
    });
  }

  private segment(seg: CutSegment): void {
    this.cut += 1;
    this.log.debug({ seqNo: seg.seq, durationMs: seg.durationMs }, "segment cut");
    clearTimeout(this.timer);
    if (this.state === "running") this.timer = this.armTimeout();
    const p = this.deps.gateway
      .processSegment(this.stream, { seq: seg.seq, data: seg.data, durationMs: seg.durationMs, ext: ".ts" })
      .then(
        () => {},
        (err) => {
          // Logged by the gateway per attempt; the source is in the playlist either way.
          if (!(err instanceof SegmentFailure))
            this.log.error({ seqNo: seg.seq, err: errorMessage(err) }, "segment failed");
        },
      )
      .finally(() => this.inflight.delete(p));
    this.inflight.add(p);
  }

  end(reason: string): void {
    if (this.state === "ended") return;
    const wasRunning = this.state === "running";
    this.state = "ended";
    clearTimeout(this.timer);
    this.log.info({ reason }, "RTMP publish ended");
    void (async () => {
      try {
        await this.startup;
        if (this.segmenter && wasRunning) await this.segmenter.finish();
        while (this.inflight.size > 0) await Promise.all([...this.inflight]);
      } finally {
        this.deps.gateway.end(this.stream.manifestId);
        this.log.info({ segments: this.cut, playlists: listedSegments(this.stream) }, "RTMP stream finished");
        this.resolveFinished();
      }
    })();
  }

  /** The node's drain ran out of time: stop cutting at once (what was cut still goes out). */
  abandon(): void {
    void this.segmenter?.kill();
  }
}

/** Sequence numbers each rendition's playlist holds (the source first), for the end-of-stream log. */
function listedSegments(stream: Stream): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const name of ["source", ...stream.profiles.map((p) => p.name)])
    out[name] = stream.playlists.seqs(name);
  return out;
}

/**
 * RTMP ingest on -rtmpAddr (go-livepeer's joy4 server): `rtmp://host:1935/<manifestID>[/<key>]`
 * from OBS or ffmpeg. Each connection and stream is independent: a bad or vanishing client
 * closes only its own connection and segmenter.
 */
export class RtmpIngest implements Service, RtmpHandler {
  readonly name = "gateway-rtmp";
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private readonly published = new Set<PublishedStream>();
  private readonly connections = new Set<RtmpConnection>();
  private draining = false;
  private boundPort = 0;

  constructor(
    private readonly options: {
      addr: HostPort;
      ffmpegPath: string;
      segmentTimeoutMs?: number;
      /** Where segmenters write: the node's temporary folder. */
      workDir: string;
    },
    private readonly deps: { logger: Logger; gateway: Gateway; children?: ChildProcesses | null },
  ) {}

  get port(): number {
    return this.boundPort;
  }

  async start(): Promise<void> {
    const server = createServer((socket) => {
      this.sockets.add(socket);
      const conn = new RtmpConnection(socket, this, (level, obj, msg) => this.deps.logger[level](obj, msg));
      this.connections.add(conn);
      socket.on("close", () => {
        this.sockets.delete(socket);
        this.connections.delete(conn);
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.options.addr.port, this.options.addr.host || "0.0.0.0", () => {
        server.off("error", reject);
        resolve();
      });
    });
    const address = server.address();
    this.boundPort = typeof address === "object" && address ? address.port : this.options.addr.port;
    this.server = server;
    this.deps.logger.info({ addr: `${this.options.addr.host}:${this.boundPort}` }, "RTMP server listening");
  }

  async publish(req: PublishRequest, conn: RtmpConnection): Promise<PublishDecision> {
    if (this.draining) {
      return { ok: false, code: "NetStream.Publish.Rejected", description: "the node is shutting down" };
    }
    const { manifestId: ingestId } = parseRtmpPath(req.app, req.name);
    if (!isValidManifestId(ingestId)) {
      return { ok: false, code: "NetStream.Publish.BadName", description: `bad stream name ${ingestId}` };
    }
    const base = req.tcUrl || `rtmp://${this.options.addr.host || "127.0.0.1"}:${this.port}/${req.app}`;
    let stream: Stream;
    try {
      stream = await this.deps.gateway.open(
        ingestId,
        `${base}/${req.name}`,
        null,
        { width: 0, height: 0 },
        "rtmp",
      );
    } catch (err) {
      if (err instanceof StreamAuthDenied) {
        this.deps.logger.warn(
          { manifestID: ingestId, err: err.message },
          "stream refused by the auth webhook",
        );
        return {
          ok: false,
          code: "NetStream.Publish.Rejected",
          description: "Forbidden: authentication denied",
        };
      }
      const code =
        err instanceof SegmentFailure && err.status === 409
          ? "NetStream.Publish.BadName"
          : "NetStream.Publish.Rejected";
      return { ok: false, code, description: errorMessage(err) };
    }
    const manifestId = stream.manifestId;
    this.deps.logger.info({ manifestID: manifestId, remote: req.remote }, "RTMP publish started");
    const sink = new PublishedStream(conn, stream, {
      gateway: this.deps.gateway,
      logger: this.deps.logger,
      ffmpegPath: this.options.ffmpegPath,
      segmentTimeoutMs: this.options.segmentTimeoutMs ?? SEGMENT_TIMEOUT_MS,
      workDir: this.options.workDir,
      children: this.deps.children ?? null,
    });
    this.published.add(sink);
    void sink.finished.then(() => this.published.delete(sink));
    return { ok: true, sink };
  }

  /**
   * The node is stopping: take no new connection or stream, end every publish (each segmenter
   * flushes its last segment) and wait until every cut segment has been through the gateway.
   * When `signal` fires first, the segmenters are killed and the wait ends.
   */
  async drain(signal: AbortSignal): Promise<void> {
    this.draining = true;
    const server = this.server;
    this.server = null;
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : null;
    for (const conn of this.connections) conn.close("node stopping");
    const onAbort = () => {
      for (const p of this.published) p.abandon();
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    try {
      await Promise.race([
        Promise.all([...this.published].map((p) => p.finished)),
        new Promise<void>((resolve) => {
          if (signal.aborted) resolve();
          else signal.addEventListener("abort", () => resolve(), { once: true });
        }),
      ]);
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
    for (const s of this.sockets) s.destroy();
    if (closed) await closed;
  }

  async stop(): Promise<void> {
    this.draining = true;
    const server = this.server;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    await Promise.all([...this.published].map((p) => p.finished));
  }
}
