import type { Role } from "../config/resolve.js";
import { gatewayRole } from "../gateway/role.js";
import type { RoleFactory } from "../node/LpNode.js";
import { orchestratorRole } from "../orchestrator/role.js";
import { remoteSignerRole } from "../signer/role.js";
import { buildLocalTranscoder } from "../transcoder/localTranscoder.js";
import { transcoderRole } from "../transcoder/role.js";

/** The role implementations that have landed; the others run as "not supported yet". */
export function roleFactories(): Partial<Record<Role, RoleFactory>> {
  return {
    gateway: (config, ctx) => gatewayRole(config, ctx),
    orchestrator: (config, ctx) => orchestratorRole(config, ctx, (c, x) => buildLocalTranscoder(c, x)),
    transcoder: (config, ctx) => transcoderRole(config, ctx),
    "remote-signer": (config, ctx) => remoteSignerRole(config, ctx),
    // Loaded only when asked for: it is chain code, which an offchain node never loads.
    redeemer: async (config, ctx) => (await import("../redeemer/role.js")).redeemerRole(config, ctx),
  };
}
