import { afterEach, describe, expect, it } from "vitest";
import { SessionManager } from "../../src/orchestrator/SessionManager.js";
import { grpcClients } from "../helpers/grpcClient.js";
import { h2request } from "../helpers/h2.js";
import { EchoTranscoder, type RunningOrchestrator, startOrchestrator } from "../helpers/orchestrator.js";
import { decodeResult, P240, segmentHeaders } from "../helpers/wireClient.js";

describe("session manager draining", () => {
  it("keeps open sessions, refuses new ones and reports idle when the last segment ends", async () => {
    const sessions = new SessionManager({ capacity: () => 10 });
    expect(sessions.acquire("a")).toBe(true);
    sessions.accept("a");
    sessions.startDraining();
    expect(sessions.hasCapacity("")).toBe(false);
    expect(sessions.acquire("new")).toBe(false);
    expect(sessions.hasCapacity("a")).toBe(true);
    let idle = false;
    const waiting = sessions.whenIdle(new AbortController().signal).then(() => {
      idle = true;
    });
    await new Promise((r) => setImmediate(r));
    expect(idle).toBe(false);
    sessions.release("a");
    await waiting;
    expect(sessions.inFlight).toBe(0);
  });

  it("stops waiting when the drain deadline passes", async () => {
    const sessions = new SessionManager({ capacity: () => 10 });
    sessions.acquire("a");
    const deadline = new AbortController();
    const waiting = sessions.whenIdle(deadline.signal);
    deadline.abort();
    await waiting;
    expect(sessions.inFlight).toBe(1);
  });
});

describe("orchestrator stop", () => {
  let orch: RunningOrchestrator | null = null;
  afterEach(async () => {
    await orch?.stop();
    orch = null;
  });

  it("finishes a segment in flight and refuses new sessions while it drains", async () => {
    const transcoder = new EchoTranscoder();
    transcoder.delayMs = 1500;
    orch = await startOrchestrator(transcoder);
    const grpc = grpcClients(`127.0.0.1:${orch.port}`);
    try {
      const info = await grpc.getOrchestrator({});
      const data = Buffer.from("segment bytes");
      const pending = h2request(orch.uri, "/segment", {
        method: "POST",
        headers: segmentHeaders(info.auth_token, { seq: 1, data, profiles: [P240] }),
        body: data,
      });
      // Wait until the transcode has started, then stop the node under it.
      while (transcoder.active === 0) await new Promise((r) => setTimeout(r, 20));
      const stopping = orch.node.stop();
      await expect(grpc.getOrchestrator({})).rejects.toMatchObject({
        details: expect.stringContaining("OrchestratorCapped"),
      });
      const res = await pending;
      expect(res.status).toBe(200);
      const result = decodeResult(res.body);
      expect(result.result).toBe("data");
      expect(result.data.segments).toHaveLength(1);
      await stopping;
    } finally {
      grpc.close();
    }
  });
});
