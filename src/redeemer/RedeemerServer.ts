import {
  Code,
  ConnectError,
  createContextKey,
  createContextValues,
  type HandlerContext,
} from "@connectrpc/connect";
import { fastifyConnectPlugin } from "@connectrpc/connect-fastify";
import { type Address, bytesToHex, getAddress } from "viem";
import type { HostPort } from "../config/addresses.js";
import { errorMessage, isLpError } from "../errors/LpError.js";
import { type ConnectionLimits, DEFAULT_CONNECTION_LIMITS } from "../http/connectionGuard.js";
import { listenTls, tlsFastify } from "../http/tlsPort.js";
import type { Logger } from "../logger/logger.js";
import type { Service } from "../node/Service.js";
import type { NodeStatus } from "../node/status.js";
import { fromWireTicket, RedeemerTicketError } from "../payments/redeemerTicket.js";
import { SigVerifier } from "../payments/sig.js";
import { minimalBytes } from "../payments/ticket.js";
import type { SignedTicket } from "../payments/types.js";
import { type MaxFloatReq, TicketRedeemer } from "../protocol/gen/redeemer_pb.js";

/** What the gRPC edge needs from the redeemer (Redeemer implements it). */
export interface RedeemerBackend {
  readonly recipient: Address;
  queueTicket(ticket: SignedTicket): Promise<{ hash: string; inserted: boolean }>;
  maxFloat(sender: Address): Promise<bigint>;
  onMaxFloatChange(sender: Address, handler: () => void): () => void;
}

/** Per-client and overall limits of the redeemer's port. */
export interface RedeemerLimits {
  connection: ConnectionLimits;
  /** Largest request message: a net.Ticket is a few hundred bytes. */
  maxMessageBytes: number;
  /** Unary calls one client address may have in flight at once. */
  maxCallsPerClient: number;
  /** MonitorMaxFloat streams one client address may hold (an orchestrator holds one per sender it serves). */
  maxStreamsPerClient: number;
  /** MonitorMaxFloat streams held by all clients together. */
  maxStreams: number;
}

/**
 * Defaults. An orchestrator calls QueueTicket once per winning ticket and MaxFloat once per new
 * sender, so 32 calls in flight is far above an honest peak; 1024 streams per client and 8192
 * overall leave room for orchestrators with many gateways while bounding memory.
 */
export const DEFAULT_REDEEMER_LIMITS: RedeemerLimits = {
  connection: { ...DEFAULT_CONNECTION_LIMITS, maxConnectionsPerIp: 16 },
  maxMessageBytes: 16 * 1024,
  maxCallsPerClient: 32,
  maxStreamsPerClient: 1024,
  maxStreams: 8192,
};

/** Concurrent HTTP/2 streams on one connection: every MonitorMaxFloat of an orchestrator shares it. */
const MAX_CONCURRENT_STREAMS = 2048;
/** go-livepeer's HTTPIdleTimeout. */
const IDLE_TIMEOUT_MS = 10 * 60_000;

const PEER = createContextKey<string>("", { description: "client address" });

/** Options of {@link RedeemerServer}. */
export interface RedeemerServerOptions {
  addr: HostPort;
  /** Host for the certificate's SAN. */
  certHost: string;
  limits?: Partial<RedeemerLimits>;
}

/** A per-client counter with a cap; release on every path. */
class Slots {
  private readonly used = new Map<string, number>();
  total = 0;
  constructor(
    private readonly perClient: number,
    private readonly overall = Number.POSITIVE_INFINITY,
  ) {}
  take(client: string): boolean {
    const n = this.used.get(client) ?? 0;
    if (n >= this.perClient || this.total >= this.overall) return false;
    this.used.set(client, n + 1);
    this.total++;
    return true;
  }
  release(client: string): void {
    const n = this.used.get(client) ?? 0;
    if (n <= 1) this.used.delete(client);
    else this.used.set(client, n - 1);
    this.total--;
  }
}

function senderOf(req: MaxFloatReq): Address {
  if (req.sender.length !== 20) {
    throw new ConnectError(
      `invalid sender: must be 20 bytes, got ${req.sender.length}`,
      Code.InvalidArgument,
    );
  }
  return getAddress(bytesToHex(req.sender));
}

/**
 * The redeemer's gRPC port (go-livepeer server/redeemer.go Start): net.TicketRedeemer only, over
 * TLS (HTTP/2) with a self-signed P-256 certificate made fresh at each start. Refusals carry
 * go-livepeer's status and text where it has them (PermissionDenied for a ticket to another
 * recipient, Internal for queue and max-float errors) and InvalidArgument for malformed or
 * forged tickets, which go-livepeer would queue and let fail on chain. Every client address is
 * bounded in connections, calls in flight and streams, so one client cannot take the capacity of
 * the others. What callers can make the redeemer remember is bounded too: the sender monitor keeps
 * only senders with funds on chain (a made-up address is answered, not kept), at most a fixed
 * number of them, and refuses a new one with ResourceExhausted while every kept one is in use.
 */
export class RedeemerServer implements Service {
  readonly name = "redeemer-server";
  private app: { close(): Promise<unknown> } | null = null;
  private boundPort = 0;
  private readonly limits: RedeemerLimits;
  private readonly calls: Slots;
  private readonly streams: Slots;
  private readonly verifier = new SigVerifier();
  private readonly counters = { queued: 0, duplicates: 0, refused: 0 };

  constructor(
    private readonly options: RedeemerServerOptions,
    private readonly deps: { logger: Logger; backend: RedeemerBackend },
  ) {
    this.limits = { ...DEFAULT_REDEEMER_LIMITS, ...options.limits };
    this.calls = new Slots(this.limits.maxCallsPerClient);
    this.streams = new Slots(this.limits.maxStreamsPerClient, this.limits.maxStreams);
  }

  /** The bound port (after start). */
  get port(): number {
    return this.boundPort;
  }

  async start(): Promise<void> {
    const app = tlsFastify(
      {
        certHost: this.options.certHost,
        connection: this.limits.connection,
        maxConcurrentStreams: MAX_CONCURRENT_STREAMS,
        idleTimeoutMs: IDLE_TIMEOUT_MS,
        // gRPC only: HTTP/2, as go-livepeer's grpc.Server.
        allowHTTP1: false,
      },
      { logger: this.deps.logger },
    );
    await app.register(fastifyConnectPlugin, {
      routes: (router) =>
        router.service(TicketRedeemer, {
          queueTicket: (req, ctx) => this.unary(ctx, () => this.queueTicket(req, ctx)),
          maxFloat: (req, ctx) =>
            this.unary(ctx, async () => ({ maxFloat: minimalBytes(await this.maxFloat(senderOf(req))) })),
          monitorMaxFloat: (req, ctx) => this.monitor(req, ctx),
        }),
      readMaxBytes: this.limits.maxMessageBytes,
      // Only the gRPC protocol, as go-livepeer's grpc.Server.
      grpc: true,
      grpcWeb: false,
      connect: false,
      contextValues: (req) => createContextValues().set(PEER, clientAddress(req.socket.remoteAddress)),
    });
    this.boundPort = await listenTls(app, this.options.addr);
    this.app = app;
    this.deps.logger.info(
      { addr: `${this.options.addr.host}:${this.boundPort}`, recipient: this.deps.backend.recipient },
      "redeemer gRPC port listening",
    );
  }

  async stop(): Promise<void> {
    const app = this.app;
    this.app = null;
    if (app) await app.close();
  }

  /** /status: the port, calls and streams in flight, tickets queued and refused since start. */
  status(s: NodeStatus): void {
    s["RedeemerPort"] = this.boundPort;
    s["Redeemer"] = {
      Recipient: this.deps.backend.recipient,
      MaxFloatStreams: this.streams.total,
      CallsInFlight: this.calls.total,
      TicketsQueued: this.counters.queued,
      DuplicateTickets: this.counters.duplicates,
      TicketsRefused: this.counters.refused,
    };
  }

  private async unary<O>(ctx: HandlerContext, fn: () => Promise<O>): Promise<O> {
    const client = ctx.values.get(PEER);
    if (!this.calls.take(client)) {
      throw new ConnectError(
        `too many calls in flight from ${client} (at most ${this.limits.maxCallsPerClient})`,
        Code.ResourceExhausted,
      );
    }
    try {
      return await fn();
    } finally {
      this.calls.release(client);
    }
  }

  private async queueTicket(req: Parameters<typeof fromWireTicket>[0], ctx: HandlerContext) {
    let ticket: SignedTicket;
    try {
      ticket = fromWireTicket(req, this.deps.backend.recipient, this.verifier);
    } catch (err) {
      this.counters.refused++;
      const code =
        err instanceof RedeemerTicketError && err.code === "WRONG_RECIPIENT"
          ? Code.PermissionDenied
          : Code.InvalidArgument;
      this.deps.logger.warn({ client: ctx.values.get(PEER), err: errorMessage(err) }, "ticket refused");
      throw new ConnectError(errorMessage(err), code);
    }
    let result: { hash: string; inserted: boolean };
    try {
      result = await this.deps.backend.queueTicket(ticket);
    } catch (err) {
      // A sender with nothing on chain: refused, not stored (the caller may retry once it is funded).
      if (isLpError(err, "SENDER_UNFUNDED")) {
        this.counters.refused++;
        this.deps.logger.warn({ client: ctx.values.get(PEER), err: errorMessage(err) }, "ticket refused");
        throw new ConnectError(errorMessage(err), Code.FailedPrecondition);
      }
      if (isLpError(err, "SENDER_LIMIT")) throw new ConnectError(errorMessage(err), Code.ResourceExhausted);
      this.deps.logger.error({ err: errorMessage(err) }, "queueing a ticket failed");
      throw new ConnectError(errorMessage(err), Code.Internal);
    }
    if (result.inserted) {
      this.counters.queued++;
      this.deps.logger.info(
        {
          client: ctx.values.get(PEER),
          sender: ticket.sender,
          faceValue: ticket.faceValue.toString(),
          ticket: result.hash,
        },
        "winning ticket queued",
      );
    } else this.counters.duplicates++;
    return {};
  }

  private async maxFloat(sender: Address): Promise<bigint> {
    try {
      return await this.deps.backend.maxFloat(sender);
    } catch (err) {
      // Every sender the monitor keeps is in use: a limit, not a fault of the redeemer.
      const code = isLpError(err, "SENDER_LIMIT") ? Code.ResourceExhausted : Code.Internal;
      throw new ConnectError(errorMessage(err), code);
    }
  }

  /**
   * MonitorMaxFloat: a new value after every change the sender monitor reports (no initial one, as
   * go-livepeer: the client calls MaxFloat first); equal consecutive values are sent once.
   */
  private async *monitor(req: MaxFloatReq, ctx: HandlerContext) {
    const sender = senderOf(req);
    const client = ctx.values.get(PEER);
    if (!this.streams.take(client)) {
      throw new ConnectError(
        `too many max float streams (at most ${this.limits.maxStreamsPerClient} per client, ${this.limits.maxStreams} in all)`,
        Code.ResourceExhausted,
      );
    }
    let changed = false;
    let wake: (() => void) | null = null;
    const signal = ctx.signal;
    const poke = () => {
      changed = true;
      wake?.();
    };
    const unsubscribe = this.deps.backend.onMaxFloatChange(sender, poke);
    signal.addEventListener("abort", poke);
    let last: bigint | null = null;
    try {
      while (!signal.aborted) {
        if (!changed) {
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          wake = null;
          continue;
        }
        changed = false;
        const value = await this.maxFloat(sender);
        if (value === last) continue;
        last = value;
        yield { maxFloat: minimalBytes(value) };
      }
    } finally {
      unsubscribe();
      signal.removeEventListener("abort", poke);
      this.streams.release(client);
    }
  }
}

function clientAddress(ip: string | undefined): string {
  const a = ip ?? "";
  return a.startsWith("::ffff:") ? a.slice(7) : a;
}
