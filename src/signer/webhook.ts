/**
 * The remote signer's auth webhook (go-livepeer server/remote_signer.go authLivePayment): before a
 * payment is signed, the operator's service is asked whether this caller may spend the deposit.
 * Webhook headers are sent, never logged.
 */
import { errorMessage } from "../errors/LpError.js";
import type { HttpClient } from "../http/client.js";
import { type RemotePaymentState, SignerError } from "./state.js";

/** go-livepeer's webhook timeout. */
export const WEBHOOK_TIMEOUT_MS = 5000;
const MAX_ANSWER_BYTES = 64 * 1024;

/** What the webhook allowed: until when (unix s, 0 = ask every time), the caller's id, a ceiling. */
export interface WebhookDecision {
  expiry: number;
  authId: string;
  maxPrice: unknown;
}

/** Calls -remoteSignerWebhookUrl with -remoteSignerWebhookHeaders. */
export class SignerWebhook {
  constructor(
    private readonly options: { url: string; headers: Record<string, string>; timeoutMs?: number },
    private readonly deps: { http: HttpClient },
  ) {}

  /**
   * Ask the webhook about a payment. A refusal (`status` ≠ 200 in the answer) is that status with
   * `reason`; a webhook that fails, times out or answers anything unusable is a 500.
   */
  async authorize(
    incoming: Record<string, string | string[] | undefined>,
    state: RemotePaymentState,
  ): Promise<WebhookDecision> {
    const headers: Record<string, string[]> = {};
    for (const [k, v] of Object.entries(incoming)) {
      // Go's server keeps Host out of Request.Header, so go-livepeer's webhook never sees it.
      if (v === undefined || k.toLowerCase() === "host") continue;
      headers[canonicalHeader(k)] = Array.isArray(v) ? v : [v];
    }
    let res: { status: number; body: Buffer };
    try {
      res = await this.deps.http.request(this.options.url, {
        method: "POST",
        headers: { ...this.options.headers, "content-type": "application/json" },
        body: JSON.stringify({ headers, state }),
        timeoutMs: this.options.timeoutMs ?? WEBHOOK_TIMEOUT_MS,
        maxResponseBytes: MAX_ANSWER_BYTES,
        timeoutText: "remote signer webhook timed out",
      });
    } catch (err) {
      throw new SignerError(500, `remote signer webhook failed: ${errorMessage(err)}`, { cause: err });
    }
    if (res.status !== 200) throw new SignerError(500, `remote signer webhook status=${res.status}`);
    let j: unknown;
    try {
      j = JSON.parse(res.body.toString("utf8"));
    } catch {
      throw new SignerError(500, "remote signer webhook answer is not JSON");
    }
    if (typeof j !== "object" || j === null || Array.isArray(j))
      throw new SignerError(500, "remote signer webhook answer is not a JSON object");
    const a = j as Record<string, unknown>;
    const status = a["status"];
    if (typeof status !== "number" || !Number.isInteger(status) || status <= 0)
      throw new SignerError(500, "remote signer webhook answer has no valid status");
    if (status !== 200) {
      const reason = typeof a["reason"] === "string" && a["reason"] !== "" ? a["reason"] : "unauthorized";
      // A status outside HTTP's range cannot be sent on: it is the webhook's error.
      if (status < 400 || status > 599) throw new SignerError(500, `remote signer webhook status ${status}`);
      throw new SignerError(status, reason.slice(0, 500));
    }
    const expiry = a["expiry"];
    const authId = a["auth_id"];
    return {
      expiry: typeof expiry === "number" && Number.isSafeInteger(expiry) && expiry > 0 ? expiry : 0,
      authId: typeof authId === "string" ? authId : "",
      maxPrice: a["maxPrice"],
    };
  }
}

/** Go's http.CanonicalHeaderKey (the webhook sees headers as go-livepeer sends them). */
function canonicalHeader(name: string): string {
  return name
    .toLowerCase()
    .split("-")
    .map((p) => (p ? p[0]!.toUpperCase() + p.slice(1) : p))
    .join("-");
}
