/**
 * The remote signer's opaque per-stream state (go-livepeer server/remote_signer.go
 * RemotePaymentState): the gateway keeps it between calls and sends it back verbatim. The signer
 * signs the JSON with its own key, so a forged or edited state is refused; a replayed (older)
 * state is refused too, by the last sequence number issued per state id, kept in SQLite.
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

/** RFC 3339 as Go's time.Time marshals it in UTC (RFC3339Nano: trailing zeros of the fraction dropped). */
export function goTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, (_m, f: string) => {
    const t = f.replace(/0+$/, "");
    return t === "" ? "Z" : `.${t}Z`;
  });
}

/** Milliseconds of a state's LastUpdate, or null when it does not parse. */
export function parseGoTime(text: string): number | null {
  const t = Date.parse(text.replace(/\.(\d{3})\d*Z$/, ".$1Z"));
  return Number.isFinite(t) ? t : null;
}

/** The persistent part of the replay guard (SignerStore in production). */
export interface ReplayStore {
  /** A state older than this (by its signed LastUpdate) is refused; its row may be gone. */
  readonly maxAgeMs: number;
  lastSequence(stateId: string): number | null;
  recordIssued(stateId: string, seq: number): void;
  activeSince(sinceMs: number): number;
}

/**
 * Accepts each issued state once: the last sequence number issued per state id is kept in the
 * store (it survives a restart), and a state being used by a request in flight is held in memory
 * so that a second copy sent at the same time is refused too. A state is refused when it is older
 * than the store keeps records for (by the LastUpdate the signer signed into it), when its
 * sequence number is not the last one issued, or when the store does not know its id (dropped,
 * or issued by another signer with the same key).
 */
export class ReplayGuard {
  private readonly inFlight = new Set<string>();

  constructor(
    private readonly store: ReplayStore,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Claim `state` for one request: throws 400 when it cannot be used. Returns a release function
   * for a request that ends without issuing a new state, so the same state can be used again.
   */
  claim(state: Pick<RemotePaymentState, "StateID" | "SequenceNumber" | "LastUpdate">): () => void {
    const last = parseGoTime(state.LastUpdate);
    if (last === null) throw new SignerError(400, "invalid state");
    if (last < this.now() - this.store.maxAgeMs) throw new SignerError(400, "invalid state: expired");
    const id = state.StateID;
    if (this.inFlight.has(id)) throw new SignerError(400, "invalid state: replayed or stale");
    const issued = this.store.lastSequence(id);
    if (issued === null) throw new SignerError(400, "invalid state: unknown to this signer");
    if (issued !== state.SequenceNumber) throw new SignerError(400, "invalid state: replayed or stale");
    this.inFlight.add(id);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inFlight.delete(id);
    };
  }

  /** Record the sequence number just issued for a state id (before the answer is sent). */
  issue(stateId: string, seq: number): void {
    this.store.recordIssued(stateId, seq);
  }

  /** State ids used within `withinMs` (the signer's live sessions for /status). */
  active(withinMs: number): number {
    return this.store.activeSince(this.now() - withinMs);
  }
}
