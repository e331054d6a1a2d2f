import { createPrivateKey, X509Certificate } from "node:crypto";
import { createSecureContext } from "node:tls";
import { describe, expect, it } from "vitest";
import { derUnsignedInt, selfSignedCert } from "../../../src/http/tls.js";

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

describe("DER integers", () => {
  it("are minimal and positive, whatever the random bytes", () => {
    expect(derUnsignedInt(Buffer.from([0, 0, 0x12]))).toEqual(Buffer.from([2, 1, 0x12]));
    expect(derUnsignedInt(Buffer.from([0, 0x92]))).toEqual(Buffer.from([2, 2, 0, 0x92]));
    expect(derUnsignedInt(Buffer.from([0x92]))).toEqual(Buffer.from([2, 2, 0, 0x92]));
    expect(derUnsignedInt(Buffer.from([0, 0]))).toEqual(Buffer.from([2, 1, 0]));
  });

  it("every certificate loads into a TLS context (a zero-led serial once broke 1 start in 128)", () => {
    for (let i = 0; i < 400; i++) {
      const { cert, key } = selfSignedCert("127.0.0.1");
      expect(() => createSecureContext({ cert, key })).not.toThrow();
    }
  });
});
