import { afterEach, describe, expect, it } from "vitest";
import { jobCapabilities, OrchestratorClient } from "../../../src/gateway/OrchestratorClient.js";
import { StaticOrchestrators } from "../../../src/gateway/OrchestratorList.js";
import { OrchestratorPool } from "../../../src/gateway/OrchestratorPool.js";
import { silentLogger } from "../../../src/logger/logger.js";
import { PRESETS } from "../../../src/media/profiles.js";
import { EchoTranscoder, type RunningOrchestrator, startOrchestrator } from "../../helpers/orchestrator.js";

const caps = jobCapabilities([{ ...PRESETS["P240p30fps16x9"]! }]);
const running: RunningOrchestrator[] = [];
const clients: OrchestratorClient[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  for (const o of running.splice(0).reverse()) await o.stop();
});

describe("-extraNodes with real orchestrators", () => {
  it("follows the nodes an orchestrator advertises (-nodes), up to N, one level deep", async () => {
    // deep is advertised only by a node, so it is never reached; b and c by the listed one.
    const deep = await startOrchestrator(new EchoTranscoder());
    running.push(deep);
    const b = await startOrchestrator(new EchoTranscoder(), ["-nodes", deep.uri]);
    running.push(b);
    const c = await startOrchestrator(new EchoTranscoder());
    running.push(c);
    const a = await startOrchestrator(new EchoTranscoder(), ["-nodes", `${b.uri},${c.uri}`]);
    running.push(a);

    const discover = async (extraNodes: number) => {
      const client = new OrchestratorClient();
      clients.push(client);
      const pool = new OrchestratorPool(
        { list: new StaticOrchestrators([a.uri]), caps, discoveryTimeoutMs: 5000, extraNodes },
        { client, logger: silentLogger() },
      );
      await pool.refresh();
      return pool.known.map((s) => s.uri).sort();
    };
    expect(await discover(0)).toEqual([a.uri]);
    expect(await discover(1)).toEqual([a.uri, b.uri].sort());
    expect(await discover(5)).toEqual([a.uri, b.uri, c.uri].sort());
  });
});
