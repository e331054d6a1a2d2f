import type { Role } from "../config/resolve.js";
import { gatewayRole } from "../gateway/role.js";
import type { RoleFactory } from "../node/LpNode.js";
import { orchestratorRole } from "../orchestrator/role.js";
import { buildLocalTranscoder } from "../transcoder/localTranscoder.js";
import { transcoderRole } from "../transcoder/role.js";

/** The role implementations that have landed; the others run as "not supported yet". */
export function roleFactories(): Partial<Record<Role, RoleFactory>> {
  return {
    gateway: (config, ctx) => gatewayRole(config, ctx),
    orchestrator: (config, ctx) => orchestratorRole(config, ctx, (c, x) => buildLocalTranscoder(c, x)),
    transcoder: (config, ctx) => transcoderRole(config, ctx),
  };
}
