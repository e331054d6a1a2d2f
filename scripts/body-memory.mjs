#!/usr/bin/env node
// Memory after very large segment bodies: starts an offchain orchestrator in this process, has a
// child process POST large bodies to /segment over HTTP/2, then reads this process's RSS after
// garbage collection. A measurement, not a test: it prints numbers.
//
//   npm run build && node --expose-gc scripts/body-memory.mjs [--mb 250] [--count 3] [--dist dist]
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import http2 from "node:http2";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};

if (process.argv[2] === "--client") {
  // Child: send each body in 1 MiB writes, one request at a time, and wait for the whole answer.
  const { origin, mb, requests } = JSON.parse(process.argv[3]);
  const session = http2.connect(origin, { rejectUnauthorized: false });
  const chunk = Buffer.alloc(1024 * 1024, 7);
  for (const headers of requests) {
    await new Promise((done, fail) => {
      const req = session.request({
        ":method": "POST",
        ":path": "/segment",
        "content-length": String(mb * 1024 * 1024),
        ...headers,
      });
      req.on("response", () => {});
      req.on("data", () => {});
      req.on("end", done);
      req.on("error", fail);
      let left = mb;
      const pump = () => {
        while (left > 0) {
          left -= 1;
          if (!req.write(chunk)) return void req.once("drain", pump);
        }
        req.end();
      };
      pump();
    });
  }
  session.close();
  process.exit(0);
}

if (typeof globalThis.gc !== "function") {
  console.error("run with node --expose-gc");
  process.exit(2);
}
const mb = Number(arg("mb", "250"));
const count = Number(arg("count", "3"));
const dist = pathToFileURL(`${resolve(arg("dist", "dist"))}/`).href;
const { resolveConfig } = await import(`${dist}src/config/resolve.js`);
const { LpNode } = await import(`${dist}src/node/LpNode.js`);
const { orchestratorRole } = await import(`${dist}src/orchestrator/role.js`);
const { silentLogger } = await import(`${dist}src/logger/logger.js`);
const { encodeSegmentHeader, keccak } = await import(`${dist}src/protocol/segment.js`);
const { create } = await import("@bufbuild/protobuf");
const { Capability } = await import(`${dist}src/protocol/capabilities.js`);
const { SegDataSchema } = await import(`${dist}src/protocol/gen/lp_rpc_pb.js`);

const rssMb = () => Math.round(process.memoryUsage().rss / 1e6);
const settle = async () => {
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setTimeout(r, 500));
    globalThis.gc();
  }
};

// A transcoder that refuses at once: only the body's path through the server is measured.
const refuser = {
  transcode: async () => {
    throw new Error("not transcoding in this measurement");
  },
  capabilities: () => [
    Capability.H264,
    Capability.MPEGTS,
    Capability.MP4,
    Capability.GOP,
    Capability.ProfileH264High,
  ],
  capacity: () => null,
};
const dataDir = mkdtempSync(join(tmpdir(), "lp-bodymem-"));
const r = resolveConfig(
  [
    "--mode",
    "orchestrator,transcoder",
    "-serviceAddr",
    "127.0.0.1:0",
    "-httpAddr",
    "127.0.0.1:0",
    "-cliAddr",
    "127.0.0.1:0",
    "-datadir",
    dataDir,
  ],
  { env: {}, readFile: () => null },
);
if (r.kind !== "ok") throw new Error(`bad config: ${JSON.stringify(r)}`);
let orch;
let server;
const node = new LpNode(r.config, {
  logger: silentLogger(),
  roles: {
    orchestrator: async (config, ctx) => {
      const parts = await orchestratorRole(config, ctx, async () => refuser);
      orch = parts.orchestrator;
      server = parts.server;
      return parts;
    },
    transcoder: () => ({ services: [] }),
  },
});
await node.start();
const origin = `https://127.0.0.1:${server.port}`;
// The same bytes the client sends; dropped before the baseline is read.
let body = Buffer.alloc(mb * 1024 * 1024, 7);
const hash = keccak(body);
body = null;
const requests = [];
for (let i = 0; i < count; i++) {
  const authToken = orch.info().authToken;
  const seg = create(SegDataSchema, {
    manifestId: Buffer.from("mem"),
    seq: BigInt(i),
    hash,
    duration: 2000,
    authToken,
    fullProfiles: [{ name: "P240p30fps16x9", width: 426, height: 240, bitrate: 600000, fps: 30 }],
    capabilities: { bitstring: [0x1003n] },
  });
  requests.push({ "livepeer-segment": encodeSegmentHeader(seg), "livepeer-payment": "" });
}
await settle();
const baseline = rssMb();
let peak = baseline;
const sampler = setInterval(() => {
  peak = Math.max(peak, rssMb());
}, 50);
const child = spawn(
  process.execPath,
  [new URL(import.meta.url).pathname, "--client", JSON.stringify({ origin, mb, requests })],
  {
    stdio: "inherit",
  },
);
const code = await new Promise((done) => child.on("close", done));
clearInterval(sampler);
await settle();
const after = rssMb();
await new Promise((r) => setTimeout(r, 5000));
await settle();
const later = rssMb();
await node.stop();
rmSync(dataDir, { recursive: true, force: true });
console.log(
  JSON.stringify({
    bodies: count,
    mbEach: mb,
    client: code,
    rssMb: { baseline, peak, afterGc: after, after5s: later },
  }),
);
