import { arch, platform } from "node:process";
import type { Role } from "../config/resolve.js";
import { VERSION } from "../version.js";

/**
 * go-livepeer's common.NodeStatus JSON (served at /status on the CLI port), so tools written for
 * go-livepeer keep working, plus lp-node's own fields. Roles fill their parts through contributors.
 */
export interface NodeStatus {
  Manifests: Record<string, unknown>;
  InternalManifests: Record<string, string>;
  StreamInfo: Record<string, { SourceBytes: number; TranscodedBytes: number }>;
  OrchestratorPool: string[];
  OrchestratorPoolInfos: { Url: string; Score: number; Latency: number }[];
  Version: string;
  GolangRuntimeVersion: string;
  GOArch: string;
  GOOS: string;
  RegisteredTranscodersNumber: number;
  RegisteredTranscoders: { Address: string; Capacity: number; Load?: number }[];
  LocalTranscoding: boolean;
  BroadcasterPrices: Record<string, string>;
  /** lp-node's own fields. */
  Modes: Role[];
  Network: string;
  Addresses: Record<string, string>;
  UptimeSeconds: number;
  NodeRuntimeVersion: string;
  [extra: string]: unknown;
}

/** A role's part of the status: it mutates the object it is given. */
export type StatusContributor = (status: NodeStatus) => void;

/** The base status before any role has added to it. */
export function baseStatus(
  roles: Role[],
  network: string,
  addresses: Record<string, string>,
  startedAt: number,
): NodeStatus {
  return {
    Manifests: {},
    InternalManifests: {},
    StreamInfo: {},
    OrchestratorPool: [],
    OrchestratorPoolInfos: [],
    Version: VERSION,
    GolangRuntimeVersion: "",
    GOArch: arch === "x64" ? "amd64" : arch,
    GOOS: platform,
    RegisteredTranscodersNumber: 0,
    RegisteredTranscoders: [],
    LocalTranscoding: roles.includes("transcoder"),
    BroadcasterPrices: {},
    Modes: roles,
    Network: network,
    Addresses: addresses,
    UptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
    NodeRuntimeVersion: process.version,
  };
}
