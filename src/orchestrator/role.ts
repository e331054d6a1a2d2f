import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { NodeConfig } from "../config/resolve.js";
import { errorMessage } from "../errors/LpError.js";
import { chainRewardService } from "../eth/RewardService.js";
import { chainRoundInitializer } from "../eth/RoundInitializer.js";
import type { ConnectionLimits } from "../http/connectionGuard.js";
import type { Transcoder } from "../media/transcoder.js";
import type { RoleContext, RoleParts } from "../node/LpNode.js";
import type { Service } from "../node/Service.js";
import type { RedeemerClientOptions } from "../payments/RedeemerClient.js";
import { AuthTokens } from "../protocol/authToken.js";
import { Orchestrator as OrchestratorService } from "../protocol/gen/lp_rpc_pb.js";
import { MemoryStore } from "../storage/MemoryStore.js";
import { VERSION } from "../version.js";
import { orchestratorGrpc } from "./grpc.js";
import { segmentHandler, transcodeResultsHandler, type UploadLimits } from "./http.js";
import { Orchestrator } from "./Orchestrator.js";
import { OrchestratorServer } from "./OrchestratorServer.js";
import { orchestratorOnChain } from "./onChain.js";
import { RemoteTranscoderPool } from "./RemoteTranscoderPool.js";
import { SessionManager } from "./SessionManager.js";

/** Limits of the public port that are not flags (tests lower them to see them act). */
export interface OrchestratorLimits {
  connection?: Partial<ConnectionLimits>;
  upload?: Partial<UploadLimits>;
  maxGrpcMessageBytes?: number;
  /** Redemption retry timings on a chain (tests shorten them). */
  recipient?: { initialBackoffMs?: number; maxBackoffMs?: number };
  /** Remote redeemer timings (tests shorten them). */
  redeemer?: Partial<Omit<RedeemerClientOptions, "url" | "datadir">>;
}

/**
 * Builds the orchestrator role: sessions, memory store, the Orchestrator and its TLS server.
 * The transcoder comes from the local transcoder role (`--mode orchestrator,transcoder`).
 */
export async function orchestratorRole(
  config: NodeConfig,
  ctx: RoleContext,
  localTranscoder: (config: NodeConfig, ctx: RoleContext) => Promise<Transcoder>,
  limits: OrchestratorLimits = {},
): Promise<
  RoleParts & { orchestrator: Orchestrator; server: OrchestratorServer; pool: RemoteTranscoderPool | null }
> {
  const oc = config.orchestrator!;
  const store = new MemoryStore();
  // --mode orchestrator,transcoder transcodes here; a lone orchestrator uses remote transcoders.
  let uri = (): string => serviceUri;
  const pool = config.roles.includes("transcoder")
    ? null
    : new RemoteTranscoderPool(
        { secret: oc.secret, serviceUri: () => uri(), orchId: "offchain" },
        { logger: ctx.logger.child({ module: "transcoder-pool" }), store },
      );
  const transcoder: Transcoder = pool ?? (await localTranscoder(config, ctx));
  let orchestrator: Orchestrator | null = null;
  const sessions = new SessionManager(
    {
      // auto: the sum of connected transcoders; a number: capped by what the hardware allows.
      capacity: () => {
        const cap = transcoder.capacity();
        if (oc.maxSessions === "auto") return cap ?? 0;
        return cap === null ? oc.maxSessions : Math.min(oc.maxSessions, cap);
      },
    },
    { onEnd: (id) => orchestrator?.onSessionEnded(id) },
  );
  const serviceUri = oc.serviceUri;
  uri = () => orchestrator?.serviceUri ?? serviceUri;
  // On a chain the orchestrator is paid: loaded only then, so an offchain node never loads chain code.
  const recipient = ctx.chain
    ? new (await import("../payments/Recipient.js")).Recipient(
        { ...oc.payments, datadir: config.datadir, ...limits.recipient },
        {
          chain: ctx.chain,
          logger: ctx.logger,
          // -redeemerAddr: winning tickets and max floats go through a remote redeemer.
          redeemer: oc.redeemerAddr
            ? new (await import("../payments/RedeemerClient.js")).RedeemerClient(
                { url: oc.redeemerAddr, datadir: config.datadir, ...limits.redeemer },
                { logger: ctx.logger },
              )
            : null,
        },
      )
    : null;
  orchestrator = new Orchestrator(
    { serviceUri, nodes: oc.nodes, version: VERSION },
    { logger: ctx.logger, transcoder, store, sessions, authTokens: new AuthTokens(), recipient },
  );
  const orch = orchestrator;
  const server = new OrchestratorServer(
    {
      addr: oc.listenAddr,
      certHost: new URL(serviceUri).hostname.replace(/^\[|\]$/g, ""),
      connectionLimits: limits.connection,
      maxGrpcMessageBytes: limits.maxGrpcMessageBytes,
    },
    {
      logger: ctx.logger,
      store,
      grpc: orchestratorGrpc(orch, pool),
      routes: [
        {
          method: "ANY",
          path: "/segment",
          handler: segmentHandler(orch, { logger: ctx.logger, limits: limits.upload }),
        },
        ...(pool
          ? [
              {
                method: "ANY" as const,
                path: "/transcodeResults",
                handler: transcodeResultsHandler(pool, { logger: ctx.logger, limits: limits.upload }),
              },
            ]
          : []),
      ],
    },
  );
  const sweeper: Service = {
    name: "orchestrator-sessions",
    async start() {
      sessions.start();
      // With port 0 the advertised URI takes the port actually bound.
      const uri = new URL(serviceUri);
      if (uri.port === "0") {
        uri.port = String(server.port);
        orch.serviceUri = uri.origin;
      }
    },
    // A stop drains first: no new sessions (gateways get OrchestratorCapped and go elsewhere),
    // segments in flight finish, and streams already here (the local gateway's last segments in
    // combined mode) are still served until every service has drained.
    async drain(signal) {
      sessions.startDraining();
      if (sessions.inFlight > 0)
        ctx.logger.info({ inFlight: sessions.inFlight }, "draining segments in flight");
      await sessions.whenIdle(signal);
    },
    async stop() {
      sessions.stop();
      pool?.close();
      await transcoder.stop?.();
    },
  };
  ctx.shared.orchestratorUri = () => orch.serviceUri;
  // Payments are ready before the port opens and stop after it closes.
  const services: Service[] = [...(recipient ? [recipient] : []), server, sweeper];
  if (oc.startupAvailabilityCheck) {
    services.push(availabilityCheck(() => orch.serviceUri, config, ctx));
  }
  // On a chain (its service starts before any role's): the registration as the chain sees it.
  // -ethOrchAddr: the registration read is the on-chain orchestrator's, not the hot key's.
  const onChain =
    ctx.chain && recipient
      ? orchestratorOnChain(
          ctx.chain,
          () => orch.serviceUri,
          ctx.logger,
          () => recipient.address,
        )
      : null;
  if (recipient) {
    // The operator routes (/setOrchestratorConfig, /activateOrchestrator) set the price here.
    ctx.shared.orchestratorStaking = {
      get address() {
        return recipient.address;
      },
      setPrice: (pricePerUnit, pixelsPerUnit) => recipient.setPrice(pricePerUnit, pixelsPerUnit),
      changed: () => void onChain?.refresh(),
      basePrice: () => recipient.basePriceText(),
    };
  }
  if (onChain) services.push(onChain);
  // Reward once per round (-reward, or a registered orchestrator) and, with -initializeRound,
  // initialise rounds nobody else has.
  const reward = ctx.chain
    ? chainRewardService(ctx.chain, oc.reward, ctx.logger, oc.payments.ethOrchAddr || null)
    : null;
  if (reward) services.push(reward);
  if (ctx.chain && oc.initializeRound) {
    services.push(chainRoundInitializer(ctx.chain, oc.initializeRoundMaxDelayMs, ctx.logger));
  }
  return {
    orchestrator: orch,
    server,
    pool,
    services,
    status: (s) => {
      s["OrchestratorSessions"] = sessions.size;
      s["OrchestratorServiceURI"] = orch.serviceUri;
      s["OrchestratorPort"] = server.port;
      onChain?.status(s);
      reward?.status(s);
      recipient?.status(s);
      // The local transcoder's GPUs and how each transcodes (NVENC or hybrid).
      Object.assign(s, transcoder.status?.());
      if (pool) {
        s.RegisteredTranscoders = pool.list();
        s.RegisteredTranscodersNumber = s.RegisteredTranscoders.length;
      }
    },
  };
}

/** go-livepeer's startup self-check: 2 s after start, Ping our own service URI over gRPC. */
function availabilityCheck(uri: () => string, config: NodeConfig, ctx: RoleContext): Service {
  let timer: NodeJS.Timeout | null = null;
  const abort = new AbortController();
  return {
    name: "orchestrator-availability-check",
    async start() {
      timer = setTimeout(async () => {
        const client = createClient(
          OrchestratorService,
          createGrpcTransport({ baseUrl: uri(), nodeOptions: { rejectUnauthorized: false } }),
        );
        try {
          await client.ping({ value: new Uint8Array(32) }, { timeoutMs: 8000, signal: abort.signal });
          ctx.logger.info({ uri: uri() }, "orchestrator is reachable at its service URI");
        } catch (err) {
          if (abort.signal.aborted) return;
          const listen = config.orchestrator?.listenAddr;
          const addr = listen ? `${listen.host}:${listen.port}` : "";
          ctx.fatal(
            new Error(
              `Orchestrator not available at ${uri()} (${addr}) via grpc ping check; shutting down: ${errorMessage(err)}`,
            ),
          );
        }
      }, 2000);
    },
    async stop() {
      abort.abort();
      if (timer) clearTimeout(timer);
    },
  };
}
