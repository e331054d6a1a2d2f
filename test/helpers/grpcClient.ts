import { resolve } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

/**
 * The `net` package of one of our .proto files (`lp_rpc.proto`, `redeemer.proto`) as proto-loader
 * reads it, with no code of ours: field names as written, 64-bit numbers as strings, bytes as Buffers.
 */
// biome-ignore lint/suspicious/noExplicitAny: grpc-js package definitions are untyped
export function loadNetPackage(file: string, options: { oneofs?: boolean } = {}): any {
  const def = protoLoader.loadSync(resolve(import.meta.dirname, "../../proto", file), {
    keepCase: true,
    longs: String,
    bytes: Buffer,
    defaults: true,
    ...(options.oneofs ? { oneofs: true } : {}),
    includeDirs: [resolve(import.meta.dirname, "../../proto")],
  });
  return grpc.loadPackageDefinition(def)["net"];
}

/** TLS credentials that skip certificate verification, as go-livepeer's clients do. */
export const INSECURE_TLS = grpc.credentials.createSsl(null, null, null, { rejectUnauthorized: false });

/**
 * Channel options for INSECURE_TLS: grpc-js would send the IP address as the TLS server name,
 * which Node deprecates (DEP0123); certificates are not checked, so any name does.
 */
export const TLS_NAME_OPTIONS = { "grpc.ssl_target_name_override": "localhost" };

/**
 * An independent gRPC client built from our .proto files with grpc-js and proto-loader (no
 * code of ours), skipping certificate verification as go-livepeer's clients do.
 */
export function grpcClients(address: string) {
  const pkg = loadNetPackage("lp_rpc.proto", { oneofs: true });
  const creds = INSECURE_TLS;
  const options = TLS_NAME_OPTIONS;
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
