import { createServer, type Server } from "node:http";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { resolveConfig } from "../../../src/config/resolve.js";
import {
  parseWebhookBody,
  StaticOrchestrators,
  WebhookOrchestrators,
} from "../../../src/gateway/OrchestratorList.js";
import { HttpClient } from "../../../src/http/client.js";
import { silentLogger } from "../../../src/logger/logger.js";

let server: Server | null = null;
const http = new HttpClient({ insecureTls: false });
afterEach(() => {
  server?.closeAllConnections();
  server?.close();
  server = null;
});
afterAll(() => http.close());

/** A real HTTP webhook whose answer the test changes. */
async function webhook(): Promise<{
  url: string;
  answer: { status: number; body: string };
  hits: () => number;
}> {
  const answer = { status: 200, body: "[]" };
  let hits = 0;
  server = createServer((_req, res) => {
    hits += 1;
    res.writeHead(answer.status, { "content-type": "application/json" }).end(answer.body);
  });
  await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}/orchs`, answer, hits: () => hits };
}

describe("orchestrator lists", () => {
  it("reads go-livepeer's webhook JSON, skipping entries that are not absolute http(s) URLs", () => {
    expect(
      parseWebhookBody(
        JSON.stringify([
          { address: "https://o1.example:8935", score: 1 },
          { address: "https://o1.example:8935/" },
          { address: "http://10.0.0.2:9000" },
          { address: "o3.example:8935" },
          { address: "" },
          { score: 1 },
          null,
          { address: "ftp://x" },
        ]),
      ),
    ).toEqual(["https://o1.example:8935", "http://10.0.0.2:9000"]);
    expect(() => parseWebhookBody('{"address":"https://x"}')).toThrow(/JSON array/);
  });

  it("calls the webhook at most once a refresh interval and keeps the last good list on errors", async () => {
    const wh = await webhook();
    let now = 1_000_000;
    const list = new WebhookOrchestrators(wh.url, () => ["https://127.0.0.1:8935"], {
      logger: silentLogger(),
      http,
      now: () => now,
    });
    wh.answer.body = JSON.stringify([{ address: "https://a.example:1" }, { address: "https://b.example:2" }]);
    expect(await list.uris()).toEqual([
      "https://a.example:1",
      "https://b.example:2",
      "https://127.0.0.1:8935",
    ]);
    expect(await list.uris()).toHaveLength(3);
    expect(wh.hits()).toBe(1);
    now += 61_000;
    wh.answer.status = 500;
    expect(await list.uris()).toEqual([
      "https://a.example:1",
      "https://b.example:2",
      "https://127.0.0.1:8935",
    ]);
    expect(wh.hits()).toBe(2);
    wh.answer.status = 200;
    wh.answer.body = "not json";
    now += 61_000;
    expect(await list.uris()).toHaveLength(3);
    wh.answer.body = JSON.stringify([{ address: "https://c.example:3" }]);
    now += 61_000;
    expect(await list.uris()).toEqual(["https://c.example:3", "https://127.0.0.1:8935"]);
    expect(new StaticOrchestrators(["https://x:1"]).known()).toEqual(["https://x:1"]);
  });

  it("refuses a webhook URL that is not http(s) without echoing it", () => {
    const r = resolveConfig(["--mode", "gateway", "-orchWebhookUrl", "ftp://user:secret@h/x"], {
      env: {},
      readFile: () => null,
    });
    expect(r.kind).toBe("error");
    const text = JSON.stringify(r);
    expect(text).toContain("Error setting orch webhook URL: URL should be HTTP or HTTPS");
    expect(text).not.toContain("secret");
  });
});
