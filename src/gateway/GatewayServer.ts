import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import type { HostPort } from "../config/addresses.js";
import { errorMessage } from "../errors/LpError.js";
import { buildMultipart, randomBoundary } from "../http/multipart.js";
import type { Logger } from "../logger/logger.js";
import { PRESETS, parseJsonProfiles, type VideoProfile } from "../media/profiles.js";
import { type SegmentInfo, sniffSegment } from "../media/sniff.js";
import type { Service } from "../node/Service.js";
import {
  extensionForFormat,
  MAX_SEGMENT_BYTES,
  MIME_MULTIPART_MIXED,
  mimeForFormat,
} from "../protocol/constants.js";
import { manifestIdProblem } from "../protocol/manifestId.js";
import type { MemoryStore } from "../storage/MemoryStore.js";
import { type Gateway, SegmentFailure } from "./Gateway.js";
import { INPUT_CODEC_CAPS } from "./OrchestratorClient.js";
import { StreamAuthDenied } from "./StreamAuth.js";

const CORS = {
  "Access-Control-Allow-Origin": "*",
  "Access-Control-Expose-Headers": "Content-Length",
  "Cache-Control": "max-age=5",
};

/** Profiles from a Livepeer-Transcode-Configuration header ({"profiles": [...]} or {"presets": [...]}). */
export function profilesFromConfigHeader(text: string): VideoProfile[] | null {
  const cfg = JSON.parse(text) as { profiles?: unknown; presets?: unknown };
  if (Array.isArray(cfg.profiles) && cfg.profiles.length > 0)
    return parseJsonProfiles(JSON.stringify(cfg.profiles));
  if (Array.isArray(cfg.presets) && cfg.presets.length > 0) {
    return cfg.presets.map((n) => {
      const p = PRESETS[String(n)];
      if (!p) throw new Error(`unknown preset ${String(n)}`);
      return { ...p };
    });
  }
  return null;
}

/** What a push URL names: /live/<manifestID>/<seq>.ts|.mp4. */
export interface PushTarget {
  manifestId: string;
  ext: ".ts" | ".mp4";
  seq: number;
}

/**
 * Read a push URL (server/mediaserver.go HandlePush): the manifest ID must be one plain path
 * segment (protocol/manifestId.ts; an encoded slash or a dot first is refused, not stored under a
 * name no playlist can reach), and the sequence number a decimal that fits both uint64 and a
 * JavaScript number (up to 2^53 - 1). A file name that is not a number is sequence 0, as
 * go-livepeer reads it. Errors are the 400 body.
 */
export function parsePushPath(url: string): PushTarget | { error: string } {
  const raw = url.split("?")[0]!.replace(/^\/live\//, "");
  const slash = raw.lastIndexOf("/");
  const bad = { error: `Bad URL url=${url}` };
  if (slash <= 0) return bad;
  let manifestId: string;
  let file: string;
  try {
    manifestId = decodeURIComponent(raw.slice(0, slash));
    file = decodeURIComponent(raw.slice(slash + 1));
  } catch {
    return bad;
  }
  const problem = manifestIdProblem(manifestId);
  if (problem) return { error: `Bad URL url=${url}: ${problem}` };
  const dot = file.lastIndexOf(".");
  const ext = dot >= 0 ? file.slice(dot) : "";
  if (ext !== ".ts" && ext !== ".mp4") return { error: `ignoring file extension: ${ext}` };
  const seqText = file.slice(0, dot);
  let seq = 0;
  if (/^[+-]?\d+$/.test(seqText)) {
    const n = BigInt(seqText);
    if (n < 0n || n > BigInt(Number.MAX_SAFE_INTEGER))
      return { error: `Bad sequence number ${seqText}: must be 0 to ${Number.MAX_SAFE_INTEGER}` };
    seq = Number(n);
  }
  return { manifestId, ext, seq };
}

/**
 * The gateway's public HTTP server on -httpAddr (go-livepeer server/mediaserver.go): HTTP push
 * ingest under /live/ and HLS playback under /stream/, plain HTTP.
 */
export class GatewayServer implements Service {
  readonly name = "gateway-http";
  private app: FastifyInstance | null = null;
  private boundPort = 0;

  constructor(
    private readonly options: { addr: HostPort; httpIngest: boolean; currentManifest?: boolean },
    private readonly deps: { logger: Logger; gateway: Gateway; store: MemoryStore },
  ) {}

  get port(): number {
    return this.boundPort;
  }

  async start(): Promise<void> {
    const app = Fastify({ logger: false, forceCloseConnections: true, bodyLimit: MAX_SEGMENT_BYTES });
    app.removeAllContentTypeParsers();
    app.addContentTypeParser("*", { parseAs: "buffer" }, (_req, body, done) => done(null, body));
    app.route({ method: ["GET", "HEAD"], url: "/healthz", handler: async (_req, reply) => reply.send("") });
    if (this.options.httpIngest) {
      app.route({
        method: ["GET", "POST", "PUT", "DELETE", "PATCH"],
        url: "/live/*",
        handler: (req, reply) => this.trackPush(req, reply),
      });
    }
    app.get("/stream/*", async (req, reply) => this.stream(req, reply));
    app.setNotFoundHandler((_req, reply) =>
      reply.code(404).type("text/plain; charset=utf-8").send("404 page not found\n"),
    );
    app.setErrorHandler((err, _req, reply) => {
      const status = (err as { statusCode?: number }).statusCode ?? 500;
      void reply
        .code(status === 413 ? 500 : status)
        .type("text/plain; charset=utf-8")
        .send(
          status === 413
            ? "Error reading http request body: input bigger than max buffer size\n"
            : `${errorMessage(err)}\n`,
        );
    });
    await app.listen({ host: this.options.addr.host || "0.0.0.0", port: this.options.addr.port });
    const address = app.server.address();
    this.boundPort = typeof address === "object" && address ? address.port : this.options.addr.port;
    this.app = app;
    this.deps.logger.info(
      { addr: `${this.options.addr.host}:${this.boundPort}` },
      "gateway HTTP server listening",
    );
  }

  async stop(): Promise<void> {
    const app = this.app;
    this.app = null;
    if (app) await app.close();
  }

  private draining = false;
  private readonly pushes = new Set<Promise<unknown>>();

  /** Once the node drains, a new push gets 503; the ones in flight are kept so drain can wait. */
  private trackPush(req: FastifyRequest, reply: FastifyReply): Promise<unknown> | FastifyReply {
    if (this.draining)
      return reply.code(503).type("text/plain; charset=utf-8").send("the node is shutting down\n");
    const p = this.push(req, reply);
    this.pushes.add(p);
    const forget = () => this.pushes.delete(p);
    p.then(forget, forget);
    return p;
  }

  /** The node is stopping: refuse new pushes (503) and wait for those in flight (playback still works). */
  async drain(signal: AbortSignal): Promise<void> {
    this.draining = true;
    const deadline = new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      signal.addEventListener("abort", () => resolve(), { once: true });
    });
    await Promise.race([Promise.allSettled([...this.pushes]), deadline]);
  }

  /** POST|PUT /live/<manifestID>/<seq>.ts|.mp4 (server/mediaserver.go HandlePush). */
  private async push(req: FastifyRequest, reply: FastifyReply) {
    const text = (status: number, body: string) =>
      reply.code(status).type("text/plain; charset=utf-8").send(`${body}\n`);
    if (req.method !== "POST" && req.method !== "PUT") return text(405, "Method Not Allowed");
    const target = parsePushPath(req.url);
    if ("error" in target) return text(400, target.error);
    const { manifestId, ext, seq } = target;
    const durHeader = Number(req.headers["content-duration"]);
    const durationMs = Number.isFinite(durHeader) && durHeader > 0 ? durHeader : 2000;
    if (durationMs > 300_000) return text(400, "invalid duration");
    if (req.headers["content-slice-from"] !== undefined || req.headers["content-slice-to"] !== undefined) {
      // Clipping needs SegmentSlicing on the orchestrator side too; refused rather than ignored.
      return text(400, "Content-Slice-From/Content-Slice-To: segment slicing is not supported yet");
    }
    const resolution = /^(\d{1,5})x(\d{1,5})$/.exec(String(req.headers["content-resolution"] ?? ""));
    let profiles: VideoProfile[] | null = null;
    const cfg = req.headers["livepeer-transcode-configuration"];
    if (typeof cfg === "string" && cfg !== "") {
      try {
        profiles = profilesFromConfigHeader(cfg);
      } catch (err) {
        return text(400, `failed to parse transcode config header: "${errorMessage(err)}"`);
      }
    }
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    if (body.length === 0) return text(400, "empty segment body");
    // The codec is read from the container before anything is stored or sent (GetCodecInfoBytes).
    let info: SegmentInfo;
    try {
      info = sniffSegment(body);
    } catch {
      return text(422, `Error getting codec info url=${req.url}`);
    }
    if (info.videoCodec === null) return text(422, "no video stream in segment");
    if (!(info.videoCodec in INPUT_CODEC_CAPS))
      return text(422, `Unknown input stream codec=${info.videoCodec}`);
    // ffmpeg's segment muxer pushes without Content-Resolution: the SPS tells the size then.
    const source = resolution
      ? { width: Number(resolution[1]), height: Number(resolution[2]) }
      : { width: info.width, height: info.height };
    try {
      const stream = await this.deps.gateway.open(
        manifestId,
        req.url,
        profiles,
        source,
        "http",
        info.videoCodec,
      );
      this.deps.gateway.setSourceSize(stream, source.width, source.height);
      const out = await this.deps.gateway.processSegment(stream, {
        seq,
        data: body,
        durationMs,
        ext,
        zeroFrames: !info.videoFrames,
      });
      if (stream.profiles.length > 0 && out.renditions.length === 0)
        return text(503, "No sessions available");
      if (!String(req.headers.accept ?? "").includes(MIME_MULTIPART_MIXED)) return reply.code(200).send("");
      const boundary = randomBoundary();
      const parts = out.renditions.map((r) => {
        const fname = `${r.profile.name}_${seq}${extensionForFormat(r.profile.format)}`;
        return {
          headers: {
            "Content-Type": `${mimeForFormat(r.profile.format)}; name="${fname}"`,
            "Content-Length": String(r.data.length),
            "Content-Disposition": `attachment; filename="${fname}"`,
            "Rendition-Name": r.profile.name,
          },
          body: r.data,
        };
      });
      return reply
        .code(200)
        .header("Content-Type", `${MIME_MULTIPART_MIXED}; boundary=${boundary}`)
        .send(buildMultipart(parts, boundary));
    } catch (err) {
      if (err instanceof SegmentFailure) return text(err.status, err.message);
      if (err instanceof StreamAuthDenied) {
        this.deps.logger.warn(
          { manifestID: manifestId, err: err.message },
          "stream refused by the auth webhook",
        );
        return text(403, `Could not create stream ID: url=${req.url.split("?")[0]}`);
      }
      this.deps.logger.error({ manifestID: manifestId, err: errorMessage(err) }, "push failed");
      return text(500, errorMessage(err));
    }
  }

  /** GET /stream/<mid>.m3u8, /stream/<mid>/<rendition>.m3u8 and /stream/<mid>/<rendition>/<seq>.<ext>. */
  private stream(req: FastifyRequest, reply: FastifyReply) {
    const path = decodeURIComponent(req.url.split("?")[0]!).replace(/^\/stream\//, "");
    const notFound = () =>
      reply.code(404).headers(CORS).type("text/plain; charset=utf-8").send("ErrNotFound\n");
    const playlist = (body: string) =>
      reply
        .code(200)
        .headers(CORS)
        .header("Content-Type", "application/x-mpegURL")
        .header("Connection", "keep-alive")
        .send(body);
    if (path.endsWith(".m3u8")) {
      let base = path.slice(0, -5);
      // -currentManifest: /stream/current.m3u8 is the master playlist of the latest stream.
      if (base === "current" && this.options.currentManifest && !this.deps.gateway.streams.has("current")) {
        base = this.deps.gateway.lastManifestId ?? "";
      }
      const master = this.deps.gateway.streams.get(base);
      if (master) return playlist(master.playlists.master());
      const slash = base.lastIndexOf("/");
      const s = slash > 0 ? this.deps.gateway.streams.get(base.slice(0, slash)) : undefined;
      const rendition = base.slice(slash + 1);
      if (!s?.playlists.has(rendition)) return notFound();
      return playlist(s.playlists.media(rendition));
    }
    const obj = this.deps.store.get(path);
    if (!obj) return notFound();
    return reply.code(200).headers(CORS).header("Content-Type", obj.contentType).send(obj.data);
  }
}
