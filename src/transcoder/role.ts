import type { NodeConfig } from "../config/resolve.js";
import type { RoleContext, RoleParts } from "../node/LpNode.js";
import { buildLocalTranscoder } from "./localTranscoder.js";
import { TranscoderWorker } from "./TranscoderWorker.js";

/**
 * The transcoder role. Beside an orchestrator in the same process it is the orchestrator's local
 * transcoder (built by the orchestrator role); alone it is a worker registering with -orchAddr.
 */
export async function transcoderRole(config: NodeConfig, ctx: RoleContext): Promise<RoleParts> {
  if (config.roles.includes("orchestrator")) return { services: [] };
  const tc = config.transcoder!;
  const orchAddr = firstOrchAddr(tc.orchAddr);
  const transcoder = await buildLocalTranscoder(config, ctx);
  const capacity = tc.capacity;
  const worker = new TranscoderWorker(
    { orchAddr, secret: tc.secret, capacity },
    { logger: ctx.logger, transcoder, fatal: ctx.fatal },
  );
  return {
    services: [
      // Before the worker, so it stops after it (reverse order): warm sessions close once no task needs them.
      { name: "local-transcoder", start: async () => {}, stop: async () => transcoder.stop?.() },
      worker,
    ],
    status: (s) => {
      s["TranscoderOrchestrator"] = orchAddr;
      s["TranscoderConnected"] = worker.connected;
      s["TranscoderCapacity"] = capacity;
      s["TranscoderTasksDone"] = worker.tasksDone;
      s["TranscoderTasksFailed"] = worker.tasksFailed;
      Object.assign(s, transcoder.status());
    },
  };
}

/** go-livepeer uses the first -orchAddr entry, host:port with 8935 as the default port. */
export function firstOrchAddr(value: string): string {
  const first = value
    .split(",")[0]!
    .trim()
    .replace(/^https?:\/\//, "")
    .replace(/\/.*$/, "");
  return /:\d+$/.test(first) || first.startsWith("[") ? first : `${first}:8935`;
}
