import { createContextKey, createContextValues } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import {
  attachPeerCertificate,
  type NodeServerRequest,
  peerCertificateContextValues,
} from "./node-peer-certificate.js";
import { getPeerCertificate } from "./peer-certificate.js";

// Real sockets are covered by node-mtls.test.ts; these fake ones reach the
// shapes a real handshake with generated certificates does not produce.
function requestWith(socket: object | null): NodeServerRequest {
  return { socket } as unknown as NodeServerRequest;
}

function tlsSocket(cert: object, authorized = true, authorizationError?: string) {
  return { getPeerCertificate: () => cert, authorized, authorizationError };
}

const base = {
  raw: Buffer.from("der"),
  subject: { CN: "billing-plugin", O: "Example Org" },
  fingerprint256: "AB:CD:EF",
  serialNumber: "0a1b",
  valid_from: "Jan  1 00:00:00 2030 GMT",
  valid_to: "Jan  2 00:00:00 2030 GMT",
};

describe("peerCertificateContextValues", () => {
  it("holds no certificate for plaintext sockets or clients without a certificate", () => {
    expect(getPeerCertificate(peerCertificateContextValues(requestWith({})))).toBeUndefined();
    expect(getPeerCertificate(peerCertificateContextValues(requestWith(null)))).toBeUndefined();
    expect(
      getPeerCertificate(peerCertificateContextValues(requestWith(tlsSocket({}, false)))),
    ).toBeUndefined();
  });

  it("converts Node's certificate, keeping JSON-quoted SAN values whole", () => {
    const cert = {
      ...base,
      subject: { CN: ["a", "b"], O: "Example Org" },
      subjectaltname:
        'DNS:x.example, URI:"spiffe://td/a\\u002c URI:spiffe://td/b", email:a@example.org, IP Address:127.0.0.1, DNS:"q\\"uote"',
    };
    const peer = getPeerCertificate(
      peerCertificateContextValues(requestWith(tlsSocket(cert, false, "CERT_HAS_EXPIRED"))),
    );
    expect(peer).toEqual({
      authorized: false,
      authorizationError: "CERT_HAS_EXPIRED",
      commonNames: ["a", "b"],
      organizations: ["Example Org"],
      uris: ["spiffe://td/a, URI:spiffe://td/b"],
      dnsNames: ["x.example", 'q"uote'],
      emails: ["a@example.org"],
      ipAddresses: ["127.0.0.1"],
      fingerprint256: "abcdef",
      serialNumber: "0A1B",
      validFrom: new Date("2030-01-01T00:00:00Z"),
      validTo: new Date("2030-01-02T00:00:00Z"),
    });
  });

  it("marks a certificate whose SAN text cannot be parsed as unverified", () => {
    const cert = { ...base, subjectaltname: 'URI:"unterminated \\' };
    const peer = getPeerCertificate(peerCertificateContextValues(requestWith(tlsSocket(cert))));
    expect(peer?.authorized).toBe(false);
    expect(peer?.authorizationError).toBe("UNPARSEABLE_SUBJECT_ALT_NAME");
  });
});

describe("attachPeerCertificate", () => {
  it("adds the certificate to the given values and returns them", () => {
    const key = createContextKey("", { description: "mine" });
    const values = createContextValues().set(key, "kept");
    expect(attachPeerCertificate(values, requestWith(tlsSocket(base)))).toBe(values);
    expect(values.get(key)).toBe("kept");
    expect(getPeerCertificate(values)?.commonNames).toEqual(["billing-plugin"]);
  });
});
