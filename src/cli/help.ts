import { FLAGS, type FlagDef } from "../config/flags.js";
import { ROLES } from "../config/resolve.js";
import { VERSION } from "../version.js";

const ROLE_TEXT: Record<(typeof ROLES)[number], string> = {
  gateway: "takes live video in (RTMP, HTTP push), pays orchestrators, serves HLS",
  orchestrator: "advertises capabilities and prices, takes segments, transcodes or hands off",
  transcoder: "does the transcoding: local to an orchestrator, or a worker registering with -orchAddr",
  redeemer: "holds the orchestrator's key, redeems the winning tickets orchestrators hand it (alone)",
  "remote-signer": "holds the key and signs payments for gateways (alone)",
};

function flagLine(f: FlagDef): string {
  const names = [f.name, ...(f.aliases ?? [])].map((n) => `-${n}`).join(", ");
  const type = f.type === "boolean" ? "" : ` <${f.type}>`;
  const def =
    f.default === undefined || f.default === "" || f.default === false
      ? ""
      : ` (default ${JSON.stringify(f.default)})`;
  const planned = f.status === "planned" ? " [not supported yet]" : "";
  return `  ${`${names}${type}`.padEnd(40)} ${f.describe}${def}${planned}`;
}

/** The text of `lp-node --help`: roles, then every flag grouped by area. */
export function helpText(): string {
  const lines = [
    `lp-node ${VERSION}: a Livepeer node, wire-compatible with go-livepeer`,
    "",
    "Usage:",
    "  lp-node --mode ROLE[,ROLE...] [flags]     run a node",
    "  lp-node bench [flags]                    measure transcoding speed on this machine",
    "  lp-node bench tickets [flags]            measure ticket verifications per second",
    "  lp-node devnet [flags]                   run a local Livepeer chain (anvil) and write devnet.json",
    "  lp-node money <op> [amounts] [flags]     TicketBroker deposit, reserve, unlock, withdraw (--json; money help)",
    "  lp-node orchestrator activate|config|list|info [options] [flags]",
    "                                           register and configure an orchestrator (--json, --node URL)",
    "  lp-node account|bond|unbond|rebond|withdraw-stake|withdraw-fees|claim-earnings|reward|",
    "          initialize-round|transfer|request-tokens [args] [flags]",
    "                                           staking and rounds; `lp-node orchestrator --help` lists them all",
    "",
    "Roles (--mode, comma-separated or repeated; go-livepeer's -gateway, -orchestrator, ... work too):",
    ...ROLES.map((r) => `  ${r.padEnd(15)} ${ROLE_TEXT[r]}`),
    "",
    "Flags take one or two dashes (-orchAddr x, --orchAddr=x). Precedence: flag > env LP_<FLAGNAME> >",
    "--config file (JSON or go-livepeer's 'name value' lines) > defaults.",
    "",
    "What each role listens on by default (every bound address is logged at start):",
    "  gateway         media HTTP 127.0.0.1:9935 (-httpAddr), RTMP 127.0.0.1:1935 (-rtmpAddr),",
    "                  CLI 127.0.0.1:5935 (-cliAddr)",
    "  orchestrator    TLS (gRPC + segments) on the -serviceAddr port (8935 when it has none): loopback",
    "                  only when -serviceAddr is loopback (127.0.0.0/8, ::1, localhost), every interface",
    "                  otherwise; -orchListenAddr sets it in every mode (a standalone orchestrator also",
    "                  takes -httpAddr, as go-livepeer). CLI 127.0.0.1:7935",
    "  transcoder      nothing but CLI 127.0.0.1:6935 when standalone (it dials -orchAddr)",
    "  redeemer        gRPC over TLS 127.0.0.1:8935 (-httpAddr; orchestrators reach it with -redeemerAddr),",
    "                  CLI 127.0.0.1:7935",
    "  remote-signer   plain-HTTP JSON API 127.0.0.1:8935 (-httpAddr; a public address needs",
    "                  -remoteSignerWebhookUrl or -remoteSignerAllowNoAuth), CLI 127.0.0.1:3935",
    "A combined node uses the first role's CLI port (gateway, then orchestrator).",
  ];
  const groups = new Map<string, FlagDef[]>();
  for (const f of FLAGS) groups.set(f.group, [...(groups.get(f.group) ?? []), f]);
  for (const [group, flags] of groups) {
    lines.push("", `${group}:`, ...flags.map(flagLine));
  }
  return `${lines.join("\n")}\n`;
}
