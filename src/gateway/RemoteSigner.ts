/**
 * A gateway's client of a remote signer (go-livepeer server/remote_signer.go GetOrchInfoSig and
 * server/live_payment.go remotePaymentSender): the discovery signature and every payment come from
 * the signer (-remoteSignerUrl, with -remoteSignerHeaders on each request), so the gateway holds no
 * key and no ETH. Beyond go-livepeer, transcoded segments are paid this way too: the signer gets
 * the segment's metadata (type "" with inPixels and `segment`) and returns the Livepeer-Payment and
 * the signed Livepeer-Segment credentials.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { type Address, getAddress } from "viem";
import { errorMessage, LpError } from "../errors/LpError.js";
import type { HttpClient } from "../http/client.js";
import type { Logger } from "../logger/logger.js";
import type { FeeProfile } from "../payments/fees.js";
import { estimateOutPixels, SegmentPayment } from "../payments/fees.js";
import {
  GatewayPayments,
  type PaymentSession,
  quotedPrice,
  type SegmentPaymentHandle,
} from "../payments/GatewayPayments.js";
import type { MaxPrices } from "../payments/pricing.js";
import { ratPriceInfo } from "../payments/pricing.js";
import { SenderError } from "../payments/Sender.js";
import {
  type OrchestratorInfo,
  OrchestratorInfoSchema,
  PaymentSchema,
  type SegData,
  SegDataSchema,
  VideoProfileSchema,
} from "../protocol/gen/lp_rpc_pb.js";
import { encodePaymentHeader } from "../protocol/segment.js";

/** GetOrchInfoSig's timeout. */
const INFO_SIG_TIMEOUT_MS = 30_000;
/** One payment request (the signer may wait up to 5 s on its webhook). */
const PAYMENT_TIMEOUT_MS = 15_000;
const MAX_ANSWER_BYTES = 1024 * 1024;
/** The auth token is refreshed in its last 3 minutes, before the signer would answer 480. */
const AUTH_REFRESH_MARGIN_S = 180;
/** go-livepeer's gateway asks the orchestrator again at most 3 times on 480. */
const MAX_REFRESHES = 3;
/** Pause before a second and third refresh (times the attempt number). */
const REFRESH_PAUSE_MS = 500;

/** Why a signer that signed another segment than the one sent cannot pay for transcoding. */
export const SEGMENT_UNSUPPORTED =
  "remote signer did not sign this segment: it does not pay for transcoded segments (go-livepeer's signer signs live payments only; use an lp-node signer)";

/** A signer refusal with its HTTP status (480 refresh, 481 price, 482 no tickets...). */
export class RemoteSignerError extends LpError {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(status === 480 ? "SIGNER_REFRESH_SESSION" : "SIGNER_REFUSED", message, {
      retryable: status >= 500,
    });
  }
}

/** The signer's answer to /generate-live-payment. */
export interface RemotePayment {
  payment: string;
  segCreds: string;
  state: unknown;
}

/** The HTTP calls to a remote signer. */
export class RemoteSignerClient {
  constructor(
    private readonly options: { url: string; headers: Record<string, string> },
    private readonly deps: { http: HttpClient },
  ) {}

  /** POST /sign-orchestrator-info: the signer's address and InfoSig. */
  async orchInfoSig(): Promise<{ address: Address; sig: Uint8Array }> {
    const j = await this.post("/sign-orchestrator-info", "", INFO_SIG_TIMEOUT_MS);
    const addr = hexField(j["address"], 20);
    const sig = hexField(j["signature"], 65);
    if (!addr || !sig) throw new RemoteSignerError(502, "remote signer answered no address or signature");
    return { address: getAddress(`0x${Buffer.from(addr).toString("hex")}`), sig };
  }

  /** POST /generate-live-payment. */
  async generate(body: Record<string, unknown>): Promise<RemotePayment> {
    const j = await this.post("/generate-live-payment", JSON.stringify(body), PAYMENT_TIMEOUT_MS);
    if (
      typeof j["payment"] !== "string" ||
      typeof j["segCreds"] !== "string" ||
      typeof j["state"] !== "object"
    )
      throw new RemoteSignerError(502, "remote signer answer lacks payment, segCreds or state");
    return { payment: j["payment"], segCreds: j["segCreds"], state: j["state"] };
  }

  private async post(path: string, body: string, timeoutMs: number): Promise<Record<string, unknown>> {
    let res: { status: number; body: Buffer };
    try {
      res = await this.deps.http.request(`${this.options.url}${path}`, {
        method: "POST",
        headers: { ...this.options.headers, "content-type": "application/json" },
        body,
        timeoutMs,
        maxResponseBytes: MAX_ANSWER_BYTES,
        timeoutText: "remote signer timed out",
      });
    } catch (err) {
      throw new RemoteSignerError(503, `remote signer unreachable: ${errorMessage(err)}`);
    }
    let j: unknown;
    try {
      j = JSON.parse(res.body.toString("utf8"));
    } catch {
      j = null;
    }
    if (res.status !== 200) {
      const msg = (j as { error?: { message?: unknown } } | null)?.error?.message;
      throw new RemoteSignerError(
        res.status,
        `remote signer status=${res.status}${typeof msg === "string" ? `: ${msg.slice(0, 300)}` : ""}`,
      );
    }
    if (typeof j !== "object" || j === null || Array.isArray(j))
      throw new RemoteSignerError(502, "remote signer answer is not a JSON object");
    return j as Record<string, unknown>;
  }
}

/** A 400 about the signer's opaque state itself (replayed, stale, expired, unknown, bad signature). */
function isStateRefusal(err: unknown): boolean {
  return (
    err instanceof RemoteSignerError && err.status === 400 && /: invalid (state|sig)(:|$)/.test(err.message)
  );
}

function hexField(v: unknown, size: number): Uint8Array | null {
  if (typeof v !== "string") return null;
  const h = v.startsWith("0x") || v.startsWith("0X") ? v.slice(2) : v;
  if (h.length !== size * 2 || !/^[0-9a-fA-F]*$/.test(h)) return null;
  return Buffer.from(h, "hex");
}

/** Per orchestrator session: the latest OrchestratorInfo and the signer's opaque state. */
interface RemoteSession {
  info: OrchestratorInfo;
  state: unknown;
  /** The signer answered 480: the gateway must fetch a fresh OrchestratorInfo first. */
  refresh: boolean;
  /** The state is used once per call: a session's calls go one at a time, in order. */
  turn: Promise<void>;
}

/** A payment waiting for its segment's metadata: the signer is called when the segment is signed. */
interface PendingPayment {
  session: PaymentSession;
  inPixels: bigint;
}

/**
 * GatewayPayments whose key is a remote signer: the gateway calls it exactly as the local one
 * (discovery credentials, a payment per segment, the segment signature), and every signature
 * comes from the signer. The Livepeer-Payment header of a segment is filled in when its
 * credentials are signed (one signer call per segment, carrying the segment's hash).
 */
export class RemoteSignerPayments extends GatewayPayments {
  private creds: { address: Uint8Array; sig: Uint8Array } | null = null;
  private signerAddress: Address = "0x0000000000000000000000000000000000000000";
  private readonly remote = new WeakMap<PaymentSession, RemoteSession>();
  private readonly pending = new WeakMap<SegmentPaymentHandle, PendingPayment>();
  private readonly counts = { payments: 0, tickets: 0, refused: 0, refreshed: 0, restarted: 0 };
  private lastError: string | null = null;
  private refreshInfo: ((uri: string) => Promise<OrchestratorInfo>) | null = null;

  /** How to ask an orchestrator for fresh info when the signer answers 480 (GetOrchestrator). */
  setInfoRefresher(refresh: (uri: string) => Promise<OrchestratorInfo>): void {
    this.refreshInfo = refresh;
  }

  constructor(
    private readonly client: RemoteSignerClient,
    private readonly opts: { url: string; maxPrices: MaxPrices | null; logger: Logger; now?: () => number },
  ) {
    const self: { address: Address } = { address: "0x0000000000000000000000000000000000000000" };
    super(
      { maxPrices: opts.maxPrices },
      {
        // Never used to sign: every signature is the remote signer's.
        signer: {
          get address() {
            return self.address;
          },
          signHash: () => Promise.reject(new Error("the remote signer holds the key")),
        },
        funds: { senderInfo: () => Promise.reject(new Error("the remote signer holds the deposit")) },
        time: () => ({ lastSeenL1Block: 0n, lastInitializedRound: 0n, lastInitializedBlockHash: "0x" }),
        logger: opts.logger,
      },
    );
    this.setAddress = (a) => {
      self.address = a;
      this.signerAddress = a;
    };
  }

  private readonly setAddress: (a: Address) => void;

  /** Get the signer's address and InfoSig (at start; a failure stops the gateway). */
  override async start(): Promise<string | null> {
    let got: { address: Address; sig: Uint8Array };
    try {
      got = await this.client.orchInfoSig();
    } catch (err) {
      throw new LpError("REMOTE_SIGNER", `Unable to query remote signer: ${errorMessage(err)}`, {
        cause: err,
      });
    }
    this.setAddress(got.address);
    this.creds = { address: Buffer.from(got.address.slice(2), "hex"), sig: got.sig };
    return null;
  }

  override orchestratorRequestCreds(): { address: Uint8Array; sig: Uint8Array } {
    if (!this.creds) throw new Error("RemoteSignerPayments.start() has not run");
    return this.creds;
  }

  /** The signer checks its own deposit: nothing to read here. */
  override async refreshFunds(): Promise<void> {}

  override fundsProblem(): string | null {
    return null;
  }

  /** Price and params presence only: the signer validates the params against its deposit. */
  override async refusal(
    info: OrchestratorInfo,
    opts: { ignoreMaxPrice?: boolean } = {},
  ): Promise<string | null> {
    const price = quotedPrice(info);
    if (!price) return "no price quoted";
    const max = this.maxPrice();
    if (max && !opts.ignoreMaxPrice && ratPriceInfo(price).gt(max))
      return `price ${ratPriceInfo(price).ratString()} wei/pixel is above -maxPricePerUnit ${max.ratString()}`;
    if (!info.ticketParams) return "no ticket params";
    return null;
  }

  override startSession(uri: string, info: OrchestratorInfo): PaymentSession {
    const s = super.startSession(uri, info);
    this.remote.set(s, { info, state: null, refresh: false, turn: Promise.resolve() });
    return s;
  }

  override updateSession(session: PaymentSession, info: OrchestratorInfo): void {
    super.updateSession(session, info);
    const r = this.remote.get(session);
    if (r) {
      r.info = info;
      r.refresh = false;
    }
  }

  /**
   * Stage a segment's payment: the billable pixels are the local gateway's estimate (profiles ×
   * duration × 1.02); the signer is called once the segment's hash is known (segmentSig). A token
   * about to expire, or a 480 from the signer, asks the gateway for fresh info first.
   */
  override async paymentFor(
    session: PaymentSession,
    profiles: readonly FeeProfile[],
    durationMs: number,
  ): Promise<SegmentPaymentHandle> {
    const r = this.remote.get(session);
    if (!r) throw new SenderError("SENDER_SESSION_NOT_FOUND", "remote signer session not found");
    const exp = Number(r.info.authToken?.expiration ?? 0n);
    if (r.refresh || (exp > 0 && (this.opts.now ?? Date.now)() / 1000 > exp - AUTH_REFRESH_MARGIN_S)) {
      throw new SenderError("TICKET_PARAMS_EXPIRED", "TicketParams expired", { retryable: true });
    }
    const out = estimateOutPixels(profiles, durationMs / 1000);
    const inPixels = (out * 102n + 99n) / 100n;
    const handle: SegmentPaymentHandle = {
      header: "",
      numTickets: 0,
      update: SegmentPayment.stage(null, null, null),
      session,
    };
    this.pending.set(handle, { session, inPixels });
    return handle;
  }

  /**
   * The segment's signature, from the signer, which also returns the Livepeer-Payment: it is put
   * on the handle before the segment is sent.
   */
  override async segmentSig(
    md: { manifestId: string; seq: number; hash: Uint8Array; profileNames: string[] },
    handle?: SegmentPaymentHandle | null,
  ): Promise<Uint8Array> {
    const p = handle ? this.pending.get(handle) : undefined;
    const r = p ? this.remote.get(p.session) : undefined;
    if (!handle || !p || !r) throw new Error("no payment staged for this segment");
    if (p.inPixels > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error("segment too large to pay for");
    const segment = create(SegDataSchema, {
      seq: BigInt(md.seq),
      hash: md.hash,
      fullProfiles: md.profileNames.map((name) => create(VideoProfileSchema, { name })),
    });
    // Wait for this session's call in flight: its answer carries the state the next call needs.
    const before = r.turn;
    let done!: () => void;
    r.turn = new Promise((resolve) => {
      done = resolve;
    });
    await before;
    try {
      return await this.signSegment(handle, p, r, segment, md.manifestId);
    } finally {
      done();
    }
  }

  private async signSegment(
    handle: SegmentPaymentHandle,
    p: PendingPayment,
    r: RemoteSession,
    segment: SegData,
    manifestId: string,
  ): Promise<Uint8Array> {
    let res: RemotePayment | null = null;
    let restarted = false;
    for (let attempt = 0; !res; attempt++) {
      try {
        res = await this.client.generate({
          orchestrator: Buffer.from(toBinary(OrchestratorInfoSchema, r.info)).toString("base64"),
          type: "",
          inPixels: Number(p.inPixels),
          ManifestID: manifestId,
          segment: Buffer.from(toBinary(SegDataSchema, segment)).toString("base64"),
          ...(r.state ? { state: r.state } : {}),
        });
      } catch (err) {
        this.counts.refused += 1;
        this.lastError = errorMessage(err);
        // The signer no longer takes this session's state (an answer lost on the way, a signer
        // that dropped or never knew it): start a new state once rather than fail every segment.
        if (!restarted && r.state && isStateRefusal(err)) {
          restarted = true;
          r.state = null;
          this.counts.restarted += 1;
          this.opts.logger.warn(
            { err: errorMessage(err) },
            "remote signer refused the state: starting a new one",
          );
          attempt--;
          continue;
        }
        const refresh = err instanceof RemoteSignerError && err.status === 480;
        if (!refresh || !this.refreshInfo || attempt >= MAX_REFRESHES) {
          if (refresh) r.refresh = true;
          throw err;
        }
        // The orchestrator's params or token expired: ask it again (fresh params, same signer state).
        // Again after a pause: the orchestrator may not have seen the block the signer has.
        if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, REFRESH_PAUSE_MS * attempt));
        r.info = await this.refreshInfo(p.session.uri);
        this.counts.refreshed += 1;
      }
    }
    r.state = res.state;
    const payment = fromBinary(PaymentSchema, Buffer.from(res.payment, "base64"));
    const seg = fromBinary(SegDataSchema, Buffer.from(res.segCreds, "base64"));
    // go-livepeer's signer ignores `segment` and signs an empty one (its live payments need no
    // segment): such a signature would be refused by the orchestrator, so say why here instead.
    if (seg.seq !== segment.seq || !Buffer.from(seg.hash).equals(Buffer.from(segment.hash))) {
      this.counts.refused += 1;
      this.lastError = SEGMENT_UNSUPPORTED;
      throw new RemoteSignerError(502, SEGMENT_UNSUPPORTED);
    }
    handle.header = encodePaymentHeader(payment);
    handle.numTickets = payment.ticketSenderParams.length;
    this.counts.payments += 1;
    this.counts.tickets += handle.numTickets;
    this.lastError = null;
    return seg.sig;
  }

  override endSession(session: PaymentSession): void {
    super.endSession(session);
    this.remote.delete(session);
  }

  override status(): Record<string, unknown> {
    return {
      address: this.signerAddress,
      remoteSigner: this.opts.url,
      payments: this.counts.payments,
      tickets: this.counts.tickets,
      refused: this.counts.refused,
      refreshed: this.counts.refreshed,
      stateRestarts: this.counts.restarted,
      lastError: this.lastError,
      canPay: true,
    };
  }
}

/**
 * The gateway's payments through -remoteSignerUrl: the payments object, the service that fetches
 * the signer's address and InfoSig at start (a signer that does not answer stops the gateway, as
 * in go-livepeer), and the HTTP client's shutdown.
 */
export function remoteSignerPayments(
  g: { remoteSignerUrl: string; remoteSignerHeaders: Record<string, string> },
  http: HttpClient,
  logger: Logger,
): {
  payments: RemoteSignerPayments;
  service: { name: string; start(): Promise<void>; stop(): Promise<void> };
} {
  const client = new RemoteSignerClient({ url: g.remoteSignerUrl, headers: g.remoteSignerHeaders }, { http });
  const payments = new RemoteSignerPayments(client, {
    url: g.remoteSignerUrl,
    maxPrices: null,
    logger: logger.child({ module: "payments" }),
  });
  return {
    payments,
    service: {
      name: "gateway-remote-signer",
      async start() {
        await payments.start();
        logger.info(
          { sender: payments.address, signer: g.remoteSignerUrl },
          "paying orchestrators through the remote signer",
        );
      },
      async stop() {},
    },
  };
}
