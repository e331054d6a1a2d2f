/**
 * GET /discover-orchestrators of a remote signer with -remoteDiscovery (go-livepeer
 * server/remote_discovery.go): the orchestrators this signer knows (-orchAddr, else the chain's
 * active pool), asked for their info with the signer's credentials, each listed with the
 * `pipeline/model` capabilities it prices at most the signer's ceilings. The snapshot is rebuilt
 * at most once per -liveAICapReportInterval; an empty one is retried per request and answers 503.
 */
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { errorMessage } from "../errors/LpError.js";
import type { HttpClient } from "../http/client.js";
import type { Logger } from "../logger/logger.js";
import { type MaxPrices, pipelineToCapability } from "../payments/pricing.js";
import { Rat } from "../payments/rat.js";
import { CapabilitiesSchema, Orchestrator, type OrchestratorInfo } from "../protocol/gen/lp_rpc_pb.js";
import { SignerError } from "./state.js";

/** go-livepeer's overall timeout for asking the pool (getOrchestratorTimeoutLoop). */
const INFO_TIMEOUT_MS = 3000;

/** AI pipelines by capability number, for the `pipeline/model` keys. */
const PIPELINES = new Map<number, string>();
for (const p of [
  "text-to-image",
  "image-to-image",
  "image-to-video",
  "upscale",
  "audio-to-text",
  "segment-anything-2",
  "llm",
  "image-to-text",
  "live-video-to-video",
  "text-to-speech",
]) {
  const cap = pipelineToCapability(p);
  if (cap !== null) PIPELINES.set(cap, p);
}

/** One discovery entry, in the -orchWebhookUrl format. */
export interface DiscoveryEntry {
  address: string;
  score: number;
  capabilities?: string[];
}

/** The capability keys an orchestrator prices within the ceilings. */
export function capabilityKeys(info: OrchestratorInfo, maxPrices: MaxPrices | null): string[] {
  const out: string[] = [];
  const per = info.capabilities?.constraints?.PerCapability ?? {};
  for (const [capText, c] of Object.entries(per)) {
    const cap = Number(capText);
    const pipeline = PIPELINES.get(cap);
    if (!pipeline) continue;
    for (const model of Object.keys(c.models ?? {})) {
      const p =
        info.capabilitiesPrices.find((x) => x.capability === cap && x.constraint === model) ?? info.priceInfo;
      if (!p || p.pixelsPerUnit <= 0n) continue;
      const max = maxPrices?.capabilityMaxPrice(cap, model) ?? maxPrices?.maxPrice() ?? null;
      if (max && Rat.of(p.pricePerUnit, p.pixelsPerUnit).gt(max)) continue;
      out.push(`${pipeline}/${model}`);
    }
  }
  return out;
}

/** The discovery snapshot, rebuilt on demand at most once per refresh interval. */
export class SignerDiscoveryCache {
  private snapshot: DiscoveryEntry[] = [];
  private builtAt = -Infinity;
  private building: Promise<void> | null = null;

  constructor(
    private readonly options: { orchAddr: string; refreshMs: number },
    private readonly deps: {
      http: HttpClient;
      maxPrices: MaxPrices | null;
      pool: () => Promise<string[]>;
      creds: () => Promise<{ address: string; signature: string }>;
      logger: Logger;
      now?: () => number;
    },
  ) {}

  /** Entries offering any of `caps` (all entries when `caps` is empty). */
  async list(caps: string[]): Promise<DiscoveryEntry[]> {
    const now = (this.deps.now ?? Date.now)();
    if (this.snapshot.length === 0 || now - this.builtAt >= this.options.refreshMs) {
      this.building ??= this.build().finally(() => {
        this.building = null;
      });
      await this.building;
    }
    if (this.snapshot.length === 0) throw new SignerError(503, "cache empty");
    if (caps.length === 0) return this.snapshot;
    return this.snapshot.filter((e) => e.capabilities?.some((c) => caps.includes(c)));
  }

  private async build(): Promise<void> {
    const uris = this.options.orchAddr
      ? this.options.orchAddr
          .split(",")
          .map((s) => s.trim())
          .filter(Boolean)
          .map((s) => (/^https?:\/\//.test(s) ? s : `https://${s}`))
      : await this.deps.pool().catch((err) => {
          this.deps.logger.warn({ err: errorMessage(err) }, "cannot read the orchestrator pool");
          return [] as string[];
        });
    const creds = await this.deps.creds();
    const address = Buffer.from(creds.address.slice(2), "hex");
    const sig = Buffer.from(creds.signature.slice(2), "hex");
    const entries = await Promise.all(
      uris.map(async (uri): Promise<DiscoveryEntry | null> => {
        const manager = new Http2SessionManager(uri, {}, { rejectUnauthorized: false });
        try {
          const client = createClient(
            Orchestrator,
            createGrpcTransport({ baseUrl: uri, sessionManager: manager }),
          );
          const info = await client.getOrchestrator(
            { address, sig, capabilities: create(CapabilitiesSchema, {}) },
            { timeoutMs: INFO_TIMEOUT_MS },
          );
          const p = info.priceInfo;
          if (!p || p.pixelsPerUnit <= 0n) return null;
          const max = this.deps.maxPrices?.maxPrice() ?? null;
          const keys = capabilityKeys(info, this.deps.maxPrices);
          if (keys.length === 0 && max && Rat.of(p.pricePerUnit, p.pixelsPerUnit).gt(max)) return null;
          return { address: uri, score: 1, ...(keys.length > 0 ? { capabilities: keys } : {}) };
        } catch (err) {
          this.deps.logger.debug({ orchestrator: uri, err: errorMessage(err) }, "discovery: no info");
          return null;
        } finally {
          manager.abort();
        }
      }),
    );
    this.snapshot = entries.filter((e): e is DiscoveryEntry => e !== null);
    this.builtAt = (this.deps.now ?? Date.now)();
  }
}
