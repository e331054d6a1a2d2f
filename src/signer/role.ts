/**
 * The remote-signer role (go-livepeer -remoteSigner): the node's key and deposit sign payments for
 * gateways that hold neither, over a plain-HTTP JSON API. Requires a chain (checked at config).
 */
import type { NodeConfig } from "../config/resolve.js";
import { HttpClient } from "../http/client.js";
import type { RoleContext, RoleParts } from "../node/LpNode.js";

/** Builds the remote-signer role: the payment signer, its HTTP server, the webhook and discovery. */
export async function remoteSignerRole(config: NodeConfig, ctx: RoleContext): Promise<RoleParts> {
  const s = config.remoteSigner!;
  const chain = ctx.chain;
  if (!chain) throw new Error("Remote signer mode requires on-chain network");
  const log = ctx.logger.child({ module: "signer" });
  // Loaded only here: an offchain node never loads the payments and chain code.
  const [
    { PaymentSigner },
    { SignerServer },
    { SignerWebhook },
    { MaxPrices, maxPricesFromFlags },
    { parseSenderOptions },
    { SignerDiscoveryCache },
    { SignerStore },
    { chainSenderDeps },
  ] = await Promise.all([
    import("./PaymentSigner.js"),
    import("./SignerServer.js"),
    import("./webhook.js"),
    import("../payments/pricing.js"),
    import("../payments/Sender.js"),
    import("./discovery.js"),
    import("./SignerStore.js"),
    import("../payments/chainSender.js"),
  ]);
  // Opened when the role starts: issued states and used nonces, kept across restarts.
  const store = new SignerStore({ datadir: config.datadir });
  const webhookHttp = new HttpClient({ insecureTls: false });
  const webhook = s.webhookUrl
    ? new SignerWebhook({ url: s.webhookUrl, headers: s.webhookHeaders }, { http: webhookHttp })
    : null;
  if (!webhook)
    log.warn("no -remoteSignerWebhookUrl: any caller that reaches the signer can spend the deposit");
  const maxPrices = new MaxPrices();
  const signer = new PaymentSigner(
    {
      ...parseSenderOptions({
        maxTicketEV: s.maxTicketEV,
        maxTotalEV: s.maxTotalEV,
        depositMultiplier: s.depositMultiplier,
      }),
      maxPrices,
    },
    {
      ...chainSenderDeps(chain),
      webhook,
      logger: log,
      store,
    },
  );
  const orchHttp = new HttpClient({ insecureTls: true });
  const discovery = s.remoteDiscovery
    ? new SignerDiscoveryCache(
        { orchAddr: s.orchAddr, refreshMs: s.discoveryRefreshMs },
        {
          http: orchHttp,
          maxPrices,
          pool: async () => {
            const members = await chain.client.transcoderPool();
            const uris = await Promise.all(
              members.map((m) => chain.client.serviceURI(m.address).catch(() => "")),
            );
            return uris.filter(Boolean);
          },
          creds: () => signer.orchestratorInfo(),
          logger: log,
        },
      )
    : null;
  const server = new SignerServer({ addr: s.httpAddr }, { logger: log, signer, discovery });
  return {
    services: [
      {
        name: "remote-signer",
        async start() {
          await maxPricesFromFlags(
            {
              maxPricePerUnit: s.maxPricePerUnit,
              pixelsPerUnit: s.pixelsPerUnit,
              maxPricePerCapability: s.maxPricePerCapability,
            },
            chain.priceFeed,
            maxPrices,
          );
          const info = await chain.client.senderInfo(chain.signer.address);
          log.info(
            {
              sender: chain.signer.address,
              deposit: info.deposit.toString(),
              reserve: info.reserve.fundsRemaining.toString(),
            },
            "remote signer: signing payments from this account",
          );
          // Last: a failed start above leaves nothing open.
          store.open();
        },
        async stop() {
          store.close();
          maxPrices.stop();
          await Promise.all([webhookHttp.close(), orchHttp.close()]);
        },
      },
      server,
    ],
    status: (st) => {
      const c = signer.counters;
      st["SignerPort"] = server.port;
      st["RemoteSigner"] = {
        address: (() => {
          try {
            return chain.signer.address;
          } catch {
            return null;
          }
        })(),
        webhook: webhook !== null,
        discovery: discovery !== null,
        // States used within the last 10 minutes: the streams paying through this signer now.
        sessions: (() => {
          try {
            return signer.replay.active(10 * 60_000);
          } catch {
            return null; // the store is not open: the role has not started or has stopped
          }
        })(),
        requests: c.requests,
        payments: c.payments,
        tickets: c.tickets,
        evSigned: c.evSigned.floatString(0),
        refused: { ...c.refused },
      };
    },
  };
}
