import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { bigEndianMinimal } from "./bytes.js";
import { type AuthToken, AuthTokenSchema } from "./gen/lp_rpc_pb.js";

/** go-livepeer's authTokenValidPeriod. */
export const AUTH_TOKEN_VALID_MS = 30 * 60_000;

export type AuthTokenCheck = "valid" | "missing" | "invalid" | "expired";

/**
 * Issues and checks the orchestrator's session auth tokens (core/orchestrator.go AuthToken):
 * token = HMAC-SHA256(secret, UTF-8(session_id) || big-endian minimal expiration). The secret is
 * fresh per process, so tokens die with a restart, as in go-livepeer.
 */
export class AuthTokens {
  private readonly secret: Buffer;

  constructor(
    secret: Buffer = randomBytes(32),
    private readonly now: () => number = Date.now,
  ) {
    this.secret = secret;
  }

  /** The HMAC for a session id and expiration (unix seconds). */
  mac(sessionId: string, expiration: bigint): Buffer {
    return createHmac("sha256", this.secret)
      .update(Buffer.concat([Buffer.from(sessionId, "utf8"), bigEndianMinimal(expiration)]))
      .digest();
  }

  /** A new token for a new random 8-hex session id (or the given one), valid 30 minutes. */
  issue(sessionId: string = randomBytes(4).toString("hex")): AuthToken {
    const expiration = BigInt(Math.floor((this.now() + AUTH_TOKEN_VALID_MS) / 1000));
    return create(AuthTokenSchema, { token: this.mac(sessionId, expiration), sessionId, expiration });
  }

  /** Whether the HMAC matches (constant time); expiry not considered (EndTranscodingSession). */
  authentic(token: AuthToken): boolean {
    const expect = this.mac(token.sessionId, token.expiration);
    return token.token.length === expect.length && timingSafeEqual(Buffer.from(token.token), expect);
  }

  /** go-livepeer's checks in verifySegCreds order: present, HMAC, not expired (now > expiration fails). */
  check(token: AuthToken | undefined): AuthTokenCheck {
    if (!token) return "missing";
    if (!this.authentic(token)) return "invalid";
    if (this.now() > Number(token.expiration) * 1000) return "expired";
    return "valid";
  }
}
