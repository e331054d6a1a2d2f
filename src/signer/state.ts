/**
 * The remote signer's opaque per-stream state (go-livepeer server/remote_signer.go
 * RemotePaymentState): the gateway keeps it between calls and sends it back verbatim. The signer
 * signs the JSON with its own key, so a forged or edited state is refused; a replayed (older)
 * state is refused too, by remembering the last sequence number issued per state id.
 */
import { LpError } from "../errors/LpError.js";

/** go-livepeer's RemotePaymentState; the keys are its Go field names. */
export interface RemotePaymentState {
  StateID: string;
  /** The ticket params' recipientRandHash (0x hex) the nonce counts in. */
  PMSessionID: string;
  /** RFC 3339 time of the last payment. */
  LastUpdate: string;
  /** 0x lowercase hex. */
  OrchestratorAddress: string;
  App: string;
  /** Unix seconds until which the auth webhook is not asked again (0: ask). */
  AuthExpiry: number;
  SenderNonce: number;
  /** big.Rat RatString: the gateway's credit at the orchestrator as the signer reckons it. */
  Balance: string;
  InitialPricePerUnit: number;
  InitialPixelsPerUnit: number;
  Type: string;
  SequenceNumber: number;
  AuthID: string;
}

/** The state as it travels: base64 JSON and base64 65-byte signature. */
export interface SignedState {
  State: string;
  Sig: string;
}

/** A refusal of the signer with the HTTP status and go-livepeer's text. */
export class SignerError extends LpError {
  constructor(
    readonly status: number,
    message: string,
    options: { cause?: unknown; headers?: Record<string, string> } = {},
  ) {
    super(`SIGNER_${status}`, message, { cause: options.cause });
    this.headers = options.headers ?? {};
  }
  readonly headers: Record<string, string>;
}

/**
 * The key the signer signs states with, and the check of its own signatures: EIP-191 personal-sign
 * over the raw JSON bytes (go-livepeer's accounts.TextHash), as go-livepeer signs the state.
 */
export interface StateKey {
  sign(message: Uint8Array): Promise<Uint8Array>;
  verify(message: Uint8Array, sig: Uint8Array): Promise<boolean>;
}

const STRING_FIELDS = [
  "StateID",
  "PMSessionID",
  "LastUpdate",
  "OrchestratorAddress",
  "App",
  "Balance",
  "Type",
  "AuthID",
] as const;
const NUMBER_FIELDS = [
  "AuthExpiry",
  "SenderNonce",
  "InitialPricePerUnit",
  "InitialPixelsPerUnit",
  "SequenceNumber",
] as const;

/** Largest state the signer accepts back (a real one is a few hundred bytes). */
export const MAX_STATE_BYTES = 8 * 1024;

function decodeB64(text: unknown): Buffer | null {
  if (typeof text !== "string" || text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return null;
  return Buffer.from(text, "base64");
}

/** Sign a state: personal-sign over its JSON bytes. */
export async function signState(state: RemotePaymentState, key: StateKey): Promise<SignedState> {
  const json = Buffer.from(JSON.stringify(state), "utf8");
  const sig = await key.sign(json);
  return { State: json.toString("base64"), Sig: Buffer.from(sig).toString("base64") };
}

/**
 * Check and parse a state a gateway sent back: 400 `invalid sig` unless this signer signed these
 * exact bytes, 400 `invalid state` when the signed JSON is not a state.
 */
export async function openState(
  signed: { State?: unknown; Sig?: unknown },
  key: StateKey,
): Promise<RemotePaymentState> {
  const json = decodeB64(signed.State);
  const sig = decodeB64(signed.Sig);
  if (!json || !sig || json.length > MAX_STATE_BYTES || sig.length !== 65 || !(await key.verify(json, sig)))
    throw new SignerError(400, "invalid sig");
  let raw: unknown;
  try {
    raw = JSON.parse(json.toString("utf8"));
  } catch {
    throw new SignerError(400, "invalid state");
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw))
    throw new SignerError(400, "invalid state");
  const r = raw as Record<string, unknown>;
  for (const f of STRING_FIELDS) if (typeof r[f] !== "string") throw new SignerError(400, "invalid state");
  for (const f of NUMBER_FIELDS) if (!Number.isSafeInteger(r[f])) throw new SignerError(400, "invalid state");
  return r as unknown as RemotePaymentState;
}

/** RFC 3339 with nanoseconds, as Go's time.Time marshals. */
export function goTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000000Z");
}

/** Milliseconds of a state's LastUpdate, or null when it does not parse. */
export function parseGoTime(text: string): number | null {
  const t = Date.parse(text.replace(/\.(\d{3})\d*Z$/, ".$1Z"));
  return Number.isFinite(t) ? t : null;
}

/**
 * The last sequence number issued per state id, so that a state is accepted once: a replayed or
 * older copy is refused. Bounded: the oldest ids are forgotten past `maxEntries` or `ttlMs`; a
 * forgotten (or pre-restart) state is accepted once more.
 */
export class ReplayGuard {
  private readonly issued = new Map<string, { seq: number; at: number }>();

  constructor(
    private readonly options: { maxEntries: number; ttlMs: number },
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Claim `state` for one request: throws 400 when a later state of the same id was issued or
   * another request holds it. Returns a release function that puts the claim back on failure.
   */
  claim(stateId: string, seq: number): () => void {
    this.sweep();
    const seen = this.issued.get(stateId);
    if (seen && seen.seq !== seq) throw new SignerError(400, "invalid state: replayed or stale");
    // Marked as in use: a second request with the same state is refused until this one ends.
    const previous = seen ?? null;
    this.issued.set(stateId, { seq: -1, at: this.now() });
    return () => {
      const cur = this.issued.get(stateId);
      if (cur && cur.seq === -1) {
        if (previous) this.issued.set(stateId, previous);
        else this.issued.delete(stateId);
      }
    };
  }

  /** Record the sequence number just issued for a state id. */
  issue(stateId: string, seq: number): void {
    this.issued.delete(stateId);
    this.issued.set(stateId, { seq, at: this.now() });
    this.sweep();
  }

  /** State ids seen within `withinMs` (the signer's live sessions for /status). */
  active(withinMs: number): number {
    const since = this.now() - withinMs;
    let n = 0;
    for (const v of this.issued.values()) if (v.at >= since) n++;
    return n;
  }

  private sweep(): void {
    const cutoff = this.now() - this.options.ttlMs;
    for (const [id, v] of this.issued) {
      if (this.issued.size <= this.options.maxEntries && v.at >= cutoff) break;
      this.issued.delete(id);
    }
  }
}
