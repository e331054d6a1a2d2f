import type { FastifyReply, FastifyRequest } from "fastify";
import type { NodeConfig } from "../config/resolve.js";
import type { RoleContext, RoleParts } from "../node/LpNode.js";
import type { Service } from "../node/Service.js";
import { AuthTokens } from "../protocol/authToken.js";
import { VERSION } from "../version.js";
import { orchestratorGrpc } from "./grpc.js";
import { MemoryStore } from "./MemoryStore.js";
import { Orchestrator } from "./Orchestrator.js";
import { OrchestratorServer } from "./OrchestratorServer.js";
import { RemoteTranscoderPool } from "./RemoteTranscoderPool.js";
import type { SegmentTranscoder } from "./SegmentTranscoder.js";
import { SessionManager } from "./SessionManager.js";

/** Key under which the local transcoder role shares its SegmentTranscoder. */
export const LOCAL_TRANSCODER = "localTranscoder";

/**
 * Builds the orchestrator role: sessions, memory store, the Orchestrator and its TLS server.
 * The transcoder comes from the local transcoder role (`--mode orchestrator,transcoder`).
 */
export async function orchestratorRole(
  config: NodeConfig,
  ctx: RoleContext,
  localTranscoder: (config: NodeConfig, ctx: RoleContext) => Promise<SegmentTranscoder>,
): Promise<
  RoleParts & { orchestrator: Orchestrator; server: OrchestratorServer; pool: RemoteTranscoderPool | null }
> {
  const store = new MemoryStore();
  // --mode orchestrator,transcoder transcodes here; a lone orchestrator uses remote transcoders.
  let uri = (): string => serviceUri;
  const pool = config.roles.includes("transcoder")
    ? null
    : new RemoteTranscoderPool(
        { secret: config.options.str("orchSecret"), serviceUri: () => uri(), orchId: "offchain" },
        { logger: ctx.logger.child({ module: "transcoder-pool" }), store },
      );
  const transcoder: SegmentTranscoder = pool ?? (await localTranscoder(config, ctx));
  let orchestrator: Orchestrator | null = null;
  const sessions = new SessionManager(
    {
      capacity: () =>
        config.maxSessions === "auto" ? (transcoder.capacity() ?? 0) : Math.max(0, config.maxSessions),
    },
    { onEnd: (id) => orchestrator?.onSessionEnded(id) },
  );
  const serviceUri = config.serviceUri ?? config.nodes[0]!;
  uri = () => orchestrator?.serviceUri ?? serviceUri;
  orchestrator = new Orchestrator(
    { serviceUri, nodes: config.nodes, version: VERSION },
    { logger: ctx.logger, transcoder, store, sessions, authTokens: new AuthTokens() },
  );
  const orch = orchestrator;
  const server = new OrchestratorServer(
    { addr: config.orchHttpAddr!, certHost: new URL(serviceUri).hostname.replace(/^\[|\]$/g, "") },
    {
      logger: ctx.logger,
      store,
      grpc: orchestratorGrpc(orch, pool),
      routes: [
        { method: "ANY", path: "/segment", handler: (req, reply) => orch.handleSegment(req, reply) },
        ...(pool
          ? [
              {
                method: "ANY" as const,
                path: "/transcodeResults",
                handler: (req: FastifyRequest, reply: FastifyReply) => pool.handleResults(req, reply),
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
    async stop() {
      sessions.stop();
      pool?.close();
    },
  };
  return {
    orchestrator: orch,
    server,
    pool,
    services: [server, sweeper],
    status: (s) => {
      s["OrchestratorSessions"] = sessions.size;
      s["OrchestratorServiceURI"] = orch.serviceUri;
      s["OrchestratorPort"] = server.port;
      if (pool) {
        s.RegisteredTranscoders = pool.list();
        s.RegisteredTranscodersNumber = s.RegisteredTranscoders.length;
      }
    },
  };
}
