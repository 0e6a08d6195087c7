import { create } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createClient,
  type StreamRequest,
  type StreamResponse,
  type UnaryRequest,
  type UnaryResponse,
} from "@connectrpc/connect";
import {
  CapabilityBroker,
  HandshakeService,
  PluginIdentity,
  RegisterServiceRequestSchema,
  ServiceRegistry,
  WatchServiceRequestSchema,
} from "@cpg/protocol";
import { describe, expect, it } from "vitest";
import { createTestTransport } from "./test-services.js";
import { createValidationInterceptor } from "./validation-interceptor.js";

async function connectErrorOf(promise: Promise<unknown>): Promise<ConnectError> {
  try {
    await promise;
  } catch (e) {
    return ConnectError.from(e);
  }
  throw new Error("expected the call to fail");
}

describe("createValidationInterceptor", () => {
  const transport = createTestTransport([createValidationInterceptor()]);
  const registry = createClient(ServiceRegistry, transport);

  it("lets valid unary requests through", async () => {
    const res = await registry.registerService({
      serviceType: "kv",
      version: "1.0.0",
      endpointPath: "/kv.v1.KVService/",
      metadata: { base_url: "http://10.0.0.7:8082" },
    });
    expect(res.registrationId).toBe("reg-1");
  });

  it("fails invalid unary requests with invalid_argument naming the field and limit", async () => {
    const error = await connectErrorOf(
      registry.registerService({
        serviceType: "kv",
        version: "1.0.0",
        endpointPath: "/kv/",
        metadata: { ["k".repeat(300)]: "v" },
      }),
    );
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.rawMessage).toBe("metadata key too long: 300 bytes (max: 256)");
  });

  it("lets valid streaming requests through", async () => {
    const events = [];
    for await (const event of registry.watchService({ serviceType: "kv" })) {
      events.push(event.serviceType);
    }
    expect(events).toEqual(["kv"]);
  });

  it("fails invalid streaming requests with invalid_argument", async () => {
    const error = await connectErrorOf(
      (async () => {
        for await (const _ of registry.watchService({ serviceType: "kv..x" })) {
          // drain
        }
      })(),
    );
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.rawMessage).toBe('service type "kv..x" must not contain ".."');
  });

  it("leaves handshake self_id and SetRuntimeIdentity alone", async () => {
    const handshake = createClient(HandshakeService, transport);
    await expect(handshake.handshake({ selfId: "not a valid id" })).resolves.toBeDefined();
    const identity = createClient(PluginIdentity, transport);
    await expect(
      identity.setRuntimeIdentity({ runtimeId: "\u0000", hostUrl: "::" }),
    ).resolves.toMatchObject({ acknowledged: true });
  });

  it("applies its options", async () => {
    const strict = createTestTransport([
      createValidationInterceptor({
        allowedHosts: ["plugins.internal"],
        limits: { maxGrantReasonBytes: 4 },
      }),
    ]);
    const error = await connectErrorOf(
      createClient(ServiceRegistry, strict).registerService({
        serviceType: "kv",
        version: "1.0.0",
        endpointPath: "/",
        metadata: { base_url: "http://10.0.0.7:8082" },
      }),
    );
    expect(error.rawMessage).toBe('base URL host "10.0.0.7" is not in the allowed hosts');
    const broker = createClient(CapabilityBroker, strict);
    expect(
      (
        await connectErrorOf(
          broker.requestCapability({ capabilityType: "logger", reason: "12345" }),
        )
      ).rawMessage,
    ).toBe("grant reason too long: 5 bytes (max: 4)");
  });

  it("throws at construction on invalid options", () => {
    expect(() => createValidationInterceptor({ limits: { maxMetadataEntries: -5 } })).toThrow(
      "validation limit maxMetadataEntries must be a non-negative integer, got -5",
    );
    expect(() => createValidationInterceptor({ allowedHosts: ["10.0.0.0/40"] })).toThrow(
      'allowedHosts entry "10.0.0.0/40" is not a host name, IP address or CIDR block',
    );
  });

  it("never mutates the caller's options", () => {
    const options = { limits: { maxServiceTypeBytes: 10 }, allowedHosts: ["a.internal"] };
    const copy = structuredClone(options);
    createValidationInterceptor(options);
    expect(options).toEqual(copy);
  });

  it("pre-checks requests on the client side too", async () => {
    let reachedServer = false;
    const clientSide = createTestTransport(
      [
        (next) => async (req) => {
          reachedServer = true;
          return await next(req);
        },
      ],
      [createValidationInterceptor()],
    );
    const error = await connectErrorOf(
      createClient(ServiceRegistry, clientSide).discoverService({ serviceType: "" }),
    );
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.rawMessage).toBe("service type must not be empty");
    expect(reachedServer).toBe(false);
  });

  describe("called directly", () => {
    const interceptor = createValidationInterceptor();
    const method = ServiceRegistry.method.watchService;
    const common = {
      service: ServiceRegistry,
      requestMethod: "POST",
      url: "http://in-memory/connectplugin.v1.ServiceRegistry/WatchService",
      signal: new AbortController().signal,
      header: new Headers(),
      contextValues: undefined as never,
    };

    it("validates each message of a stream as it arrives", async () => {
      const seen: string[] = [];
      const next = async (req: UnaryRequest | StreamRequest) => {
        if (!req.stream) throw new Error("expected a stream");
        for await (const m of req.message) {
          seen.push((m as unknown as { serviceType: string }).serviceType);
        }
        return {} as StreamResponse;
      };
      async function* input() {
        yield create(WatchServiceRequestSchema, { serviceType: "a" });
        yield create(WatchServiceRequestSchema, { serviceType: "b" });
        yield create(WatchServiceRequestSchema, { serviceType: "9" });
        yield create(WatchServiceRequestSchema, { serviceType: "never-read" });
      }
      const req = { ...common, stream: true as const, method, message: input() };
      const error = await connectErrorOf(interceptor(next)(req));
      expect(error.code).toBe(Code.InvalidArgument);
      expect(error.rawMessage).toBe(
        'service type "9" must start with a letter and contain only letters, digits, "_", ".", "-"',
      );
      expect(seen).toEqual(["a", "b"]);
    });

    it("does not call next for an invalid unary request", async () => {
      let called = false;
      const next = async () => {
        called = true;
        return {} as UnaryResponse;
      };
      const req = {
        ...common,
        stream: false as const,
        method: ServiceRegistry.method.registerService,
        message: create(RegisterServiceRequestSchema, {}),
      };
      const error = await connectErrorOf(interceptor(next)(req));
      expect(error.code).toBe(Code.InvalidArgument);
      expect(error.cause).toMatchObject({ field: "service_type", code: "empty" });
      expect(called).toBe(false);
    });
  });
});
