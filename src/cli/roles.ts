import type { Role } from "../config/resolve.js";
import type { RoleFactory } from "../node/LpNode.js";

/** The role implementations that have landed; the others run as "not supported yet". */
export function roleFactories(): Partial<Record<Role, RoleFactory>> {
  return {};
}
