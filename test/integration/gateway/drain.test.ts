import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveConfig } from "../../../src/config/resolve.js";
import { gatewayRole } from "../../../src/gateway/role.js";
import { silentLogger } from "../../../src/logger/logger.js";
import { LpNode } from "../../../src/node/LpNode.js";
import { GATEWAY_ON_PORT_0 } from "../../helpers/lpNode.js";
import { makeClip } from "../../helpers/media.js";
import { EchoTranscoder, type RunningOrchestrator, startOrchestrator } from "../../helpers/orchestrator.js";
import { tempDir } from "../../helpers/tmp.js";
import { waitFor } from "../../helpers/waitFor.js";

const transcoder = new EchoTranscoder();
let orch: RunningOrchestrator;

beforeAll(async () => {
  orch = await startOrchestrator(transcoder);
});
afterAll(async () => {
  await orch.stop();
});

async function startGateway(): Promise<{ node: LpNode; base: string }> {
  const r = resolveConfig([...GATEWAY_ON_PORT_0, "-orchAddr", orch.uri, "-datadir", tempDir("lp-gw-")], {
    env: {},
    readFile: () => null,
  });
  if (r.kind !== "ok") throw new Error(JSON.stringify(r));
  const node = new LpNode(r.config, {
    logger: silentLogger(),
    roles: { gateway: async (c, ctx) => gatewayRole(c, ctx) },
  });
  await node.start();
  return { node, base: `http://127.0.0.1:${node.status()["GatewayHTTPPort"]}` };
}

describe("gateway drain at stop", () => {
  it("finishes a push in flight, answers new pushes 503, then stops", async () => {
    const { node, base } = await startGateway();
    const ts = readFileSync(makeClip({ seconds: 1 }));
    const push = (seq: number) =>
      fetch(`${base}/live/drain/${seq}.ts`, {
        method: "POST",
        body: ts,
        headers: { "content-duration": "1000" },
      });
    transcoder.delayMs = 1500;
    try {
      const inFlight = push(0);
      await waitFor(() => transcoder.active > 0);
      const stopped = node.stop();
      const late = await push(1);
      expect(late.status).toBe(503);
      expect(await late.text()).toContain("shutting down");
      // The segment that was being transcoded when the stop began still completes.
      expect((await inFlight).status).toBe(200);
      await stopped;
      await expect(push(2)).rejects.toThrow(); // the server is gone now
    } finally {
      transcoder.delayMs = 0;
      await node.stop();
    }
  });
});
