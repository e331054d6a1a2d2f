import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { create } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { jobCapabilities, OrchestratorClient, SubmitError } from "../../../src/gateway/OrchestratorClient.js";
import { selfSignedCert } from "../../../src/http/tls.js";
import { PRESETS } from "../../../src/media/profiles.js";
import { OrchestratorInfoSchema, TranscodeResultSchema } from "../../../src/protocol/gen/lp_rpc_pb.js";
import { decodeSegmentHeader, encodeTranscodeResult } from "../../../src/protocol/segment.js";

/**
 * A stand-in orchestrator on a TLS port (HTTP/2 with HTTP/1.1 allowed, as ours and
 * go-livepeer's are): /segment answers a TranscodeResult whose renditions it serves itself.
 * It counts TLS handshakes and records what each request carried.
 */
async function fakeOrchestrator(opts: { hang?: boolean } = {}) {
  const requests: { path: string; version: string; headers: http2.IncomingHttpHeaders }[] = [];
  let handshakes = 0;
  const server = http2.createSecureServer(
    { ...selfSignedCert("127.0.0.1"), allowHTTP1: true },
    (req, res) => {
      requests.push({ path: req.url, version: req.httpVersion, headers: req.headers });
      if (req.url.startsWith("/stream/")) {
        res.writeHead(200).end(`rendition ${req.url}`);
        return;
      }
      req.resume();
      req.on("end", () => {
        if (opts.hang) return;
        const seg = decodeSegmentHeader(String(req.headers["livepeer-segment"]));
        const result = create(TranscodeResultSchema, {
          seq: seg.seq,
          result: {
            case: "data",
            value: {
              segments: ["P240p30fps16x9", "P360p30fps16x9"].map((name) => ({
                url: `${origin}/stream/sess/${name}/${seg.seq}.ts`,
                pixels: 1n,
              })),
            },
          },
        });
        res.writeHead(200).end(encodeTranscodeResult(result));
      });
    },
  );
  server.on("secureConnection", () => {
    handshakes += 1;
  });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        for (const s of sessions) s.destroy();
        server.close(() => r());
      }),
  );
  return { origin, requests, handshakes: () => handshakes };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const profiles = [{ ...PRESETS["P240p30fps16x9"]! }, { ...PRESETS["P360p30fps16x9"]! }];
const caps = jobCapabilities(profiles);
const info = (origin: string) =>
  create(OrchestratorInfoSchema, {
    transcoder: origin,
    authToken: { token: new Uint8Array(32), sessionId: "sess", expiration: 0n },
  });

describe("OrchestratorClient over the shared HTTP client", () => {
  it("sends several segments and their downloads over one TLS session (HTTP/2), with go-livepeer's headers", async () => {
    const orch = await fakeOrchestrator();
    const client = new OrchestratorClient();
    cleanups.push(() => client.close());
    for (let seq = 0; seq < 4; seq++) {
      const res = await client.submit(info(orch.origin), {
        manifestId: "reuse",
        seq,
        data: Buffer.from(`segment ${seq}`),
        durationMs: 2000,
        profiles,
        caps,
      });
      expect(res.renditions.map((r) => r.data.toString())).toEqual([
        `rendition /stream/sess/P240p30fps16x9/${seq}.ts`,
        `rendition /stream/sess/P360p30fps16x9/${seq}.ts`,
      ]);
    }
    expect(orch.handshakes()).toBe(1);
    expect(new Set(orch.requests.map((r) => r.version))).toEqual(new Set(["2.0"]));
    const post = orch.requests.find((r) => r.path === "/segment")!;
    expect(post.headers["content-type"]).toBe("video/MP2T");
    expect(post.headers["livepeer-payment"]).toBe("");
    expect(decodeSegmentHeader(String(post.headers["livepeer-segment"])).duration).toBe(2000);
  });

  it("gives up on an orchestrator that never answers after the upload timeout, as a retryable error", async () => {
    const orch = await fakeOrchestrator({ hang: true });
    const client = new OrchestratorClient();
    cleanups.push(() => client.close());
    // 2 s is go-livepeer's floor for the upload timeout (max(2 s, duration / 2)).
    const err = await client
      .submit(info(orch.origin), {
        manifestId: "hang",
        seq: 1,
        data: Buffer.from("x"),
        durationMs: 100,
        profiles,
        caps,
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SubmitError);
    expect((err as SubmitError).message).toBe("segment upload timed out");
    expect((err as SubmitError).retryable).toBe(true);
  });

  it("a cancelled submission stops at once", async () => {
    const orch = await fakeOrchestrator({ hang: true });
    const client = new OrchestratorClient();
    cleanups.push(() => client.close());
    const ac = new AbortController();
    const pending = client.submit(info(orch.origin), {
      manifestId: "cancel",
      seq: 1,
      data: Buffer.from("x"),
      durationMs: 60_000,
      profiles,
      caps,
      signal: ac.signal,
    });
    setTimeout(() => ac.abort(), 50);
    await expect(pending).rejects.toThrow(/cancelled/);
  });
});
