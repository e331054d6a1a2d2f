/**
 * The remote signer's flags and the gateway's -remoteSignerUrl, checked with go-livepeer's texts
 * (cmd/livepeer/starter/starter.go). Pure: no chain or payments code is loaded from here.
 */
import type { HostPort } from "../config/addresses.js";
import type { Options } from "../config/resolve.js";
import { type SenderLimitFlags, senderLimitFlags } from "../config/senderLimits.js";
import { isLoopbackHost } from "../http/net.js";

/** What the remote-signer role reads, typed and validated. */
export interface RemoteSignerConfig extends SenderLimitFlags {
  /** The signer's plain-HTTP API (-httpAddr, default 127.0.0.1:8935). */
  httpAddr: HostPort;
  /** -remoteSignerWebhookUrl ("" for none). */
  webhookUrl: string;
  /** -remoteSignerWebhookHeaders, parsed; never logged. */
  webhookHeaders: Record<string, string>;
  allowNoAuth: boolean;
  /** -remoteDiscovery: serve GET /discover-orchestrators. */
  remoteDiscovery: boolean;
  /** Discovery sources (-orchAddr, -orchWebhookUrl); the chain's pool otherwise. */
  orchAddr: string;
  orchWebhookUrl: string;
  /** -liveAICapReportInterval: the discovery snapshot is rebuilt at most this often. */
  discoveryRefreshMs: number;
}

/**
 * go-livepeer's "k:v,k2:v2" header lists (-remoteSignerHeaders, -remoteSignerWebhookHeaders).
 * Entries without a colon or with an empty name are errors; the problem text never echoes values.
 */
export function parseHeaderList(
  text: string,
  flag: string,
): { headers: Record<string, string>; problem?: string } {
  const headers: Record<string, string> = {};
  if (text.trim() === "") return { headers };
  for (const [i, entry] of text.split(",").entries()) {
    if (entry.trim() === "") continue;
    const at = entry.indexOf(":");
    const name = at < 0 ? "" : entry.slice(0, at).trim();
    if (at < 0 || name === "" || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name))
      return { headers, problem: `-${flag}: entry ${i + 1} is not a name:value header` };
    headers[name] = entry.slice(at + 1).trim();
  }
  return { headers };
}

/**
 * -remoteSignerUrl as go-livepeer reads it: https:// is added when there is no scheme. Returns the
 * base URL without a trailing slash, or go-livepeer's error text.
 */
export function normalizeRemoteSignerUrl(text: string): { url: string } | { problem: string } {
  const raw = text.trim();
  let withScheme = raw;
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(raw)) {
    withScheme = `https://${raw}`;
    try {
      new URL(withScheme);
    } catch (err) {
      return { problem: `Adding HTTPS to remote signer URL failed: ${(err as Error).message}` };
    }
  }
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch (err) {
    return { problem: `Invalid remote signer URL: ${(err as Error).message}` };
  }
  if (u.protocol !== "http:" && u.protocol !== "https:")
    return { problem: `Invalid remote signer URL: scheme ${u.protocol} is not http or https` };
  return { url: `${u.origin}${u.pathname.replace(/\/+$/, "")}` };
}

/**
 * The remote signer's section: webhook URL and headers, and go-livepeer's refusal to sign for
 * anyone on a public address without a webhook (unless -remoteSignerAllowNoAuth).
 */
export function resolveRemoteSigner(o: Options, httpAddr: HostPort, problems: string[]): RemoteSignerConfig {
  const webhookUrl = o.str("remoteSignerWebhookUrl");
  if (webhookUrl !== "" && !isHttpUrl(webhookUrl))
    problems.push("Error setting remote signer webhook URL: URL should be HTTP or HTTPS");
  const wh = parseHeaderList(o.str("remoteSignerWebhookHeaders"), "remoteSignerWebhookHeaders");
  if (wh.problem) problems.push(wh.problem);
  const allowNoAuth = o.bool("remoteSignerAllowNoAuth");
  if (!isLoopbackHost(httpAddr.host) && webhookUrl === "" && !allowNoAuth) {
    const shown = httpAddr.host.includes(":")
      ? `[${httpAddr.host}]:${httpAddr.port}`
      : `${httpAddr.host}:${httpAddr.port}`;
    problems.push(
      `Refusing to start: remote signer on public -httpAddr ${shown} with no -remoteSignerWebhookUrl signs payments from this node's deposit for any caller. Set the webhook, or pass -remoteSignerAllowNoAuth to override.`,
    );
  }
  return {
    httpAddr,
    webhookUrl,
    webhookHeaders: wh.headers,
    allowNoAuth,
    remoteDiscovery: o.bool("remoteDiscovery"),
    orchAddr: o.str("orchAddr"),
    orchWebhookUrl: o.str("orchWebhookUrl"),
    discoveryRefreshMs: o.ms("liveAICapReportInterval"),
    ...senderLimitFlags(o),
  };
}

function isHttpUrl(value: string): boolean {
  try {
    return ["http:", "https:"].includes(new URL(value).protocol);
  } catch {
    return false;
  }
}
