import type { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

/**
 * A certificate and its private key, both PEM-encoded, ready for Node's
 * `tls`, `https` and `http2` options (`cert`, `key`, `ca`).
 */
export interface TestCertificate {
  /** The certificate, PEM (`-----BEGIN CERTIFICATE-----`). */
  readonly cert: string;
  /** The private key, PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`). */
  readonly key: string;
}

/**
 * What to put into a certificate issued by {@link TestCa.issue}. Every name
 * list defaults to empty; a certificate without any SAN has no SAN extension.
 */
export interface IssueCertificateOptions {
  /** Subject common name. Default: none. */
  readonly commonName?: string;
  /** Subject organization. Default: none. */
  readonly organization?: string;
  /** URI SANs, e.g. a SPIFFE ID `spiffe://example.org/plugin`. Default: none. */
  readonly uris?: readonly string[];
  /** DNS SANs. Default: none. */
  readonly dnsNames?: readonly string[];
  /** IP address SANs. Default: none. */
  readonly ipAddresses?: readonly string[];
  /** Email (rfc822Name) SANs. Default: none. */
  readonly emails?: readonly string[];
  /** Extended key usage. Default: `"client"`. */
  readonly usage?: "client" | "server";
  /** Start of validity. Default: one hour ago (tolerates clock skew). */
  readonly notBefore?: Date;
  /** End of validity. Default: one day from now. */
  readonly notAfter?: Date;
}

/**
 * A throw-away certificate authority for tests: its own certificate (use
 * `cert` as the trusted `ca`) and a method issuing leaf certificates.
 */
export interface TestCa extends TestCertificate {
  /** Common name of the CA certificate. */
  readonly commonName: string;
  /** Issues a leaf certificate signed by this CA. */
  issue(options?: IssueCertificateOptions): Promise<TestCertificate>;
}

/** Options of {@link createTestCa}. */
export interface TestCaOptions {
  /** Common name of the CA. Default: `"cpg test CA"`. */
  readonly commonName?: string;
}

const HOUR_MS = 60 * 60 * 1000;
const DAY_MS = 24 * HOUR_MS;
const KEY_ALGORITHM: webcrypto.EcKeyGenParams = { name: "ECDSA", namedCurve: "P-256" };
const SIGNING_ALGORITHM: webcrypto.EcdsaParams = { name: "ECDSA", hash: "SHA-256" };

/**
 * Creates a new certificate authority (ECDSA P-256, valid from a week ago for
 * ten years) using Node's WebCrypto. Each call makes an unrelated CA, so a
 * second call gives an "other CA" whose certificates a server must reject.
 *
 * @example
 * ```ts
 * const ca = await createTestCa();
 * const server = await ca.issue({ usage: "server", ipAddresses: ["127.0.0.1"] });
 * https.createServer({ cert: server.cert, key: server.key, ca: ca.cert });
 * ```
 */
export async function createTestCa(options: TestCaOptions = {}): Promise<TestCa> {
  const commonName = options.commonName ?? "cpg test CA";
  const crypto = globalThis.crypto;
  const keys = await crypto.subtle.generateKey(KEY_ALGORITHM, true, ["sign", "verify"]);
  const now = Date.now();
  const caCert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      name: [{ CN: [commonName] }],
      keys,
      notBefore: new Date(now - 7 * DAY_MS),
      notAfter: new Date(now + 3650 * DAY_MS),
      signingAlgorithm: SIGNING_ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
          true,
        ),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
      ],
    },
    crypto,
  );

  return {
    commonName,
    cert: caCert.toString("pem"),
    key: await exportKeyPem(keys.privateKey),
    async issue(leaf: IssueCertificateOptions = {}): Promise<TestCertificate> {
      const leafKeys = await crypto.subtle.generateKey(KEY_ALGORITHM, true, ["sign", "verify"]);
      const cert = await x509.X509CertificateGenerator.create(
        {
          subject: subjectName(leaf),
          issuer: caCert.subject,
          publicKey: leafKeys.publicKey,
          signingKey: keys.privateKey,
          notBefore: leaf.notBefore ?? new Date(Date.now() - HOUR_MS),
          notAfter: leaf.notAfter ?? new Date(Date.now() + DAY_MS),
          signingAlgorithm: SIGNING_ALGORITHM,
          extensions: await leafExtensions(leaf, leafKeys.publicKey, caCert),
        },
        crypto,
      );
      return { cert: cert.toString("pem"), key: await exportKeyPem(leafKeys.privateKey) };
    },
  };
}

function subjectName(leaf: IssueCertificateOptions): x509.JsonName {
  const name: x509.JsonName = [];
  if (leaf.commonName !== undefined) name.push({ CN: [leaf.commonName] });
  if (leaf.organization !== undefined) name.push({ O: [leaf.organization] });
  return name;
}

async function leafExtensions(
  leaf: IssueCertificateOptions,
  publicKey: webcrypto.CryptoKey,
  caCert: x509.X509Certificate,
): Promise<x509.Extension[]> {
  const usage =
    leaf.usage === "server" ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth;
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([usage], false),
    await x509.SubjectKeyIdentifierExtension.create(publicKey, false, globalThis.crypto),
    await x509.AuthorityKeyIdentifierExtension.create(caCert, false, globalThis.crypto),
  ];
  const names: x509.JsonGeneralName[] = [
    ...(leaf.dnsNames ?? []).map((value) => ({ type: "dns" as const, value })),
    ...(leaf.ipAddresses ?? []).map((value) => ({ type: "ip" as const, value })),
    ...(leaf.uris ?? []).map((value) => ({ type: "url" as const, value })),
    ...(leaf.emails ?? []).map((value) => ({ type: "email" as const, value })),
  ];
  if (names.length > 0) {
    extensions.push(new x509.SubjectAlternativeNameExtension(names, false));
  }
  return extensions;
}

async function exportKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  const pkcs8 = await globalThis.crypto.subtle.exportKey("pkcs8", key);
  return x509.PemConverter.encode(pkcs8, "PRIVATE KEY");
}
