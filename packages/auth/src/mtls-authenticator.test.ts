import { createContextValues } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import type { AuthContext } from "./auth-context.js";
import { type AuthError, isAuthError } from "./auth-error.js";
import type { AuthRequest } from "./authenticator.js";
import { type MtlsAuthenticatorOptions, mtlsAuthenticator } from "./mtls-authenticator.js";
import { type PeerCertificate, peerCertificateKey } from "./peer-certificate.js";

const NOW = Date.parse("2030-01-01T00:00:00Z");

function cert(overrides: Partial<PeerCertificate> = {}): PeerCertificate {
  return {
    authorized: true,
    authorizationError: undefined,
    commonNames: ["billing-plugin"],
    organizations: ["Example Org"],
    uris: [],
    dnsNames: [],
    emails: [],
    ipAddresses: [],
    fingerprint256: "ab".repeat(32),
    serialNumber: "0A1B",
    validFrom: new Date(NOW - 1000),
    validTo: new Date(NOW + 1000),
    ...overrides,
  };
}

function request(peer: PeerCertificate | undefined): AuthRequest {
  const contextValues = createContextValues();
  if (peer) contextValues.set(peerCertificateKey, peer);
  return { contextValues, header: new Headers() } as unknown as AuthRequest;
}

/** The mTLS authenticator answers synchronously. */
function authenticate(
  peer: PeerCertificate | undefined,
  options: MtlsAuthenticatorOptions = {},
): AuthContext | undefined {
  return mtlsAuthenticator({ now: () => NOW, ...options }).authenticate(request(peer)) as
    | AuthContext
    | undefined;
}

function rejection(peer: PeerCertificate, options: MtlsAuthenticatorOptions = {}): string {
  try {
    authenticate(peer, options);
  } catch (error) {
    expect(isAuthError(error, "invalid_credentials")).toBe(true);
    return (error as AuthError).message;
  }
  throw new Error("expected a rejection");
}

describe("mtlsAuthenticator", () => {
  it("is absent without a peer certificate", () => {
    expect(authenticate(undefined)).toBeUndefined();
  });

  it("identifies a CN-only certificate by its common name, with claims", () => {
    expect(authenticate(cert())).toEqual({
      identity: "billing-plugin",
      provider: "mtls",
      claims: {
        identitySource: "cn",
        spiffeId: undefined,
        trustDomain: undefined,
        commonName: "billing-plugin",
        organization: "Example Org",
        fingerprint: "ab".repeat(32),
        serialNumber: "0A1B",
        expiresAt: new Date(NOW + 1000),
      },
    });
  });

  it("prefers the SPIFFE ID and reports its trust domain", () => {
    const auth = authenticate(cert({ uris: ["spiffe://example.org/plugin/billing"] }));
    expect(auth).toMatchObject({
      identity: "spiffe://example.org/plugin/billing",
      claims: {
        identitySource: "spiffe",
        trustDomain: "example.org",
        commonName: "billing-plugin",
      },
    });
  });

  it("rejects two URI SANs instead of picking one", () => {
    const peer = cert({ uris: ["spiffe://example.org/a", "spiffe://example.org/b"] });
    expect(rejection(peer)).toBe("client certificate has 2 URI SANs; expected one");
  });

  it("rejects a URI SAN that is not a SPIFFE ID rather than falling back to the CN", () => {
    expect(rejection(cert({ uris: ["https://example.org/a"] }))).toBe(
      "URI SAN is not a valid SPIFFE ID",
    );
  });

  it("enforces the trust-domain allow-list", () => {
    const peer = cert({ uris: ["spiffe://evil.org/plugin/billing"] });
    expect(rejection(peer, { trustDomains: ["example.org"] })).toBe(
      'SPIFFE trust domain "evil.org" is not allowed',
    );
    const ok = cert({ uris: ["spiffe://example.org/plugin/billing"] });
    expect(authenticate(ok, { trustDomains: ["example.org"] })?.identity).toBe(
      "spiffe://example.org/plugin/billing",
    );
  });

  it("uses DNS or email SANs when configured", () => {
    const peer = cert({ dnsNames: ["billing.example.org"], emails: ["billing@example.org"] });
    expect(authenticate(peer, { identityFrom: "dns" })?.identity).toBe("billing.example.org");
    expect(authenticate(peer, { identityFrom: ["email", "cn"] })?.identity).toBe(
      "billing@example.org",
    );
    expect(rejection(cert({ dnsNames: ["a", "b"] }), { identityFrom: "dns" })).toBe(
      "client certificate has 2 DNS SANs; expected one",
    );
  });

  it("ignores URI SANs when spiffe is not an identity source", () => {
    const peer = cert({ uris: ["spiffe://example.org/a", "spiffe://example.org/b"] });
    expect(authenticate(peer, { identityFrom: "cn" })?.identity).toBe("billing-plugin");
  });

  it("rejects certificates without a usable identity or with several CNs", () => {
    expect(rejection(cert({ commonNames: [] }))).toBe(
      "client certificate has no identity (looked at: spiffe, cn)",
    );
    expect(rejection(cert({ commonNames: ["a", "b"] }))).toBe(
      "client certificate has 2 common names; expected one",
    );
  });

  it("rejects certificates the TLS stack did not verify", () => {
    const peer = cert({ authorized: false, authorizationError: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" });
    expect(rejection(peer)).toBe(
      "client certificate not verified (UNABLE_TO_VERIFY_LEAF_SIGNATURE)",
    );
  });

  it("rejects expired and not-yet-valid certificates", () => {
    const message = "client certificate is expired or not yet valid";
    expect(rejection(cert({ validTo: new Date(NOW) }))).toBe(message);
    expect(rejection(cert({ validFrom: new Date(NOW + 1) }))).toBe(message);
  });

  it.each<[MtlsAuthenticatorOptions, string]>([
    [
      { identityFrom: [] },
      "mtlsAuthenticator: identityFrom must be one or more of spiffe, cn, dns, email; got ",
    ],
    [
      { identityFrom: "uri" as "cn" },
      "mtlsAuthenticator: identityFrom must be one or more of spiffe, cn, dns, email; got uri",
    ],
    [
      { trustDomains: [] },
      'mtlsAuthenticator: trustDomains must be a non-empty list of trust domain names like "example.org"',
    ],
    [
      { trustDomains: ["Example.org"] },
      'mtlsAuthenticator: trustDomains must be a non-empty list of trust domain names like "example.org"; "Example.org" is not one',
    ],
    [
      { trustDomains: ["example.org"], identityFrom: "cn" },
      'mtlsAuthenticator: trustDomains needs "spiffe" in identityFrom',
    ],
  ])("rejects invalid options %j", (options, message) => {
    let error: unknown;
    try {
      mtlsAuthenticator(options);
    } catch (e) {
      error = e;
    }
    expect(isAuthError(error, "invalid_options")).toBe(true);
    expect((error as Error).message).toBe(message);
  });
});
