import { readFileSync, statSync } from "node:fs";
import type { NodeConfig } from "../config/resolve.js";
import { isLoopbackHost } from "../http/net.js";
import { defaultFfmpegPath } from "../media/ffmpeg/binaries.js";
import { parseTranscodingOptions } from "../media/profiles.js";
import { LOCAL_ORCHESTRATOR_URI, type RoleContext, type RoleParts } from "../node/LpNode.js";
import { MemoryStore } from "../orchestrator/MemoryStore.js";
import { DemoPublisher } from "./DemoPublisher.js";
import { Gateway } from "./Gateway.js";
import { GatewayServer } from "./GatewayServer.js";
import { OrchestratorClient } from "./OrchestratorClient.js";
import { type OrchestratorList, StaticOrchestrators, WebhookOrchestrators } from "./OrchestratorList.js";
import { parseOrchAddrs } from "./OrchestratorPool.js";
import { RtmpIngest } from "./RtmpIngest.js";
import { StreamAuth } from "./StreamAuth.js";

function readIfFile(path: string): string | null {
  try {
    return statSync(path).isFile() ? readFileSync(path, "utf8") : null;
  } catch {
    return null;
  }
}

/** Builds the gateway role (offchain): HTTP push ingest, orchestrator selection, HLS output. */
export async function gatewayRole(config: NodeConfig, ctx: RoleContext): Promise<RoleParts> {
  const o = config.options;
  const profiles = parseTranscodingOptions(o.str("transcodingOptions"), readIfFile);
  // A local orchestrator in the same process joins the pool, at the URI it advertises once
  // started (with -serviceAddr port 0 the bound port is known only then).
  const local = (): string[] => {
    if (!config.roles.includes("orchestrator")) return [];
    const advertised = ctx.shared.get(LOCAL_ORCHESTRATOR_URI) as (() => string) | undefined;
    const uri = advertised?.() ?? config.serviceUri;
    return uri ? [uri] : [];
  };
  const webhook = o.str("orchWebhookUrl");
  let orchestrators: OrchestratorList;
  if (webhook) {
    // go-livepeer: the webhook takes precedence over -orchAddr.
    orchestrators = new WebhookOrchestrators(webhook, local, { logger: ctx.logger });
  } else {
    const orchUris = o.str("orchAddr") ? parseOrchAddrs(o.str("orchAddr")) : [];
    if (orchUris.length === 0 && !config.roles.includes("orchestrator"))
      ctx.logger.error("No orchestrator specified; transcoding will not happen");
    orchestrators = new StaticOrchestrators(orchUris, local);
  }
  const addr = config.gatewayHttpAddr!;
  // go-livepeer: unset -httpIngest turns push off on a public address without an auth webhook.
  const authUrl = o.str("authWebhookUrl");
  const httpIngest = o.isSet("httpIngest")
    ? o.bool("httpIngest")
    : isLoopbackHost(addr.host) || authUrl !== "";
  if (!httpIngest)
    ctx.logger.warn(
      "HTTP push ingest is off: -httpAddr is not loopback and there is no -authWebhookUrl; pass -httpIngest to enable it",
    );
  const store = new MemoryStore();
  const gateway = new Gateway(
    {
      profiles,
      orchestrators,
      maxAttempts: o.num("maxAttempts"),
      maxStreams: config.maxSessions === "auto" ? 10 : config.maxSessions,
      discoveryTimeoutMs: o.ms("discoveryTimeout"),
      blocklist: o
        .str("orchBlocklist")
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean),
      minVersion: o.str("orchMinLivepeerVersion"),
    },
    {
      logger: ctx.logger,
      client: new OrchestratorClient(),
      store,
      auth: authUrl ? new StreamAuth(authUrl) : undefined,
    },
  );
  const server = new GatewayServer(
    { addr, httpIngest, currentManifest: o.bool("currentManifest") },
    { logger: ctx.logger, gateway, store },
  );
  const ffmpegPath = o.str("ffmpegPath") || defaultFfmpegPath();
  const rtmp = new RtmpIngest({ addr: config.rtmpAddr!, ffmpegPath }, { logger: ctx.logger, gateway });
  const demo = o.bool("demo")
    ? [
        new DemoPublisher(
          {
            ffmpegPath,
            rtmpPort: () => rtmp.port,
            httpBase: () => `http://${addr.host || "127.0.0.1"}:${server.port}`,
          },
          { logger: ctx.logger },
        ),
      ]
    : [];
  return {
    services: [
      server,
      rtmp,
      ...demo,
      {
        name: "gateway-streams",
        async start() {
          gateway.start();
        },
        async stop() {
          gateway.stop();
        },
      },
    ],
    status: (s) => {
      s.OrchestratorPool = orchestrators.known();
      const streams: Record<string, unknown> = {};
      const suspended = new Set<string>();
      for (const st of gateway.streams.values()) {
        s.Manifests[st.manifestId] = st.playlists.master();
        streams[st.manifestId] = {
          ingest: st.ingest,
          orchestrator: st.lastOrch,
          segmentsOk: st.ok,
          segmentsFailed: st.failed,
          segmentsRetried: st.retried,
          ended: st.playlists.ended,
          orchestratorsKnown: st.pool.known.map((k) => k.uri),
        };
        for (const u of st.pool.suspendedList()) suspended.add(u);
        s.OrchestratorPoolInfos = st.pool.known.map((k) => ({
          Url: k.uri,
          Score: 0,
          Latency: Math.round(k.latencyMs),
        }));
      }
      s["Streams"] = streams;
      s["SuspendedOrchestrators"] = [...suspended];
      s["GatewayHTTPPort"] = server.port;
      s["GatewayRTMPPort"] = rtmp.port;
    },
  };
}
