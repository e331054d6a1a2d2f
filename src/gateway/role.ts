import type { NodeConfig } from "../config/resolve.js";
import { errorMessage } from "../errors/LpError.js";
import { HttpClient } from "../http/client.js";
import { isLoopbackHost } from "../http/net.js";
import { defaultFfmpegPath } from "../media/ffmpeg/binaries.js";
import type { RoleContext, RoleParts } from "../node/LpNode.js";
import type { GatewayPayments } from "../payments/GatewayPayments.js";
import type { MaxPrices, PriceFeed } from "../payments/pricing.js";
import { MemoryStore } from "../storage/MemoryStore.js";
import { DemoPublisher } from "./DemoPublisher.js";
import { Gateway } from "./Gateway.js";
import { GatewayServer } from "./GatewayServer.js";
import { jobCapabilities, OrchestratorClient } from "./OrchestratorClient.js";
import { type OrchestratorList, StaticOrchestrators, WebhookOrchestrators } from "./OrchestratorList.js";
import { parseOrchAddrs } from "./OrchestratorPool.js";
import { RtmpIngest } from "./RtmpIngest.js";
import { StreamAuth } from "./StreamAuth.js";

/** Whether `target` is `err` or somewhere in its chain of causes. */
function causedBy(err: unknown, target: unknown): boolean {
  for (let e = err, depth = 0; e && depth < 16; e = (e as { cause?: unknown }).cause, depth++) {
    if (e === target) return true;
  }
  return false;
}

/**
 * The gateway's payments on a chain (null offchain): the sender's limits and price ceilings from
 * the flags (a bad value stops the node with go-livepeer's text), the key and the chain's time.
 */
async function gatewayPayments(
  config: NodeConfig,
  ctx: RoleContext,
): Promise<{ payments: GatewayPayments; maxPrices: MaxPrices; startPrices: () => Promise<void> } | null> {
  const chain = ctx.chain;
  if (!chain) return null;
  const g = config.gateway!;
  // Loaded only on a chain: an offchain gateway never loads the payments and chain code.
  const [{ GatewayPayments }, { MaxPrices, maxPricesFromFlags }, { chainSenderDeps }] = await Promise.all([
    import("../payments/GatewayPayments.js"),
    import("../payments/pricing.js"),
    import("../payments/chainSender.js"),
  ]);
  const flags = {
    maxPricePerUnit: g.maxPricePerUnit,
    pixelsPerUnit: g.pixelsPerUnit,
    maxPricePerCapability: g.maxPricePerCapability,
  };
  const maxPrices = new MaxPrices();
  // Bad flag text stops the node now; a ceiling in a currency needs the price feed, which is read
  // through the chain layer once it has started: those are converted when the payments start.
  const notYet = new Error("the price feed is read once the chain layer has started");
  const deferred: PriceFeed = {
    currencies: () => Promise.reject(notYet),
    current: () => Promise.reject(notYet),
    subscribe: () => () => {},
  };
  let convertAtStart = false;
  try {
    await maxPricesFromFlags(flags, deferred, maxPrices);
  } catch (err) {
    if (!causedBy(err, notYet)) throw err;
    convertAtStart = true;
  }
  const startPrices = async (): Promise<void> => {
    if (convertAtStart) await maxPricesFromFlags(flags, chain.priceFeed, maxPrices);
  };
  const { key, funds, time } = chainSenderDeps(chain);
  const payments = new GatewayPayments(
    {
      maxTicketEV: g.maxTicketEV,
      maxTotalEV: g.maxTotalEV,
      depositMultiplier: g.depositMultiplier,
      maxPrices,
    },
    { signer: key, funds, time, logger: ctx.logger.child({ module: "payments" }) },
  );
  return { payments, maxPrices, startPrices };
}

/** Builds the gateway role: HTTP push ingest, orchestrator selection (paid on a chain), HLS output. */
export async function gatewayRole(config: NodeConfig, ctx: RoleContext): Promise<RoleParts> {
  const g = config.gateway!;
  // -remoteSignerUrl: the signer holds the key and deposit (loaded only when set).
  const signerHttp = new HttpClient({ insecureTls: false });
  const remote = g.remoteSignerUrl
    ? (await import("./RemoteSigner.js")).remoteSignerPayments(g, signerHttp, ctx.logger)
    : null;
  const paid = remote ? null : await gatewayPayments(config, ctx);
  const payments = remote?.payments ?? paid?.payments ?? null;
  const profiles = g.profiles;
  // A local orchestrator in the same process joins the pool, at the URI it advertises once
  // started (with -serviceAddr port 0 the bound port is known only then).
  const local = (): string[] => {
    if (!config.roles.includes("orchestrator")) return [];
    const uri = ctx.shared.orchestratorUri?.() ?? config.orchestrator?.serviceUri;
    return uri ? [uri] : [];
  };
  // Webhooks are ordinary web services: their certificates are checked (orchestrators' are not).
  const webhookHttp = new HttpClient({ insecureTls: false });
  const client = new OrchestratorClient(payments ? { creds: () => payments.orchestratorRequestCreds() } : {});
  remote?.payments.setInfoRefresher((uri) =>
    client.getInfo(uri, jobCapabilities(profiles, g.orchMinLivepeerVersion), 2500),
  );
  const webhook = g.orchWebhookUrl;
  // On a chain the registry cache runs even when -orchWebhookUrl or -orchAddr names the
  // candidates (they take precedence, as in go-livepeer): selection weighs stakes from it.
  const chain = ctx.chain;
  // -orchPerfStatsUrl with -region: scores for -minPerfScore, from a URL we do not control.
  const perf =
    chain && g.orchPerfStatsUrl !== ""
      ? new (await import("./PerfScores.js")).PerfScores(
          { url: g.orchPerfStatsUrl, region: g.region },
          { http: webhookHttp, logger: ctx.logger.child({ module: "perfscores" }) },
        )
      : null;
  const onChain = chain
    ? (await import("./OnChainOrchestrators.js")).onChainDiscovery(
        chain,
        {
          discovery: !webhook && !g.orchAddr,
          extra: local,
          datadir: config.datadir,
          weights: g.selection,
          maxPrice: () => payments?.maxPrice() ?? null,
          filters: { ignoreMaxPriceIfNeeded: g.ignoreMaxPriceIfNeeded, minPerfScore: g.minPerfScore },
          scores: () => perf?.scores() ?? null,
          getInfo: (uri) => client.getInfo(uri, jobCapabilities(profiles, g.orchMinLivepeerVersion), 3000),
        },
        ctx.logger.child({ module: "discovery" }),
      )
    : null;
  let orchestrators: OrchestratorList;
  if (webhook) {
    // go-livepeer: the webhook takes precedence over -orchAddr.
    orchestrators = new WebhookOrchestrators(webhook, local, { logger: ctx.logger, http: webhookHttp });
  } else if (remote && !g.orchAddr) {
    // go-livepeer: without -orchAddr the remote signer's discovery lists the orchestrators.
    orchestrators = new WebhookOrchestrators(`${g.remoteSignerUrl}/discover-orchestrators`, local, {
      logger: ctx.logger,
      http: signerHttp,
      headers: g.remoteSignerHeaders,
    });
  } else if (onChain && !g.orchAddr) {
    orchestrators = onChain.registry;
  } else {
    const orchUris = g.orchAddr ? parseOrchAddrs(g.orchAddr) : [];
    if (orchUris.length === 0 && !config.roles.includes("orchestrator"))
      ctx.logger.error("No orchestrator specified; transcoding will not happen");
    orchestrators = new StaticOrchestrators(orchUris, local);
  }
  const addr = g.httpAddr;
  // go-livepeer: unset -httpIngest turns push off on a public address without an auth webhook.
  const authUrl = g.authWebhookUrl;
  const httpIngest = g.httpIngest ?? (isLoopbackHost(addr.host) || authUrl !== "");
  if (!httpIngest)
    ctx.logger.warn(
      "HTTP push ingest is off: -httpAddr is not loopback and there is no -authWebhookUrl; pass -httpIngest to enable it",
    );
  const store = new MemoryStore();
  const gateway = new Gateway(
    {
      profiles,
      orchestrators,
      maxAttempts: g.maxAttempts,
      maxStreams: g.maxStreams,
      discoveryTimeoutMs: g.discoveryTimeoutMs,
      blocklist: g.orchBlocklist,
      minVersion: g.orchMinLivepeerVersion,
      selection: onChain?.selection ?? null,
      extraNodes: g.extraNodes,
      // Offchain there is no ceiling to ignore (the config layer says the flag does nothing).
      ignoreMaxPriceIfNeeded: payments !== null && g.ignoreMaxPriceIfNeeded,
    },
    {
      logger: ctx.logger,
      client,
      store,
      auth: authUrl ? new StreamAuth(authUrl, { http: webhookHttp }) : undefined,
      payments,
    },
  );
  const server = new GatewayServer(
    { addr, httpIngest, currentManifest: g.currentManifest },
    { logger: ctx.logger, gateway, store },
  );
  const ffmpegPath = g.ffmpegPath || defaultFfmpegPath();
  const rtmp = new RtmpIngest(
    { addr: g.rtmpAddr, ffmpegPath, workDir: ctx.tmpDir },
    { logger: ctx.logger, gateway, children: ctx.children },
  );
  const demo = g.demo
    ? [
        new DemoPublisher(
          {
            ffmpegPath,
            rtmpPort: () => rtmp.port,
            httpBase: () => `http://${addr.host || "127.0.0.1"}:${server.port}`,
          },
          { logger: ctx.logger, children: ctx.children },
        ),
      ]
    : [];
  let unsubscribe: (() => void) | null = null;
  const paymentServices = payments
    ? [
        {
          // Before ingest opens: the deposit and reserve are known when the first stream arrives.
          name: "gateway-payments",
          async start(signal: AbortSignal) {
            await paid!.startPrices();
            await payments.balances.start(signal);
            const problem = await payments.start();
            const funds = payments.senderFunds;
            if (problem) {
              ctx.logger.error(
                { sender: payments.address, reason: problem },
                "the gateway cannot pay orchestrators; streams are refused until the deposit and reserve are funded",
              );
            } else {
              ctx.logger.info(
                {
                  sender: payments.address,
                  deposit: funds?.deposit.toString(),
                  reserve: funds?.reserve.fundsRemaining.toString(),
                },
                "paying orchestrators with tickets",
              );
            }
            // Deposit and reserve follow the chain (at most one read per refresh period).
            unsubscribe = ctx.chain!.blocks.onBlock(() => {
              void payments
                .refreshFunds()
                .catch((err) => ctx.logger.debug({ err: errorMessage(err) }, "sender funds refresh failed"));
            });
          },
          async stop() {
            unsubscribe?.();
            unsubscribe = null;
            paid!.maxPrices.stop();
            await payments.balances.stop();
          },
        },
      ]
    : [];
  return {
    services: [
      // The remote signer replaces the local key's payments and their chain reads.
      ...(remote ? [remote.service] : paymentServices),
      {
        // First to start, last to stop: ingest still draining can reach orchestrators.
        name: "gateway-http-clients",
        async start() {},
        async stop() {
          await Promise.all([client.close(), webhookHttp.close(), signerHttp.close()]);
        },
      },
      // After the payments (its GetOrchestrator calls carry the sender's signature), before ingest.
      ...(onChain ? [onChain.registry] : []),
      ...(perf
        ? [
            {
              name: "perf-scores",
              start: (signal: AbortSignal) => perf.start(signal),
              stop: () => perf.stop(),
            },
          ]
        : []),
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
      if (onChain) s["RegisteredOrchestrators"] = onChain.registry.status();
      const streams: Record<string, unknown> = {};
      const suspended = new Set<string>();
      // Every stream has its own pool: each is listed under its stream, and the top-level
      // OrchestratorPoolInfos is their union (lowest latency seen per orchestrator).
      const infos = new Map<string, { Url: string; Score: number; Latency: number }>();
      for (const st of gateway.streams.values()) {
        s.Manifests[st.manifestId] = st.playlists.master();
        const pool = st.pool.known.map((k) => ({
          Url: k.uri,
          Latency: Math.round(k.latencyMs),
          SegmentsOk: k.ok,
          SegmentsFailed: k.failed,
        }));
        const paidBy = st.pool.known.find((k) => k.uri === st.lastOrch)?.payment;
        streams[st.manifestId] = {
          ingest: st.ingest,
          ...(payments
            ? {
                payment: paidBy ? payments.sessionStatus(paidBy) : null,
                payments: Object.fromEntries(
                  st.pool.known
                    .filter((k) => k.payment)
                    .map((k) => [k.uri, payments.sessionStatus(k.payment!)]),
                ),
              }
            : {}),
          orchestrator: st.lastOrch,
          segmentsOk: st.ok,
          segmentsFailed: st.failed,
          segmentsRetried: st.retried,
          ended: st.playlists.ended,
          orchestratorsKnown: pool.map((k) => k.Url),
          pool,
          suspended: st.pool.suspendedList(),
        };
        for (const u of st.pool.suspendedList()) suspended.add(u);
        for (const k of pool) {
          const seen = infos.get(k.Url);
          if (!seen || k.Latency < seen.Latency)
            infos.set(k.Url, { Url: k.Url, Score: 0, Latency: k.Latency });
        }
      }
      s.OrchestratorPoolInfos = [...infos.values()];
      s["Streams"] = streams;
      s["SuspendedOrchestrators"] = [...suspended];
      if (remote) s["Sender"] = remote.payments.status();
      if (paid) {
        // The -maxPricePerUnit ceiling in wei per pixel as it stands now (it follows the price feed).
        const max = paid.maxPrices.maxPrice();
        s["Sender"] = { ...paid.payments.status(), maxPricePerPixel: max ? max.ratString() : null };
      }
      s["GatewayHTTPPort"] = server.port;
      s["GatewayRTMPPort"] = rtmp.port;
    },
  };
}
