import { errorMessage, LpError } from "../errors/LpError.js";
import type { HttpClient } from "../http/client.js";
import { PRESETS, parseJsonProfiles, type VideoProfile } from "../media/profiles.js";
import { manifestIdProblem } from "../protocol/manifestId.js";

const AUTH_TIMEOUT_MS = 5000;
const MAX_ANSWER_BYTES = 1024 * 1024;

/** What the stream auth webhook decided for a new stream (go-livepeer authWebhookResponse). */
export interface StreamAuthResult {
  /** The stream's name inside the node: its HLS lives under /stream/<manifestId>. */
  manifestId: string;
  streamKey: string;
  /** Renditions asked for; null means the node's -transcodingOptions. */
  profiles: VideoProfile[] | null;
}

/** The webhook refused the stream or answered something unusable. */
export class StreamAuthDenied extends LpError {
  constructor(message: string) {
    super("AUTH_DENIED", message);
  }
}

/** Fields of the answer that need a feature this node does not have yet. */
const UNSUPPORTED_FIELDS = ["objectStore", "recordObjectStore", "recordObjectStoreUrl"] as const;

/**
 * Read a webhook answer body: empty means "accept with defaults" (null); otherwise JSON with a
 * non-empty `manifestID`, and `presets` (names; unknown ones skipped, as go-livepeer does) and/or
 * `profiles` (go-livepeer's JSON profiles) appended in that order.
 */
export function parseAuthAnswer(body: string): StreamAuthResult | null {
  if (body.trim() === "") return null;
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(body) as Record<string, unknown>;
  } catch {
    throw new StreamAuthDenied("auth webhook answer is not JSON");
  }
  if (typeof j !== "object" || j === null || Array.isArray(j))
    throw new StreamAuthDenied("auth webhook answer is not a JSON object");
  const manifestId = typeof j["manifestID"] === "string" ? j["manifestID"] : "";
  if (manifestId === "") throw new StreamAuthDenied("empty manifest id not allowed");
  const problem = manifestIdProblem(manifestId);
  if (problem) throw new StreamAuthDenied(`auth webhook answer: ${problem}`);
  for (const f of UNSUPPORTED_FIELDS) {
    if (typeof j[f] === "string" && j[f] !== "")
      throw new StreamAuthDenied(`auth webhook ${f}: not supported yet`);
  }
  const presets = Array.isArray(j["presets"]) ? j["presets"] : [];
  const profiles: VideoProfile[] = [];
  for (const name of presets) {
    const p = PRESETS[String(name).trim()];
    if (p) profiles.push({ ...p });
  }
  if (Array.isArray(j["profiles"]) && j["profiles"].length > 0) {
    try {
      profiles.push(...parseJsonProfiles(JSON.stringify(j["profiles"])));
    } catch (err) {
      throw new StreamAuthDenied(`Failed to parse JSON video profile: ${(err as Error).message}`);
    }
  }
  const useDefaults = j["profiles"] == null && presets.length === 0;
  return {
    manifestId,
    streamKey: typeof j["streamKey"] === "string" ? j["streamKey"] : "",
    profiles: useDefaults ? null : profiles,
  };
}

/**
 * -authWebhookUrl on a gateway (go-livepeer server/auth.go authenticateStream): every new stream
 * is POSTed as {"url": "<ingest URL>"}; anything but 200 refuses it (403 for HTTP push, a
 * rejected publish for RTMP). Unlike go-livepeer the call has a 5 s timeout.
 */
export class StreamAuth {
  constructor(
    private readonly url: string,
    private readonly deps: { http: HttpClient },
  ) {}

  /** Ask the webhook about a new stream; throws StreamAuthDenied for a refusal or an unusable answer. */
  async authenticate(ingestUrl: string): Promise<StreamAuthResult | null> {
    let res: { status: number; body: Buffer };
    try {
      res = await this.deps.http.request(this.url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ url: ingestUrl }),
        timeoutMs: AUTH_TIMEOUT_MS,
        maxResponseBytes: MAX_ANSWER_BYTES,
        timeoutText: "auth webhook timed out",
      });
    } catch (err) {
      throw new StreamAuthDenied(`auth webhook unreachable: ${errorMessage(err)}`);
    }
    if (res.status !== 200) throw new StreamAuthDenied(`auth webhook status=${res.status}`);
    return parseAuthAnswer(res.body.toString("utf8"));
  }
}
