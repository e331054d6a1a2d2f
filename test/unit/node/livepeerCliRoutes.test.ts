import { describe, expect, it } from "vitest";
import { type NodeConfig, resolveConfig } from "../../../src/config/resolve.js";
import { silentLogger } from "../../../src/logger/logger.js";
import { LpNode } from "../../../src/node/LpNode.js";
import { tempDir } from "../../helpers/tmp.js";

function config(args: string[]): NodeConfig {
  const r = resolveConfig([...args, "-cliAddr", "127.0.0.1:0", "-datadir", tempDir()], {
    env: {},
    readFile: () => null,
  });
  if (r.kind !== "ok") throw new Error(`bad config: ${JSON.stringify(r)}`);
  return r.config;
}

describe("the routes livepeer_cli reads to pick its menu", () => {
  // cmd/livepeer_cli/wizard_transcoder.go isOrchestrator/isRedeemer compare the body with "true";
  // server/handlers.go answers the node type as "true" or "false".
  it.each([
    [["-gateway"], "false", "false"],
    [["-orchestrator", "-transcoder", "-serviceAddr", "127.0.0.1:8935"], "true", "false"],
  ])("%j: /IsOrchestrator %s, /IsRedeemer %s", async (args, isOrch, isRedeemer) => {
    const node = new LpNode(config(args), {
      logger: silentLogger(),
      roles: {
        gateway: () => ({ services: [] }),
        orchestrator: () => ({ services: [] }),
        transcoder: () => ({ services: [] }),
      },
    });
    await node.start();
    try {
      const base = `http://127.0.0.1:${node.cliPort}`;
      const o = await fetch(`${base}/IsOrchestrator`);
      expect([o.status, await o.text()]).toEqual([200, isOrch]);
      const r = await fetch(`${base}/IsRedeemer`);
      expect([r.status, await r.text()]).toEqual([200, isRedeemer]);
    } finally {
      await node.stop();
    }
  });
});
