import type { AuthContext } from "./auth-context.js";
import { AuthError } from "./auth-error.js";
import type { Authenticator } from "./authenticator.js";
import { getPeerCertificate, type PeerCertificate } from "./peer-certificate.js";
import { isTrustDomain, parseSpiffeId } from "./spiffe-id.js";

/**
 * Where the identity of a client certificate comes from:
 * `"spiffe"`: the URI SAN, which must then be the only URI SAN and a valid
 * SPIFFE ID; `"cn"`: the subject common name; `"dns"`: the DNS SAN;
 * `"email"`: the email SAN. A source with several values is ambiguous and
 * rejects the certificate.
 */
export type CertificateIdentitySource = "spiffe" | "cn" | "dns" | "email";

/** Options of {@link mtlsAuthenticator}. */
export interface MtlsAuthenticatorOptions {
  /**
   * Identity sources, tried in order; the first present one is used. A
   * source that is present but invalid or ambiguous rejects the certificate
   * (it does not fall through). Default: `["spiffe", "cn"]`: the SPIFFE ID
   * when the certificate has a URI SAN, else the common name.
   */
  readonly identityFrom?: CertificateIdentitySource | readonly CertificateIdentitySource[];
  /**
   * SPIFFE trust domains to accept, e.g. `["example.org"]`. Needs `"spiffe"`
   * in `identityFrom`. Default: any trust domain.
   */
  readonly trustDomains?: readonly string[];
  /** Clock for the validity check, ms since the epoch. Default: `Date.now`. */
  readonly now?: () => number;
  /** `provider` of the resulting `AuthContext`. Default: `"mtls"`. */
  readonly provider?: string;
}

/**
 * The `claims` of an `AuthContext` established by {@link mtlsAuthenticator}.
 */
export interface MtlsClaims {
  /** Which source gave the identity. */
  readonly identitySource: CertificateIdentitySource;
  /** The SPIFFE ID, when the identity came from it. */
  readonly spiffeId: string | undefined;
  /** Its trust domain, when the identity came from a SPIFFE ID. */
  readonly trustDomain: string | undefined;
  /** The subject common name, if exactly one. */
  readonly commonName: string | undefined;
  /** The first subject organization (O), if any. */
  readonly organization: string | undefined;
  /** SHA-256 fingerprint of the certificate, lower-case hex. */
  readonly fingerprint: string;
  /** Serial number, upper-case hex. */
  readonly serialNumber: string;
  /** When the certificate expires. */
  readonly expiresAt: Date;
}

const SOURCES: readonly CertificateIdentitySource[] = ["spiffe", "cn", "dns", "email"];

/**
 * Creates an {@link Authenticator} that identifies the caller by the client
 * certificate of its TLS connection, as verified by the server's TLS stack.
 * The certificate reaches it through the call's context values: on Node,
 * give `connectNodeAdapter` the `contextValues: peerCertificateContextValues`
 * option from `@cpg/auth/node`.
 *
 * No certificate: absent (another authenticator may apply; alone, the call
 * is `unauthenticated`). A certificate the TLS stack did not verify (unknown
 * CA, expired, ...), one outside its validity period, one with two URI SANs,
 * an invalid SPIFFE ID, a trust domain not allowed, or no usable identity:
 * `invalid_credentials`, answered `unauthenticated`.
 *
 * @example
 * ```ts
 * const mtls = mtlsAuthenticator({ identityFrom: ["spiffe"], trustDomains: ["example.org"] });
 * ```
 */
export function mtlsAuthenticator(options: MtlsAuthenticatorOptions = {}): Authenticator {
  const config = resolveOptions(options);
  return {
    name: "mtls",
    authenticate(req) {
      const cert = getPeerCertificate(req.contextValues);
      if (cert === undefined) return undefined;
      if (!cert.authorized) {
        reject(`client certificate not verified (${cert.authorizationError ?? "unknown reason"})`);
      }
      const now = config.now();
      if (now < cert.validFrom.getTime() || now >= cert.validTo.getTime()) {
        reject("client certificate is expired or not yet valid");
      }
      for (const source of config.identityFrom) {
        const found = identityOf(cert, source, config.trustDomains);
        if (found !== undefined) return authContext(cert, source, found, config.provider);
      }
      return reject(
        `client certificate has no identity (looked at: ${config.identityFrom.join(", ")})`,
      );
    },
  };
}

interface FoundIdentity {
  identity: string;
  trustDomain?: string;
}

function identityOf(
  cert: PeerCertificate,
  source: CertificateIdentitySource,
  trustDomains: ReadonlySet<string> | undefined,
): FoundIdentity | undefined {
  switch (source) {
    case "spiffe": {
      const uri = single(cert.uris, "URI SANs");
      if (uri === undefined) return undefined;
      const spiffe = parseSpiffeId(uri);
      if (spiffe === undefined) return reject("URI SAN is not a valid SPIFFE ID");
      if (trustDomains !== undefined && !trustDomains.has(spiffe.trustDomain)) {
        return reject(`SPIFFE trust domain "${spiffe.trustDomain}" is not allowed`);
      }
      return { identity: spiffe.id, trustDomain: spiffe.trustDomain };
    }
    case "cn":
      return wrap(single(cert.commonNames, "common names"));
    case "dns":
      return wrap(single(cert.dnsNames, "DNS SANs"));
    case "email":
      return wrap(single(cert.emails, "email SANs"));
  }
}

function wrap(identity: string | undefined): FoundIdentity | undefined {
  return identity === undefined || identity.length === 0 ? undefined : { identity };
}

/** The only value, `undefined` for none; several are ambiguous. */
function single(values: readonly string[], what: string): string | undefined {
  if (values.length > 1) reject(`client certificate has ${values.length} ${what}; expected one`);
  return values[0];
}

function authContext(
  cert: PeerCertificate,
  source: CertificateIdentitySource,
  found: FoundIdentity,
  provider: string,
): AuthContext {
  const claims: MtlsClaims = {
    identitySource: source,
    spiffeId: source === "spiffe" ? found.identity : undefined,
    trustDomain: found.trustDomain,
    commonName: cert.commonNames.length === 1 ? cert.commonNames[0] : undefined,
    organization: cert.organizations[0],
    fingerprint: cert.fingerprint256,
    serialNumber: cert.serialNumber,
    expiresAt: cert.validTo,
  };
  return Object.freeze({ identity: found.identity, provider, claims: Object.freeze(claims) });
}

function reject(message: string): never {
  throw new AuthError("invalid_credentials", message);
}

function resolveOptions(options: MtlsAuthenticatorOptions): {
  identityFrom: readonly CertificateIdentitySource[];
  trustDomains: ReadonlySet<string> | undefined;
  now: () => number;
  provider: string;
} {
  const from = options.identityFrom ?? ["spiffe", "cn"];
  const identityFrom: readonly CertificateIdentitySource[] =
    typeof from === "string" ? [from] : [...from];
  if (identityFrom.length === 0 || identityFrom.some((s) => !SOURCES.includes(s))) {
    throw invalid(`identityFrom must be one or more of ${SOURCES.join(", ")}; got ${String(from)}`);
  }
  let trustDomains: ReadonlySet<string> | undefined;
  if (options.trustDomains !== undefined) {
    const bad = options.trustDomains.find((d) => typeof d !== "string" || !isTrustDomain(d));
    if (options.trustDomains.length === 0 || bad !== undefined) {
      throw invalid(
        `trustDomains must be a non-empty list of trust domain names like "example.org"${bad === undefined ? "" : `; "${bad}" is not one`}`,
      );
    }
    if (!identityFrom.includes("spiffe")) {
      throw invalid('trustDomains needs "spiffe" in identityFrom');
    }
    trustDomains = new Set(options.trustDomains);
  }
  if (options.now !== undefined && typeof options.now !== "function") {
    throw invalid("now must be a function returning ms since the epoch");
  }
  return {
    identityFrom,
    trustDomains,
    now: options.now ?? Date.now,
    provider: options.provider ?? "mtls",
  };
}

function invalid(message: string): AuthError {
  return new AuthError("invalid_options", `mtlsAuthenticator: ${message}`);
}
