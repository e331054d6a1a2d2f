import { readFileSync, statSync } from "node:fs";
import type { NodeConfig } from "../config/resolve.js";
import { isLoopbackHost } from "../http/net.js";
import { defaultFfmpegPath } from "../media/ffmpeg/binaries.js";
import { parseTranscodingOptions } from "../media/profiles.js";
import type { RoleContext, RoleParts } from "../node/LpNode.js";
import { MemoryStore } from "../orchestrator/MemoryStore.js";
import { Gateway } from "./Gateway.js";
import { GatewayServer } from "./GatewayServer.js";
import { OrchestratorClient } from "./OrchestratorClient.js";
import { type OrchestratorList, StaticOrchestrators, WebhookOrchestrators } from "./OrchestratorList.js";
import { parseOrchAddrs } from "./OrchestratorPool.js";
import { RtmpIngest } from "./RtmpIngest.js";

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
  // A local orchestrator in the same process joins the pool.
  const local = config.roles.includes("orchestrator") && config.serviceUri ? [config.serviceUri] : [];
  const webhook = o.str("orchWebhookUrl");
  let orchestrators: OrchestratorList;
  if (webhook) {
    // go-livepeer: the webhook takes precedence over -orchAddr.
    orchestrators = new WebhookOrchestrators(webhook, local, { logger: ctx.logger });
  } else {
    const orchUris = o.str("orchAddr") ? parseOrchAddrs(o.str("orchAddr")) : [];
    for (const u of local) if (!orchUris.includes(u)) orchUris.push(u);
    if (orchUris.length === 0) ctx.logger.error("No orchestrator specified; transcoding will not happen");
    orchestrators = new StaticOrchestrators(orchUris);
  }
  const addr = config.gatewayHttpAddr!;
  // go-livepeer: unset -httpIngest turns push off on a public address (no auth webhook here yet).
  const httpIngest = o.isSet("httpIngest") ? o.bool("httpIngest") : isLoopbackHost(addr.host);
  if (!httpIngest)
    ctx.logger.warn("HTTP push ingest is off: -httpAddr is not loopback; pass -httpIngest to enable it");
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
    { logger: ctx.logger, client: new OrchestratorClient(), store },
  );
  const server = new GatewayServer(
    { addr, httpIngest, currentManifest: o.bool("currentManifest") },
    { logger: ctx.logger, gateway, store },
  );
  const rtmp = new RtmpIngest(
    { addr: config.rtmpAddr!, ffmpegPath: o.str("ffmpegPath") || defaultFfmpegPath() },
    { logger: ctx.logger, gateway },
  );
  return {
    services: [
      server,
      rtmp,
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
