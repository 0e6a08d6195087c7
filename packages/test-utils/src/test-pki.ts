import { createTestCa, type TestCa, type TestCertificate } from "./test-ca.js";

/** SPIFFE ID carried by {@link TestPki.clients}`.spiffe`. */
export const TEST_SPIFFE_ID = "spiffe://example.org/plugin/billing";

/**
 * A ready-made set of certificates covering the cases mTLS tests need. All
 * clients except `otherCa` are issued by `ca`; all are PEM strings.
 */
export interface TestPki {
  /** The CA servers trust: pass `ca.cert` as `ca`. */
  readonly ca: TestCa;
  /** An unrelated CA; nobody trusts it. */
  readonly otherCa: TestCa;
  /**
   * Server certificate for `127.0.0.1` (IP SAN) and `localhost` (DNS SAN),
   * common name `localhost`.
   */
  readonly server: TestCertificate;
  /** Client certificates, one per identity case. */
  readonly clients: {
    /** Only a subject: CN `billing-plugin`, O `Example Org`, no SAN. */
    readonly cnOnly: TestCertificate;
    /** CN `billing-plugin`, O `Example Org` and one URI SAN {@link TEST_SPIFFE_ID}. */
    readonly spiffe: TestCertificate;
    /** Two URI SANs (`spiffe://example.org/plugin/a` and `.../b`): ambiguous. */
    readonly twoUris: TestCertificate;
    /** CN `dns-client` and one DNS SAN `billing.plugins.example.org`. */
    readonly dns: TestCertificate;
    /** CN `email-client` and one email SAN `billing@example.org`. */
    readonly email: TestCertificate;
    /** CN `expired-client`, valid from two days ago until yesterday. */
    readonly expired: TestCertificate;
    /** CN `intruder`, issued by `otherCa`. */
    readonly otherCa: TestCertificate;
  };
}

/**
 * Creates a fresh CA, a second unrelated CA, a server certificate for
 * 127.0.0.1/localhost and one client certificate per mTLS identity case.
 * Takes a few tens of milliseconds; create it once per test file.
 *
 * @example
 * ```ts
 * const pki = await createTestPki();
 * http2.createSecureServer({ ...pki.server, ca: pki.ca.cert, requestCert: true });
 * ```
 */
export async function createTestPki(): Promise<TestPki> {
  const [ca, otherCa] = await Promise.all([
    createTestCa({ commonName: "cpg test CA" }),
    createTestCa({ commonName: "cpg other CA" }),
  ]);
  const now = Date.now();
  const day = 24 * 60 * 60 * 1000;
  const subject = { commonName: "billing-plugin", organization: "Example Org" };
  const [server, cnOnly, spiffe, twoUris, dns, email, expired, intruder] = await Promise.all([
    ca.issue({
      usage: "server",
      commonName: "localhost",
      dnsNames: ["localhost"],
      ipAddresses: ["127.0.0.1"],
    }),
    ca.issue(subject),
    ca.issue({ ...subject, uris: [TEST_SPIFFE_ID] }),
    ca.issue({
      ...subject,
      uris: ["spiffe://example.org/plugin/a", "spiffe://example.org/plugin/b"],
    }),
    ca.issue({ commonName: "dns-client", dnsNames: ["billing.plugins.example.org"] }),
    ca.issue({ commonName: "email-client", emails: ["billing@example.org"] }),
    ca.issue({
      commonName: "expired-client",
      notBefore: new Date(now - 2 * day),
      notAfter: new Date(now - day),
    }),
    otherCa.issue({ commonName: "intruder" }),
  ]);
  return {
    ca,
    otherCa,
    server,
    clients: { cnOnly, spiffe, twoUris, dns, email, expired, otherCa: intruder },
  };
}
