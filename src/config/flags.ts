/**
 * Every command-line flag lp-node knows: go-livepeer's names, types and defaults
 * (cmd/livepeer/starter/flags.go, DefaultLivepeerConfig in starter.go) plus lp-node's own.
 * A flag whose feature is not built yet has `status: "planned"` and is refused with
 * "not supported yet" when given, never silently ignored.
 */

export type FlagType = "string" | "boolean" | "int" | "float" | "duration";
export type FlagValue = string | boolean | number;

export type FlagGroup =
  | "Modes"
  | "General"
  | "Network and addresses"
  | "Gateway discovery and selection"
  | "Transcoding"
  | "On-chain and payments"
  | "AI"
  | "Live AI"
  | "Metrics, logging and storage"
  | "Remote signer"
  | "Kafka";

export interface FlagDef {
  name: string;
  type: FlagType;
  /** Default as go-livepeer has it; `undefined` means "unset" (decided from other flags). */
  default: FlagValue | undefined;
  group: FlagGroup;
  describe: string;
  /** Other names that write the same setting (go-livepeer's `datadir`/`dataDir`). */
  aliases?: readonly string[];
  /** Never printed: masked as *** in logs and the startup table. */
  secret?: boolean;
  /** go-livepeer's "file or literal": an existing non-empty file's trimmed contents replace the value. */
  fileOrLiteral?: boolean;
  /** planned: parsed and refused with "not supported yet" until its feature lands. */
  status: "supported" | "planned";
  /** A value that is not the default but still means "feature off" and is accepted while planned. */
  offValues?: readonly FlagValue[];
}

/** One group's flags, keeping each literal name so that `FlagName` can be derived from the table. */
function G<const D extends readonly Omit<FlagDef, "group">[]>(
  group: FlagGroup,
  defs: D,
): { [K in keyof D]: D[K] & { group: FlagGroup } } {
  return defs.map((d) => ({ ...d, group })) as unknown as { [K in keyof D]: D[K] & { group: FlagGroup } };
}

const supported = "supported" as const;
const planned = "planned" as const;

const FLAG_TABLE = [
  ...G("Modes", [
    {
      name: "mode",
      type: "string",
      default: undefined,
      status: supported,
      describe:
        "Roles to run, comma-separated or repeated: gateway, orchestrator, transcoder, redeemer, remote-signer",
    },
    { name: "gateway", type: "boolean", default: false, status: supported, describe: "Run the gateway role" },
    {
      name: "broadcaster",
      type: "boolean",
      default: false,
      status: supported,
      describe: "Deprecated alias of -gateway",
    },
    {
      name: "orchestrator",
      type: "boolean",
      default: false,
      status: supported,
      describe: "Run the orchestrator role",
    },
    {
      name: "transcoder",
      type: "boolean",
      default: false,
      status: supported,
      describe: "Run a transcoder (local to an orchestrator, or standalone with -orchAddr)",
    },
    {
      name: "redeemer",
      type: "boolean",
      default: false,
      status: supported,
      describe: "Run the ticket redeemer role",
    },
    {
      name: "remoteSigner",
      type: "boolean",
      default: false,
      status: supported,
      describe: "Run the remote signer role",
    },
    { name: "aiWorker", type: "boolean", default: false, status: planned, describe: "Run an AI worker" },
  ]),
  ...G("General", [
    {
      name: "config",
      type: "string",
      default: "",
      status: supported,
      describe: "Config file: JSON or 'name value' lines",
    },
    {
      name: "v",
      type: "string",
      default: "3",
      status: supported,
      describe: "Log verbosity: 1 error, 2 warn, 3-4 info, 5 debug, 6 trace",
    },
    {
      name: "version",
      type: "boolean",
      default: false,
      status: supported,
      describe: "Print the version and exit",
    },
    { name: "help", type: "boolean", default: false, status: supported, describe: "Show this help" },
    {
      name: "datadir",
      aliases: ["dataDir"],
      type: "string",
      default: "",
      status: supported,
      describe: "Data directory (default ~/.lpData/<network>)",
    },
    {
      name: "logFormat",
      type: "string",
      default: "auto",
      status: supported,
      describe: "lp-node: log format, auto (pretty on a TTY, JSON otherwise), json or pretty",
    },
  ]),
  ...G("Network and addresses", [
    {
      name: "network",
      type: "string",
      default: "offchain",
      status: supported,
      describe: "Network: offchain, arbitrum-one-mainnet, mainnet, or any name (devnet) with -ethController",
    },
    {
      name: "rtmpAddr",
      type: "string",
      default: "",
      status: supported,
      describe: "Gateway RTMP ingest address (default 127.0.0.1:1935)",
    },
    {
      name: "cliAddr",
      type: "string",
      default: "",
      status: supported,
      describe:
        "CLI/admin HTTP address (default 127.0.0.1 and 5935 gateway, 7935 orchestrator, 6935 transcoder, 3935 remote signer)",
    },
    {
      name: "httpAddr",
      type: "string",
      default: "",
      status: supported,
      describe:
        "Gateway: media HTTP address (default 127.0.0.1:9935); standalone orchestrator: its TLS listen address; redeemer: its gRPC TLS address (default 127.0.0.1:8935)",
    },
    {
      name: "orchListenAddr",
      type: "string",
      default: "",
      status: supported,
      describe:
        "lp-node: orchestrator TLS listen address (gRPC and segment API), in every mode. Default: the -serviceAddr port, on that host when -serviceAddr is loopback, else on every interface (a standalone orchestrator also takes -httpAddr, as go-livepeer does)",
    },
    {
      name: "serviceAddr",
      type: "string",
      default: "",
      status: supported,
      describe: "Orchestrator: public host:port advertised to gateways",
    },
    {
      name: "nodes",
      type: "string",
      default: "",
      status: supported,
      describe: "Orchestrator: extra instance URLs (comma list, https)",
    },
    {
      name: "verifierUrl",
      type: "string",
      default: "",
      status: planned,
      describe: "Gateway: tamper verifier URL",
    },
    {
      name: "verifierPath",
      type: "string",
      default: "",
      status: planned,
      describe: "Gateway: verifier shared volume",
    },
    {
      name: "localVerify",
      type: "boolean",
      default: undefined,
      status: planned,
      offValues: [false],
      describe: "Gateway: pixel and signature verification (default on on-chain)",
    },
    {
      name: "httpIngest",
      type: "boolean",
      default: undefined,
      status: supported,
      describe: "Gateway: enable HTTP push ingest",
    },
    {
      name: "demo",
      type: "boolean",
      default: false,
      status: supported,
      describe:
        "Gateway: publish a generated test pattern to its own RTMP port as stream 'demo' (lp-node only)",
    },
  ]),
  ...G("Gateway discovery and selection", [
    {
      name: "orchAddr",
      type: "string",
      default: "",
      status: supported,
      describe: "Orchestrators to use (gateway) or register with (transcoder)",
    },
    {
      name: "orchWebhookUrl",
      type: "string",
      default: "",
      status: supported,
      describe: "Discovery webhook URL",
    },
    {
      name: "extraNodes",
      type: "int",
      default: 0,
      status: supported,
      offValues: [0],
      describe: "Advertised nodes followed per orchestrator",
    },
    {
      name: "orchBlocklist",
      type: "string",
      default: "",
      status: supported,
      describe: "ETH addresses of orchestrators to skip",
    },
    {
      name: "orchMinLivepeerVersion",
      type: "string",
      default: "",
      status: supported,
      describe: "Minimum orchestrator version",
    },
    {
      name: "selectRandFreq",
      type: "float",
      default: 0.3,
      status: supported,
      describe: "Selection: weight of the random term",
    },
    {
      name: "selectStakeWeight",
      type: "float",
      default: 0.7,
      status: supported,
      describe: "Selection: weight of stake",
    },
    {
      name: "selectPriceWeight",
      type: "float",
      default: 0,
      status: supported,
      describe: "Selection: weight of price",
    },
    {
      name: "selectPriceExpFactor",
      type: "float",
      default: 100,
      status: supported,
      describe: "Selection: price exponent factor",
    },
    {
      name: "orchPerfStatsUrl",
      type: "string",
      default: "",
      status: supported,
      describe: "Performance scores URL",
    },
    {
      name: "region",
      type: "string",
      default: "",
      status: supported,
      describe: "Region key in the perf stats",
    },
    {
      name: "maxPricePerUnit",
      type: "string",
      default: "0",
      status: supported,
      offValues: ["0"],
      describe: "Maximum price per pixelsPerUnit",
    },
    {
      name: "maxPricePerCapability",
      type: "string",
      default: "",
      fileOrLiteral: true,
      status: supported,
      describe: "Maximum AI prices (JSON or file)",
    },
    {
      name: "ignoreMaxPriceIfNeeded",
      type: "boolean",
      default: false,
      status: supported,
      describe: "Use all orchestrators if none is under the max price",
    },
    {
      name: "minPerfScore",
      type: "float",
      default: 0,
      status: supported,
      offValues: [0],
      describe: "Minimum performance score",
    },
    {
      name: "discoveryTimeout",
      type: "duration",
      default: "500ms",
      status: supported,
      describe: "First wait of discovery fan-out",
    },
    {
      name: "gatewayHost",
      type: "string",
      default: "",
      status: planned,
      describe: "External hostname of the gateway",
    },
  ]),
  ...G("Transcoding", [
    {
      name: "orchSecret",
      type: "string",
      default: "",
      secret: true,
      fileOrLiteral: true,
      status: supported,
      describe: "Shared orchestrator/transcoder secret (value or file)",
    },
    {
      name: "transcodingOptions",
      type: "string",
      default: "P240p30fps16x9,P360p30fps16x9",
      status: supported,
      describe: "Profiles: comma list of presets or a JSON file",
    },
    {
      name: "maxAttempts",
      type: "int",
      default: 3,
      status: supported,
      describe: "Gateway: transcode attempts per segment",
    },
    {
      name: "maxSessions",
      type: "string",
      default: "10",
      status: supported,
      describe: "Concurrent sessions (O: int or auto; T: capacity)",
    },
    {
      name: "currentManifest",
      type: "boolean",
      default: false,
      status: supported,
      describe: "Expose the latest stream as /stream/current.m3u8",
    },
    {
      name: "nvidia",
      type: "string",
      default: "",
      status: supported,
      describe: "NVIDIA GPU ids (0,1) or all",
    },
    { name: "netint", type: "string", default: "", status: planned, describe: "NetInt GUIDs or all" },
    {
      name: "testTranscoder",
      type: "boolean",
      default: true,
      status: supported,
      describe: "Test transcode on each GPU at start",
    },
    {
      name: "hevcDecoding",
      type: "boolean",
      default: undefined,
      status: supported,
      describe: "Force HEVC decode capability on or off",
    },
    {
      name: "ffmpegPath",
      type: "string",
      default: "",
      status: supported,
      describe: "lp-node: ffmpeg binary (default: the npm-shipped one)",
    },
    {
      name: "ffprobePath",
      type: "string",
      default: "",
      status: planned,
      describe: "lp-node: ffprobe binary (default: the npm-shipped one)",
    },
  ]),
  ...G("AI", [
    {
      name: "aiServiceRegistry",
      type: "boolean",
      default: false,
      status: planned,
      describe: "Use the AI service registry",
    },
    { name: "aiServerless", type: "boolean", default: false, status: planned, describe: "Serverless AI" },
    {
      name: "useLiveRunners",
      type: "boolean",
      default: false,
      status: planned,
      describe: "Use live runners",
    },
    {
      name: "liveRunnerConfig",
      type: "string",
      default: "",
      status: planned,
      describe: "Live runner config",
    },
    {
      name: "liveRunnerProxyUrl",
      type: "string",
      default: "",
      status: planned,
      describe: "Live runner proxy URL",
    },
    { name: "aiModels", type: "string", default: "", status: planned, describe: "AI models (JSON or file)" },
    { name: "aiModelsDir", type: "string", default: "", status: planned, describe: "AI models directory" },
    {
      name: "aiRunnerImage",
      type: "string",
      default: "livepeer/ai-runner:latest",
      status: planned,
      describe: "AI runner image (deprecated)",
    },
    { name: "aiVerboseLogs", type: "boolean", default: false, status: planned, describe: "Verbose AI logs" },
    {
      name: "aiRunnerImageOverrides",
      type: "string",
      default: "",
      status: planned,
      describe: "AI runner image overrides",
    },
    {
      name: "aiProcessingRetryTimeout",
      type: "duration",
      default: "2s",
      status: planned,
      describe: "AI retry timeout",
    },
    {
      name: "aiRunnerContainersPerGPU",
      type: "int",
      default: 1,
      status: planned,
      describe: "AI runner containers per GPU",
    },
    {
      name: "aiMinRunnerVersion",
      type: "string",
      default: "[]",
      status: planned,
      describe: "Minimum AI runner versions",
    },
  ]),
  ...G("Live AI", [
    {
      name: "mediaMTXApiPassword",
      type: "string",
      default: "",
      secret: true,
      status: planned,
      describe: "MediaMTX API password",
    },
    { name: "liveRunnerAddr", type: "string", default: "", status: planned, describe: "Live runner address" },
    {
      name: "liveAITrickleHostForRunner",
      type: "string",
      default: "",
      status: planned,
      describe: "Trickle host for runners",
    },
    {
      name: "liveAIAuthApiKey",
      type: "string",
      default: "",
      secret: true,
      status: planned,
      describe: "Live AI auth API key",
    },
    {
      name: "liveAIHeartbeatURL",
      type: "string",
      default: "",
      status: planned,
      describe: "Live AI heartbeat URL",
    },
    {
      name: "liveAIHeartbeatHeaders",
      type: "string",
      default: "",
      status: planned,
      describe: "Live AI heartbeat headers",
    },
    {
      name: "liveAIHeartbeatInterval",
      type: "duration",
      default: "5s",
      status: planned,
      describe: "Live AI heartbeat interval",
    },
    {
      name: "liveAIAuthWebhookUrl",
      type: "string",
      default: "",
      status: planned,
      describe: "Live AI auth webhook",
    },
    {
      name: "livePaymentInterval",
      type: "duration",
      default: "5s",
      status: planned,
      describe: "Live payment interval",
    },
    {
      name: "liveOutSegmentTimeout",
      type: "duration",
      default: "0s",
      status: planned,
      describe: "Live output segment timeout",
    },
    {
      name: "liveAISaveNSegments",
      type: "int",
      default: 10,
      status: planned,
      describe: "Live AI segments saved for debugging",
    },
    { name: "liveAICapRefreshModels", type: "string", default: "", status: planned, describe: "Deprecated" },
    {
      name: "liveAICapReportInterval",
      type: "duration",
      default: "25m",
      status: supported,
      describe: "Capacity report / cache poll interval",
    },
  ]),
  ...G("On-chain and payments", [
    {
      name: "ethAcctAddr",
      type: "string",
      default: "",
      status: supported,
      describe: "Keystore account to use",
    },
    {
      name: "ethPassword",
      type: "string",
      default: "",
      secret: true,
      fileOrLiteral: true,
      status: supported,
      describe: "Keystore passphrase (value or file)",
    },
    {
      name: "ethKeystorePath",
      type: "string",
      default: "",
      status: supported,
      describe: "Keystore directory or keyfile",
    },
    {
      name: "ethOrchAddr",
      type: "string",
      default: "",
      status: supported,
      describe: "On-chain orchestrator address receiving tickets, when it differs from the node's account",
    },
    { name: "ethUrl", type: "string", default: "", status: supported, describe: "Ethereum JSON-RPC URL" },
    {
      name: "transactionTimeout",
      type: "duration",
      default: "5m",
      aliases: ["txTimeout"],
      status: supported,
      describe: "Transaction confirmation wait",
    },
    {
      name: "maxTransactionReplacements",
      type: "int",
      default: 1,
      aliases: ["maxTxReplacements"],
      status: supported,
      describe: "Pending tx replacements",
    },
    {
      name: "gasLimit",
      type: "int",
      default: 0,
      status: supported,
      offValues: [0],
      describe: "Gas limit (0 = estimate)",
    },
    {
      name: "minGasPrice",
      type: "int",
      default: undefined,
      status: supported,
      describe: "Minimum gas price",
    },
    {
      name: "maxGasPrice",
      type: "int",
      default: 0,
      status: supported,
      offValues: [0],
      describe: "Maximum gas price (0 = no cap)",
    },
    {
      name: "ethController",
      type: "string",
      default: "",
      status: supported,
      describe: "Controller contract address",
    },
    {
      name: "initializeRound",
      type: "boolean",
      default: false,
      status: supported,
      describe: "Run the round initializer",
    },
    {
      name: "initializeRoundMaxDelay",
      type: "duration",
      default: "30s",
      status: supported,
      describe: "Random delay before initializing",
    },
    {
      name: "ticketEV",
      type: "string",
      default: "8000000000",
      status: supported,
      describe: "Expected value per ticket (wei)",
    },
    {
      name: "maxFaceValue",
      type: "string",
      default: "0",
      status: supported,
      describe: "Maximum ticket face value (wei)",
    },
    {
      name: "maxTicketEV",
      type: "string",
      default: "3000000000000",
      status: supported,
      describe: "Maximum EV of one ticket",
    },
    {
      name: "maxTotalEV",
      type: "string",
      default: "20000000000000",
      status: supported,
      describe: "Maximum EV of one payment",
    },
    {
      name: "depositMultiplier",
      type: "int",
      default: 1,
      status: supported,
      describe: "Max face value = deposit / multiplier",
    },
    {
      name: "pricePerUnit",
      type: "string",
      default: undefined,
      status: supported,
      offValues: ["0"],
      describe: "Price per pixelsPerUnit",
    },
    {
      name: "pixelsPerUnit",
      type: "string",
      default: "1",
      status: supported,
      describe: "Pixels per price unit",
    },
    {
      name: "priceFeedAddr",
      type: "string",
      default: "0x639Fe6ab55C921f74e7fac1ee960C0B6293ba612",
      status: supported,
      describe: "Chainlink price feed (AggregatorV3) for prices in a currency, such as 0.5USD",
    },
    {
      name: "autoAdjustPrice",
      type: "boolean",
      default: true,
      status: supported,
      describe: "Add redemption overhead to the price",
    },
    {
      name: "pricePerGateway",
      aliases: ["pricePerBroadcaster"],
      type: "string",
      default: "",
      fileOrLiteral: true,
      status: supported,
      describe: "Price per gateway (JSON or file)",
    },
    {
      name: "blockPollingInterval",
      type: "int",
      default: 5,
      status: supported,
      describe: "Block poll interval (s)",
    },
    {
      name: "redeemerAddr",
      type: "string",
      default: "",
      status: supported,
      describe:
        "Orchestrator: hand winning tickets to the redeemer at host[:port] (default port 8935) and take max floats from it",
    },
    {
      name: "reward",
      type: "boolean",
      default: undefined,
      status: supported,
      offValues: [false],
      describe: "Call reward each round",
    },
  ]),
  ...G("Metrics, logging and storage", [
    {
      name: "monitor",
      type: "boolean",
      default: false,
      status: planned,
      describe: "Prometheus metrics on the CLI port",
    },
    {
      name: "metricsPerStream",
      type: "boolean",
      default: false,
      status: planned,
      describe: "Per-stream metric tags",
    },
    {
      name: "metricsClientIP",
      type: "boolean",
      default: false,
      status: planned,
      describe: "Client IP metric tags",
    },
    {
      name: "metadataQueueUri",
      type: "string",
      default: "",
      status: planned,
      describe: "AMQP broker for events",
    },
    {
      name: "metadataAmqpExchange",
      type: "string",
      default: "lp_golivepeer_metadata",
      status: planned,
      describe: "AMQP exchange",
    },
    {
      name: "metadataPublishTimeout",
      type: "duration",
      default: "1s",
      status: planned,
      describe: "AMQP publish timeout",
    },
    { name: "objectStore", type: "string", default: "", status: planned, describe: "Object store URL" },
    { name: "recordStore", type: "string", default: "", status: planned, describe: "Recording store URL" },
    {
      name: "FVfailGsbucket",
      type: "string",
      default: "",
      status: planned,
      describe: "GCS bucket for verification failures",
    },
    { name: "FVfailGskey", type: "string", default: "", secret: true, status: planned, describe: "GCS key" },
    {
      name: "authWebhookUrl",
      type: "string",
      default: "",
      status: supported,
      describe: "Gateway: stream auth webhook URL (orchestrator side not supported yet)",
    },
    {
      name: "startupAvailabilityCheck",
      type: "boolean",
      default: true,
      status: supported,
      describe: "Orchestrator: self-ping at startup",
    },
  ]),
  ...G("Remote signer", [
    {
      name: "remoteSignerUrl",
      type: "string",
      default: "",
      status: supported,
      describe: "Gateway: remote signer URL",
    },
    {
      name: "remoteSignerHeaders",
      type: "string",
      default: "",
      secret: true,
      status: supported,
      describe: "Headers sent to the signer",
    },
    {
      name: "remoteSignerWebhookUrl",
      type: "string",
      default: "",
      status: supported,
      describe: "Signer auth webhook",
    },
    {
      name: "remoteSignerWebhookHeaders",
      type: "string",
      default: "",
      secret: true,
      status: supported,
      describe: "Signer webhook headers",
    },
    {
      name: "remoteSignerAllowNoAuth",
      type: "boolean",
      default: false,
      status: supported,
      describe: "Allow a public signer without auth",
    },
    {
      name: "remoteDiscovery",
      type: "boolean",
      default: false,
      status: supported,
      describe: "Expose /discover-orchestrators",
    },
  ]),
  ...G("Kafka", [
    {
      name: "kafkaBootstrapServers",
      type: "string",
      default: "",
      status: planned,
      describe: "Kafka servers",
    },
    { name: "kafkaUser", type: "string", default: "", status: planned, describe: "Kafka user" },
    {
      name: "kafkaPassword",
      type: "string",
      default: "",
      secret: true,
      status: planned,
      describe: "Kafka password",
    },
    { name: "kafkaGatewayTopic", type: "string", default: "", status: planned, describe: "Kafka topic" },
  ]),
] as const satisfies readonly FlagDef[];

/** The canonical name of every flag: `options.str("orchAdr")` does not compile. */
export type FlagName = (typeof FLAG_TABLE)[number]["name"];

/** Every flag lp-node knows, in help order. */
export const FLAGS: readonly (FlagDef & { name: FlagName })[] = FLAG_TABLE;

const BY_NAME = new Map<string, FlagDef>();
for (const f of FLAGS) {
  BY_NAME.set(f.name, f);
  for (const a of f.aliases ?? []) BY_NAME.set(a, f);
}

/** Look up a flag by its name or an alias (case-sensitive, as go's flag package is). */
export function findFlag(name: string): FlagDef | undefined {
  return BY_NAME.get(name);
}

/** Case-insensitive lookup used for env var names (LP_ORCHADDR → orchAddr). */
export function findFlagByEnvName(envSuffix: string): FlagDef | undefined {
  const want = envSuffix.toLowerCase();
  for (const [name, def] of BY_NAME) if (name.toLowerCase() === want) return def;
  return undefined;
}

/** Names and aliases, for "did you mean". */
const ALL_NAMES = [...BY_NAME.keys()];

/**
 * The known flag closest to an unknown one (a case slip or one or two typos), for
 * "unknown flag -orchAdr; did you mean -orchAddr?"; undefined when nothing is close.
 */
export function suggestFlag(name: string): string | undefined {
  const want = name.toLowerCase();
  const limit = Math.max(1, Math.floor(want.length / 4));
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of ALL_NAMES) {
    const d = editDistance(want, candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= limit ? best : undefined;
}

/** Levenshtein distance (insert, delete, substitute), two rows at a time. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
}

/** "unknown flag -x" with a suggestion when one is close. */
export function unknownFlagMessage(spelled: string, name: string): string {
  const hint = suggestFlag(name);
  return hint === undefined ? `unknown flag ${spelled}` : `unknown flag ${spelled}; did you mean -${hint}?`;
}
