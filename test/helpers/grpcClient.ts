import { resolve } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

/**
 * An independent gRPC client built from our .proto files with grpc-js and proto-loader (no
 * code of ours), skipping certificate verification as go-livepeer's clients do.
 */
export function grpcClients(address: string) {
  const def = protoLoader.loadSync(resolve(import.meta.dirname, "../../proto/lp_rpc.proto"), {
    keepCase: true,
    longs: String,
    bytes: Buffer,
    defaults: true,
    oneofs: true,
    includeDirs: [resolve(import.meta.dirname, "../../proto")],
  });
  // biome-ignore lint/suspicious/noExplicitAny: grpc-js package definitions are untyped
  const pkg = grpc.loadPackageDefinition(def).net as any;
  const creds = grpc.credentials.createSsl(null, null, null, { rejectUnauthorized: false });
  // grpc-js would send the IP address as the TLS server name, which Node deprecates (DEP0123);
  // certificates are not checked, so any name does.
  const options = { "grpc.ssl_target_name_override": "localhost" };
  const orchestrator = new pkg.Orchestrator(address, creds, options);
  const transcoder = new pkg.Transcoder(address, creds, options);
  const call = <T>(client: grpc.Client, method: string, req: object): Promise<T> =>
    new Promise((done, fail) => {
      // biome-ignore lint/suspicious/noExplicitAny: dynamic method lookup on a generated client
      (client as any)[method](
        req,
        { deadline: Date.now() + 8000 },
        (err: grpc.ServiceError | null, res: T) => (err ? fail(err) : done(res)),
      );
    });
  return {
    orchestrator,
    transcoder,
    // biome-ignore lint/suspicious/noExplicitAny: decoded with keepCase into plain objects
    getOrchestrator: (req: object = {}) => call<any>(orchestrator, "GetOrchestrator", req),
    // biome-ignore lint/suspicious/noExplicitAny: as above
    ping: (value: Buffer) => call<any>(orchestrator, "Ping", { value }),
    endTranscodingSession: (req: object) => call<object>(orchestrator, "EndTranscodingSession", req),
    close: () => {
      orchestrator.close();
      transcoder.close();
    },
  };
}
