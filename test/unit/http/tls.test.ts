import { createPrivateKey, X509Certificate } from "node:crypto";
import { describe, expect, it } from "vitest";
import { selfSignedCert } from "../../../src/http/tls.js";

describe("selfSignedCert", () => {
  it("makes a P-256 certificate whose key matches, with an IP SAN for an IP host", async () => {
    const { cert, key } = selfSignedCert("127.0.0.1");
    const c = new X509Certificate(cert);
    expect(c.publicKey.asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
    expect(c.subjectAltName).toBe("IP Address:127.0.0.1");
    expect(c.checkPrivateKey(createPrivateKey(key))).toBe(true);
    expect(c.ca).toBe(true);
    expect(c.verify(c.publicKey)).toBe(true);
    const days = (Date.parse(c.validTo) - Date.parse(c.validFrom)) / 86_400_000;
    expect(days).toBeGreaterThan(364);
  });
  it("uses a DNS SAN for a host name and differs every time", async () => {
    const a = selfSignedCert("orch.example.com");
    const b = selfSignedCert("orch.example.com");
    expect(new X509Certificate(a.cert).subjectAltName).toBe("DNS:orch.example.com");
    expect(a.cert).not.toBe(b.cert);
  });
});

describe("selfSignedCert with IPv6", () => {
  it("encodes an IPv6 SAN", () => {
    expect(new X509Certificate(selfSignedCert("::1").cert).subjectAltName).toBe("IP Address:0:0:0:0:0:0:0:1");
  });
});
