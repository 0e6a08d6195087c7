import {
  Code,
  ConnectError,
  type ConnectRouter,
  createClient,
  createRouterTransport,
  type Interceptor,
} from "@connectrpc/connect";
import { PluginControl, pluginHealthV1 } from "@cpg/protocol";
import { describe, expect, it } from "vitest";
import { isAuthError } from "./auth-error.js";
import {
  createRequestSigningInterceptor,
  type RequestSigningOptions,
} from "./node-request-signing-interceptor.js";
import {
  createRequestVerificationInterceptor,
  type RequestVerificationOptions,
} from "./node-request-verification-interceptor.js";
import { getSignatureKeyId } from "./signature-key-id.js";

const SECRET = "billing-signing-secret-0123456789";
const START = 1_700_000_000_000;
const SIGNATURE_HEADERS = [
  "x-cpg-signature-key",
  "x-cpg-signature-timestamp",
  "x-cpg-signature-nonce",
  "x-cpg-signature",
] as const;

async function errorOf(promise: Promise<unknown>): Promise<ConnectError> {
  try {
    await promise;
  } catch (error) {
    return ConnectError.from(error);
  }
  throw new Error("expected the call to fail");
}

async function drain(stream: AsyncIterable<unknown>): Promise<number> {
  let n = 0;
  for await (const _ of stream) n++;
  return n;
}

interface Setup {
  /** Signer options; `null`: the client does not sign. */
  sign?: Partial<RequestSigningOptions> | null;
  verify?: Partial<RequestVerificationOptions>;
  /** Client interceptors placed after (inside) the signer. */
  after?: Interceptor[];
}

function setup({ sign = {}, verify = {}, after = [] }: Setup = {}) {
  const clock = { now: START };
  const calls: string[] = [];
  const headers: Headers[] = [];
  const signedBy = (values: Parameters<typeof getSignatureKeyId>[0]) =>
    getSignatureKeyId(values) ?? "unsigned";
  const routes = (router: ConnectRouter) => {
    router.service(PluginControl, {
      getHealth(_req, ctx) {
        calls.push(`getHealth ${signedBy(ctx.values)}`);
        return { reason: signedBy(ctx.values) };
      },
      shutdown(req, ctx) {
        calls.push(`shutdown "${req.reason}" ${signedBy(ctx.values)}`);
        return { acknowledged: true };
      },
    });
    router.service(pluginHealthV1.HealthService, {
      check: () => ({ status: pluginHealthV1.ServingStatus.SERVING }),
      async *watch(req, ctx) {
        calls.push(`watch "${req.service}" ${signedBy(ctx.values)}`);
        yield { status: pluginHealthV1.ServingStatus.SERVING };
        yield { status: pluginHealthV1.ServingStatus.SERVING };
      },
    });
  };
  const seeHeaders: Interceptor = (next) => async (req) => {
    headers.push(new Headers(req.header));
    return await next(req);
  };
  const signer =
    sign === null
      ? []
      : [
          createRequestSigningInterceptor({
            keyId: "billing",
            secret: SECRET,
            now: () => clock.now,
            ...sign,
          }),
        ];
  const transport = createRouterTransport(routes, {
    router: {
      interceptors: [
        seeHeaders,
        createRequestVerificationInterceptor({
          keys: (keyId) => (keyId === "billing" ? SECRET : undefined),
          now: () => clock.now,
          ...verify,
        }),
      ],
    },
    transport: { interceptors: [...signer, ...after] },
  });
  return {
    clock,
    calls,
    headers,
    control: createClient(PluginControl, transport),
    health: createClient(pluginHealthV1.HealthService, transport),
  };
}

/** Records the signature headers of the first call and puts them on every later call. */
function replayer(): Interceptor {
  let recorded: [string, string][] | undefined;
  return (next) => async (req) => {
    if (recorded === undefined) {
      recorded = SIGNATURE_HEADERS.map((h) => [h, req.header.get(h) ?? ""]);
    } else {
      for (const [h, v] of recorded) req.header.set(h, v);
    }
    return await next(req);
  };
}

describe("request signing", () => {
  it("signs a unary call; the verifier accepts it and tells the handler the key id", async () => {
    const { control, calls, headers } = setup();
    const res = await control.shutdown({ reason: "maintenance", gracePeriodSeconds: 5 });
    expect(res.acknowledged).toBe(true);
    expect(calls).toEqual(['shutdown "maintenance" billing']);
    const sent = headers[0]!;
    expect(sent.get("x-cpg-signature-key")).toBe("billing");
    expect(sent.get("x-cpg-signature-timestamp")).toBe(String(START));
    expect(sent.get("x-cpg-signature-nonce")).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(sent.get("x-cpg-signature")).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(sent.get("x-cpg-signature-body")).toBeNull();
  });

  it("uses a fresh nonce for every call", async () => {
    const { control, headers } = setup();
    await control.getHealth({});
    await control.getHealth({});
    expect(headers[0]!.get("x-cpg-signature-nonce")).not.toBe(
      headers[1]!.get("x-cpg-signature-nonce"),
    );
  });

  it("accepts a Uint8Array secret and an async key lookup", async () => {
    const bytes = new TextEncoder().encode(SECRET);
    const { control } = setup({
      sign: { secret: bytes },
      verify: { keys: async (keyId) => (keyId === "billing" ? bytes : undefined) },
    });
    expect((await control.getHealth({})).reason).toBe("billing");
  });

  it("refuses a message changed after signing", async () => {
    const tamper: Interceptor = (next) => async (req) => {
      if (!req.stream && req.method.name === "Shutdown") {
        return await next({
          ...req,
          message: { ...req.message, reason: "attacker was here" } as typeof req.message,
        });
      }
      return await next(req);
    };
    const { control, calls } = setup({ after: [tamper] });
    const error = await errorOf(control.shutdown({ reason: "maintenance" }));
    expect(error.code).toBe(Code.Unauthenticated);
    expect(error.rawMessage).toBe("request signature does not match");
    expect(calls).toEqual([]);
  });

  it("binds the signature to the procedure", async () => {
    const { control, calls } = setup({ after: [replayer()] });
    await control.getHealth({});
    // Same key, timestamp, nonce and (empty) body, other procedure.
    const error = await errorOf(control.shutdown({}));
    expect(error.rawMessage).toBe("request signature does not match");
    expect(calls).toEqual(["getHealth billing"]);
  });

  it("refuses a signature made with another secret", async () => {
    const { control, calls } = setup({ sign: { secret: "not-the-billing-secret-0123456789" } });
    const error = await errorOf(control.getHealth({}));
    expect(error.code).toBe(Code.Unauthenticated);
    expect(error.rawMessage).toBe("request signature does not match");
    expect(calls).toEqual([]);
  });

  it("refuses timestamps outside the window, either way, and accepts its edge", async () => {
    let skew = -400_000;
    const { control, calls } = setup({ sign: { now: () => START + skew } });
    const old = await errorOf(control.getHealth({}));
    expect(old.code).toBe(Code.Unauthenticated);
    expect(old.rawMessage).toBe("request signature expired: timestamp 400 s away (max: 300 s)");
    skew = 300_040;
    expect((await errorOf(control.getHealth({}))).rawMessage).toBe(
      "request signature expired: timestamp 300.1 s away (max: 300 s)",
    );
    skew = -300_000;
    expect((await control.getHealth({})).reason).toBe("billing");
    expect(calls).toEqual(["getHealth billing"]);
  });

  it("honours windowMs", async () => {
    let skew = -10_000;
    const { control } = setup({ sign: { now: () => START + skew }, verify: { windowMs: 10_000 } });
    expect((await control.getHealth({})).reason).toBe("billing");
    skew = -10_001;
    expect((await errorOf(control.getHealth({}))).rawMessage).toBe(
      "request signature expired: timestamp 10.1 s away (max: 10 s)",
    );
  });

  it("refuses a replayed request (same headers and body)", async () => {
    const { control, calls } = setup({ after: [replayer()] });
    await control.shutdown({ reason: "once" });
    const error = await errorOf(control.shutdown({ reason: "once" }));
    expect(error.code).toBe(Code.Unauthenticated);
    expect(error.rawMessage).toBe("replayed request refused: nonce already used");
    expect(calls).toEqual(['shutdown "once" billing']);
  });

  it("keeps refusing the replay until its timestamp leaves the window", async () => {
    const { control, clock } = setup({ after: [replayer()] });
    await control.getHealth({});
    clock.now += 300_000;
    expect((await errorOf(control.getHealth({}))).rawMessage).toBe(
      "replayed request refused: nonce already used",
    );
    clock.now += 1;
    expect((await errorOf(control.getHealth({}))).rawMessage).toBe(
      "request signature expired: timestamp 300.1 s away (max: 300 s)",
    );
  });

  it("stays safe when the nonce cache is full", async () => {
    const record = replayer();
    let replaying = false;
    const maybeReplay: Interceptor = (next) => {
      const replay = record(next);
      return (req) => (replaying ? replay(req) : next(req));
    };
    const { control, clock, calls } = setup({ verify: { maxNonces: 2 }, after: [maybeReplay] });
    replaying = true;
    await control.getHealth({}); // recorded, nonce 1 at START
    replaying = false;
    clock.now += 1;
    await control.getHealth({}); // nonce 2
    clock.now += 1;
    await control.getHealth({}); // nonce 3 evicts nonce 1
    replaying = true;
    expect((await errorOf(control.getHealth({}))).rawMessage).toBe(
      "replayed request refused: timestamp older than the replay cache remembers (raise maxNonces)",
    );
    replaying = false;
    clock.now += 1;
    await control.getHealth({});
    expect(calls).toHaveLength(4);
  });

  it("refuses an unknown key", async () => {
    const { control, calls } = setup({ sign: { keyId: "stranger" } });
    const error = await errorOf(control.getHealth({}));
    expect(error.code).toBe(Code.Unauthenticated);
    expect(error.rawMessage).toBe("unknown signing key");
    expect(calls).toEqual([]);
  });

  it("refuses an unsigned call when required (the default)", async () => {
    const { control, calls } = setup({ sign: null });
    const error = await errorOf(control.getHealth({}));
    expect(error.code).toBe(Code.Unauthenticated);
    expect(error.rawMessage).toBe("missing request signature");
    expect(calls).toEqual([]);
  });

  it("lets unsigned calls through when not required, but still verifies signed ones", async () => {
    const unsigned = setup({ sign: null, verify: { required: false } });
    expect((await unsigned.control.getHealth({})).reason).toBe("unsigned");
    const wrong = setup({ sign: { secret: "not-the-billing-secret-0123456789" } });
    const error = await errorOf(wrong.control.getHealth({}));
    expect(error.rawMessage).toBe("request signature does not match");
  });

  it("decides per call with a required function", async () => {
    const { control, health } = setup({
      sign: null,
      verify: { required: (req) => req.method.name !== "Watch" },
    });
    expect(await drain(health.watch({}))).toBe(2);
    expect((await errorOf(control.getHealth({}))).rawMessage).toBe("missing request signature");
  });

  it("refuses incomplete or malformed signature headers", async () => {
    const { control } = setup({ sign: null, verify: { required: false } });
    const valid = {
      "x-cpg-signature-key": "billing",
      "x-cpg-signature-timestamp": String(START),
      "x-cpg-signature-nonce": "AAAAAAAAAAAAAAAAAAAAAA",
      "x-cpg-signature": "A".repeat(43),
    };
    const cases: [Record<string, string>, string][] = [
      [{ ...valid, "x-cpg-signature-nonce": "" }, "invalid x-cpg-signature-nonce"],
      [{ "x-cpg-signature": valid["x-cpg-signature"] }, "missing x-cpg-signature-key"],
      [{ ...valid, "x-cpg-signature-timestamp": "1e12" }, "invalid x-cpg-signature-timestamp"],
      [{ ...valid, "x-cpg-signature-key": "bill ing" }, "invalid x-cpg-signature-key"],
      [{ ...valid, "x-cpg-signature": "A".repeat(44) }, "invalid x-cpg-signature"],
    ];
    for (const [headers, problem] of cases) {
      const error = await errorOf(control.getHealth({}, { headers }));
      expect(error.code).toBe(Code.Unauthenticated);
      expect(error.rawMessage).toBe(`malformed request signature: ${problem}`);
    }
    const forged = await errorOf(control.getHealth({}, { headers: valid }));
    expect(forged.rawMessage).toBe("request signature does not match");
  });

  it("signs and verifies streaming calls without their messages", async () => {
    const changeMessage: Interceptor = (next) => async (req) => {
      if (!req.stream) return await next(req);
      const messages = req.message;
      async function* changed() {
        for await (const m of messages) yield { ...m, service: "changed" };
      }
      return await next({ ...req, message: changed() as typeof req.message });
    };
    const { health, calls, headers } = setup({ after: [changeMessage] });
    expect(await drain(health.watch({ service: "billing" }))).toBe(2);
    expect(headers[0]!.get("x-cpg-signature-body")).toBe("none");
    // Documented: stream message contents are not covered (TLS protects them).
    expect(calls).toEqual(['watch "changed" billing']);
    const unsigned = setup({ sign: null });
    const error = await errorOf(drain(unsigned.health.watch({})));
    expect(error.rawMessage).toBe("missing request signature");
  });

  it("refuses a streaming signature replayed on a stream", async () => {
    const { health } = setup({ after: [replayer()] });
    expect(await drain(health.watch({}))).toBe(2);
    const error = await errorOf(drain(health.watch({})));
    expect(error.rawMessage).toBe("replayed request refused: nonce already used");
  });

  it("answers internal when the key lookup fails, keeping the cause server-side", async () => {
    const { control } = setup({
      verify: {
        keys: () => {
          throw new Error("vault down");
        },
      },
    });
    const error = await errorOf(control.getHealth({}));
    expect(error.code).toBe(Code.Internal);
    expect(error.rawMessage).toBe("request signature could not be verified");
    const empty = setup({ verify: { keys: () => "" } });
    expect((await errorOf(empty.control.getHealth({}))).code).toBe(Code.Internal);
  });

  it("rejects invalid options at construction", () => {
    const sign = (options: object) => () =>
      createRequestSigningInterceptor({ keyId: "billing", secret: SECRET, ...options });
    const verify = (options: object) => () =>
      createRequestVerificationInterceptor({ keys: () => SECRET, ...options });
    const cases: [() => unknown, string][] = [
      [sign({ keyId: "" }), "keyId must be 1 to 256 visible ASCII characters"],
      [sign({ keyId: "a b" }), "keyId must be"],
      [sign({ secret: "short" }), "secret must be a string or Uint8Array of at least 16 bytes"],
      [sign({ secret: 42 }), "secret must be"],
      [sign({ now: 5 }), "now must be a function"],
      [verify({ keys: undefined }), "keys must be a function"],
      [verify({ windowMs: 0 }), "windowMs must be a positive number of milliseconds, got 0"],
      [verify({ maxNonces: 1.5 }), "maxNonces must be a positive integer, got 1.5"],
      [verify({ required: "yes" }), "required must be a boolean or a function"],
    ];
    for (const [make, message] of cases) {
      let thrown: unknown;
      try {
        make();
      } catch (error) {
        thrown = error;
      }
      expect(isAuthError(thrown, "invalid_options")).toBe(true);
      expect((thrown as Error).message).toContain(message);
    }
  });

  it("does not keep a reference to the caller's secret buffer", async () => {
    const bytes = new TextEncoder().encode(SECRET);
    const { control } = setup({ sign: { secret: bytes } });
    bytes.fill(0);
    expect((await control.getHealth({})).reason).toBe("billing");
  });
});
