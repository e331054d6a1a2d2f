import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { errorMessage } from "../errors/LpError.js";
import {
  Orchestrator as OrchestratorService,
  Transcoder as TranscoderService,
} from "../protocol/gen/lp_rpc_pb.js";
import type { Orchestrator } from "./Orchestrator.js";
import { PEER_ADDRESS } from "./OrchestratorServer.js";
import type { RemoteTranscoderPool } from "./RemoteTranscoderPool.js";

/**
 * Errors leave as gRPC status Unknown with the plain text as grpc-message, as go-livepeer's
 * handlers return bare errors; clients compare the text.
 */
export function grpcError(err: unknown): ConnectError {
  return new ConnectError(errorMessage(err), Code.Unknown);
}

/** Mount net.Orchestrator (GetOrchestrator, Ping, EndTranscodingSession) on a Connect router. */
export function orchestratorGrpc(
  orch: Orchestrator,
  pool: RemoteTranscoderPool | null,
): (router: ConnectRouter) => void {
  const wrap =
    <I, O>(fn: (req: I) => O | Promise<O>) =>
    async (req: I): Promise<O> => {
      try {
        return await fn(req);
      } catch (err) {
        throw grpcError(err);
      }
    };
  return (router) => {
    router.service(OrchestratorService, {
      getOrchestrator: wrap((req) => orch.getOrchestrator(req)),
      ping: wrap((req) => orch.ping(req)),
      endTranscodingSession: wrap((req) => {
        orch.endTranscodingSession(req);
        return {};
      }),
    });
    // Registered only when transcoding is remote, as in go-livepeer.
    if (pool) {
      router.service(TranscoderService, {
        async *registerTranscoder(req, ctx) {
          try {
            yield* pool.register(req, ctx.values.get(PEER_ADDRESS), ctx.signal);
          } catch (err) {
            throw grpcError(err);
          }
        },
      });
    }
  };
}
