import { describe, expect, it } from "vitest";
import { normalizeRemoteSignerUrl, parseHeaderList } from "../../../src/signer/config.js";
import { ok, problems } from "../../helpers/config.js";

const CHAIN = [
  "-network",
  "devnet",
  "-ethUrl",
  "http://127.0.0.1:8545",
  "-ethController",
  `0x${"11".repeat(20)}`,
];

describe("remote signer flags", () => {
  it("defaults to 127.0.0.1:8935 and the CLI on 3935", () => {
    const c = ok(["--mode", "remote-signer", ...CHAIN]);
    expect(c.remoteSigner?.httpAddr).toEqual({ host: "127.0.0.1", port: 8935 });
    expect(c.cliAddr).toEqual({ host: "127.0.0.1", port: 3935 });
    expect(c.remoteSigner?.remoteDiscovery).toBe(false);
  });

  it("refuses a public -httpAddr without a webhook unless -remoteSignerAllowNoAuth", () => {
    expect(problems(["-remoteSigner", "-httpAddr", "0.0.0.0:8935", ...CHAIN])).toContain(
      "Refusing to start: remote signer on public -httpAddr 0.0.0.0:8935 with no -remoteSignerWebhookUrl signs payments from this node's deposit for any caller. Set the webhook, or pass -remoteSignerAllowNoAuth to override.",
    );
    expect(
      ok(["-remoteSigner", "-httpAddr", "0.0.0.0:8935", "-remoteSignerAllowNoAuth", ...CHAIN]).remoteSigner
        ?.allowNoAuth,
    ).toBe(true);
    const withHook = ok([
      "-remoteSigner",
      "-httpAddr",
      ":8935",
      "-remoteSignerWebhookUrl",
      "https://auth.example/hook",
      "-remoteSignerWebhookHeaders",
      "Authorization:Bearer x,X-Env:prod",
      ...CHAIN,
    ]);
    expect(withHook.remoteSigner?.webhookHeaders).toEqual({ Authorization: "Bearer x", "X-Env": "prod" });
  });

  it("needs a chain and an http(s) webhook", () => {
    expect(problems(["--mode", "remote-signer"])).toContain("Remote signer mode requires on-chain network");
    expect(problems(["--mode", "remote-signer", "-remoteSignerWebhookUrl", "ftp://x", ...CHAIN])).toContain(
      "Error setting remote signer webhook URL: URL should be HTTP or HTTPS",
    );
  });

  it("a gateway's -remoteSignerUrl gets https:// when it has no scheme", () => {
    const c = ok([
      "--mode",
      "gateway",
      "-remoteSignerUrl",
      "signer.example:8935",
      "-remoteSignerHeaders",
      "k:v",
    ]);
    expect(c.gateway?.remoteSignerUrl).toBe("https://signer.example:8935");
    expect(c.gateway?.remoteSignerHeaders).toEqual({ k: "v" });
    expect(normalizeRemoteSignerUrl("abc:65535")).toEqual({ url: "https://abc:65535" });
    expect(normalizeRemoteSignerUrl("abc:def")).toEqual({
      problem: expect.stringMatching(/^Adding HTTPS to remote signer URL failed: /),
    });
    expect(normalizeRemoteSignerUrl("http://[::1")).toEqual({
      problem: expect.stringMatching(/^Invalid remote signer URL: /),
    });
    expect(
      problems(["--mode", "gateway", "-remoteSignerHeaders", "novalue", "-remoteSignerUrl", "http://s"]),
    ).toContain("-remoteSignerHeaders: entry 1 is not a name:value header");
  });

  it("header lists never echo values in their errors", () => {
    expect(parseHeaderList("good:1, :secret", "h").problem).toBe("-h: entry 2 is not a name:value header");
  });
});
