import { createPrivateKey, X509Certificate } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { createTestCa } from "./test-ca.js";
import { createTestPki, TEST_SPIFFE_ID, type TestPki } from "./test-pki.js";

describe("createTestCa", () => {
  it("creates a CA certificate with a matching PKCS#8 key", async () => {
    const ca = await createTestCa({ commonName: "unit CA" });
    const cert = new X509Certificate(ca.cert);
    expect(cert.ca).toBe(true);
    expect(cert.subject).toBe("CN=unit CA");
    expect(ca.key).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(cert.checkPrivateKey(createPrivateKey(ca.key))).toBe(true);
  });

  it("issues leaves with the requested subject, SANs and validity", async () => {
    const ca = await createTestCa();
    const notAfter = new Date(Date.now() + 60_000);
    const leaf = await ca.issue({
      commonName: "leaf",
      organization: "Org",
      uris: ["spiffe://td/x"],
      dnsNames: ["a.example"],
      ipAddresses: ["127.0.0.1"],
      emails: ["a@example.org"],
      notAfter,
    });
    const cert = new X509Certificate(leaf.cert);
    expect(cert.ca).toBe(false);
    expect(cert.subject.split("\n")).toEqual(["CN=leaf", "O=Org"]);
    expect(cert.subjectAltName).toBe(
      "DNS:a.example, IP Address:127.0.0.1, URI:spiffe://td/x, email:a@example.org",
    );
    expect(cert.checkIssued(new X509Certificate(ca.cert))).toBe(true);
    expect(cert.verify(new X509Certificate(ca.cert).publicKey)).toBe(true);
    expect(Math.abs(new Date(cert.validTo).getTime() - notAfter.getTime())).toBeLessThan(1000);
  });

  it("omits the SAN extension when no name is given", async () => {
    const leaf = await (await createTestCa()).issue({ commonName: "only-cn" });
    expect(new X509Certificate(leaf.cert).subjectAltName).toBeUndefined();
  });
});

describe("createTestPki", () => {
  let pki: TestPki;
  beforeAll(async () => {
    pki = await createTestPki();
  });

  const parse = (pem: string) => new X509Certificate(pem);

  it("issues a server certificate for 127.0.0.1 and localhost", () => {
    const server = parse(pki.server.cert);
    expect(server.subjectAltName).toBe("DNS:localhost, IP Address:127.0.0.1");
    expect(server.checkIP("127.0.0.1")).toBe("127.0.0.1");
    expect(server.checkHost("localhost")).toBe("localhost");
    expect(server.keyUsage).toEqual(["1.3.6.1.5.5.7.3.1"]);
  });

  it("issues one client certificate per identity case", () => {
    const { clients } = pki;
    expect(parse(clients.cnOnly.cert).subject).toBe("CN=billing-plugin\nO=Example Org");
    expect(parse(clients.cnOnly.cert).subjectAltName).toBeUndefined();
    expect(parse(clients.spiffe.cert).subjectAltName).toBe(`URI:${TEST_SPIFFE_ID}`);
    expect(parse(clients.twoUris.cert).subjectAltName).toBe(
      "URI:spiffe://example.org/plugin/a, URI:spiffe://example.org/plugin/b",
    );
    expect(parse(clients.dns.cert).subjectAltName).toBe("DNS:billing.plugins.example.org");
    expect(parse(clients.email.cert).subjectAltName).toBe("email:billing@example.org");
    expect(parse(clients.cnOnly.cert).keyUsage).toEqual(["1.3.6.1.5.5.7.3.2"]);
  });

  it("issues an expired client certificate", () => {
    expect(new Date(parse(pki.clients.expired.cert).validTo).getTime()).toBeLessThan(Date.now());
  });

  it("signs every client with the CA except the other-CA one", () => {
    const ca = parse(pki.ca.cert);
    for (const [name, client] of Object.entries(pki.clients)) {
      expect([name, parse(client.cert).checkIssued(ca)]).toEqual([name, name !== "otherCa"]);
    }
    expect(parse(pki.clients.otherCa.cert).checkIssued(parse(pki.otherCa.cert))).toBe(true);
  });
});
