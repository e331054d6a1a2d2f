import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { grpcClients } from "../helpers/grpcClient.js";
import { h2request } from "../helpers/h2.js";
import { EchoTranscoder, type RunningOrchestrator, startOrchestrator } from "../helpers/orchestrator.js";
import { P240, segmentHeaders } from "../helpers/wireClient.js";

let orch: RunningOrchestrator;
let grpc: ReturnType<typeof grpcClients>;
const transcoder = new EchoTranscoder();

beforeAll(async () => {
  orch = await startOrchestrator(transcoder);
  grpc = grpcClients(`127.0.0.1:${orch.port}`);
});
afterAll(async () => {
  grpc.close();
  await orch.stop();
});

describe("profile limits on the wire (a gateway cannot order any encode it likes)", () => {
  it("refuses oversized, too fast, or badly named profiles with 403 naming the field, before any work", async () => {
    const token = (await grpc.getOrchestrator({})).auth_token;
    const data = Buffer.from("x");
    for (const [profile, why] of [
      [{ ...P240, width: 16384, height: 16384 }, /16384x16384 is larger than 7680x4320/],
      [{ ...P240, width: 4320, height: 7681 }, /larger than 7680x4320/],
      [{ ...P240, fps: 100_000 }, /fps 100000/],
      [{ ...P240, bitrate: 2_000_000_000 }, /bitrate 2000000000/],
      [{ ...P240, name: "a\nb" }, /profile name/],
      [{ ...P240, name: "../x" }, /profile name/],
      [{ ...P240, gop: 3_600_000 }, /gop 3600000/],
    ] as const) {
      const res = await h2request(orch.uri, "/segment", {
        method: "POST",
        headers: segmentHeaders(token, { seq: 1, data, profiles: [profile] }),
        body: data,
      });
      expect(res.status, JSON.stringify(profile)).toBe(403);
      expect(res.body.toString(), JSON.stringify(profile)).toMatch(why);
    }
    expect(transcoder.jobs).toHaveLength(0);
    // Portrait 8K and the standard presets are fine.
    const ok = await h2request(orch.uri, "/segment", {
      method: "POST",
      headers: segmentHeaders(token, {
        seq: 2,
        data,
        profiles: [P240, { ...P240, name: "v", width: 4320, height: 7680 }],
      }),
      body: data,
    });
    expect(ok.status).toBe(200);
    expect(transcoder.jobs).toHaveLength(1);
  });
});
