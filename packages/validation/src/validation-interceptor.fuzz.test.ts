// Fuzzing: random bytes decoded as each request schema, and random messages
// built from the descriptors, through validateMessage, the interceptor called
// directly, and a client/server pair over the in-memory router transport.
// The only acceptable outcomes are success and invalid_argument.
import {
  create,
  type DescField,
  type DescMessage,
  fromBinary,
  ScalarType,
  toBinary,
} from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type UnaryResponse } from "@connectrpc/connect";
import {
  CapabilityBroker,
  DiscoverServiceRequestSchema,
  HandshakeRequestSchema,
  HandshakeService,
  PluginIdentity,
  PluginLifecycle,
  RegisterServiceRequestSchema,
  ReportHealthRequestSchema,
  RequestCapabilityRequestSchema,
  ServiceRegistry,
  SetRuntimeIdentityRequestSchema,
  UnregisterServiceRequestSchema,
  WatchServiceRequestSchema,
} from "@cpg/protocol";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { identifier, LOOKALIKES, RUNS, version } from "./test-arbitraries.js";
import { createTestTransport } from "./test-services.js";
import { validateMessage } from "./validate-message.js";
import { isValidationError } from "./validation-error.js";
import { createValidationInterceptor } from "./validation-interceptor.js";

const SCHEMAS: DescMessage[] = [
  HandshakeRequestSchema,
  RegisterServiceRequestSchema,
  UnregisterServiceRequestSchema,
  DiscoverServiceRequestSchema,
  WatchServiceRequestSchema,
  ReportHealthRequestSchema,
  RequestCapabilityRequestSchema,
  SetRuntimeIdentityRequestSchema,
];

/** Strings that are valid, nearly valid, or hostile. */
const fuzzString: fc.Arbitrary<string> = fc.oneof(
  identifier(40),
  version,
  fc.constantFrom("", "..", "/", "base_url", "http://10.0.0.7:8082", "\u0000", "v1.0.0"),
  fc.constantFrom(...LOOKALIKES),
  fc.string({ unit: "binary", maxLength: 64 }),
  fc.string({ unit: "grapheme", maxLength: 300 }),
  fc.integer({ min: 100, max: 5000 }).map((n) => "x".repeat(n)),
);

function scalarArbitrary(type: ScalarType): fc.Arbitrary<unknown> {
  switch (type) {
    case ScalarType.STRING:
      return fuzzString;
    case ScalarType.BOOL:
      return fc.boolean();
    case ScalarType.BYTES:
      return fc.uint8Array({ maxLength: 32 });
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return fc.integer({ min: 0, max: 2 ** 32 - 1 });
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return fc.double();
    default:
      return fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
  }
}

function fieldArbitrary(field: DescField): fc.Arbitrary<unknown> | undefined {
  switch (field.fieldKind) {
    case "scalar":
      return scalarArbitrary(field.scalar);
    case "enum":
      return fc.oneof(
        fc.constantFrom(...field.enum.values.map((v) => v.number)),
        fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
      );
    case "list":
      if (field.listKind === "message") return undefined;
      return fc.array(field.listKind === "enum" ? fc.integer() : scalarArbitrary(field.scalar), {
        maxLength: 150,
      });
    case "map":
      if (field.mapKind !== "scalar" || field.mapKey !== ScalarType.STRING) return undefined;
      return fc.dictionary(fuzzString, scalarArbitrary(field.scalar), { maxKeys: 120 });
    default:
      return undefined;
  }
}

/** A random message of `schema`, every field drawn from its descriptor. */
function messageArbitrary(schema: DescMessage) {
  const fields: Record<string, fc.Arbitrary<unknown>> = {};
  for (const field of schema.fields) {
    const arbitrary = fieldArbitrary(field);
    if (arbitrary !== undefined) fields[field.localName] = arbitrary;
  }
  return fc.record(fields, { requiredKeys: [] }).map((init) => create(schema, init as never));
}

const anyMessage = fc.oneof(...SCHEMAS.map(messageArbitrary));

/** Bytes that often decode: an encoded random message with random edits. */
const mutatedBytes = fc
  .tuple(
    anyMessage,
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean()), {
      maxLength: 8,
    }),
  )
  .map(([message, edits]) => {
    const bytes = [...toBinary(SCHEMAS.find((s) => s.typeName === message.$typeName)!, message)];
    for (const [at, value, insert] of edits) {
      const i = bytes.length === 0 ? 0 : at % bytes.length;
      if (insert) bytes.splice(i, 0, value);
      else bytes[i] = value;
    }
    return new Uint8Array(bytes);
  });

const randomBytes = fc.oneof(fc.uint8Array({ maxLength: 512 }), mutatedBytes);

function decodeAll(bytes: Uint8Array) {
  const messages = [];
  for (const schema of SCHEMAS) {
    try {
      messages.push(fromBinary(schema, bytes));
      outcomes.decoded++;
    } catch {
      // Not a valid encoding of this schema: nothing to validate.
    }
  }
  return messages;
}

function expectOnlyValidationErrors(message: { $typeName: string }) {
  try {
    validateMessage(message);
  } catch (e) {
    expect(isValidationError(e), String(e)).toBe(true);
  }
}

const interceptor = createValidationInterceptor();
const passThrough = interceptor(async () => ({}) as UnaryResponse);

/** Outcomes seen, to show that the fuzzing reaches both paths. */
const outcomes = { success: 0, invalidArgument: 0, decoded: 0 };

async function expectInvalidArgumentOrSuccess(call: Promise<unknown>) {
  try {
    await call;
    outcomes.success++;
  } catch (e) {
    expect(e).toBeInstanceOf(ConnectError);
    expect((e as ConnectError).code, String(e)).toBe(Code.InvalidArgument);
    outcomes.invalidArgument++;
  }
}

function callDirectly(message: { $typeName: string }) {
  return passThrough({
    stream: false,
    message,
    method: undefined as never,
    service: undefined as never,
    requestMethod: "POST",
    url: "http://in-memory/",
    signal: new AbortController().signal,
    header: new Headers(),
    contextValues: undefined as never,
  } as never);
}

const transport = createTestTransport([createValidationInterceptor()]);
const clients = {
  handshake: createClient(HandshakeService, transport),
  registry: createClient(ServiceRegistry, transport),
  lifecycle: createClient(PluginLifecycle, transport),
  broker: createClient(CapabilityBroker, transport),
  identity: createClient(PluginIdentity, transport),
};
const options = { timeoutMs: 5000 };

/** Calls the RPC that takes `message`, over the router transport. */
async function callOverTransport(message: { $typeName: string }): Promise<unknown> {
  const m = message as never;
  switch (message.$typeName) {
    case "connectplugin.v1.HandshakeRequest":
      return await clients.handshake.handshake(m, options);
    case "connectplugin.v1.RegisterServiceRequest":
      return await clients.registry.registerService(m, options);
    case "connectplugin.v1.UnregisterServiceRequest":
      return await clients.registry.unregisterService(m, options);
    case "connectplugin.v1.DiscoverServiceRequest":
      return await clients.registry.discoverService(m, options);
    case "connectplugin.v1.WatchServiceRequest": {
      const events = [];
      for await (const event of clients.registry.watchService(m, options)) events.push(event);
      return events;
    }
    case "connectplugin.v1.ReportHealthRequest":
      return await clients.lifecycle.reportHealth(m, options);
    case "connectplugin.v1.RequestCapabilityRequest":
      return await clients.broker.requestCapability(m, options);
    case "connectplugin.v1.SetRuntimeIdentityRequest":
      return await clients.identity.setRuntimeIdentity(m, options);
    default:
      throw new Error(`no RPC for ${message.$typeName}`);
  }
}

describe("fuzzing", () => {
  afterAll(() => {
    // Both outcomes and many decodings happened: the fuzzing was not vacuous.
    expect(outcomes.success).toBeGreaterThan(100);
    expect(outcomes.invalidArgument).toBeGreaterThan(100);
    expect(outcomes.decoded).toBeGreaterThan(1000);
  });

  it("validateMessage only ever throws ValidationError on decoded random bytes", () => {
    fc.assert(
      fc.property(randomBytes, (bytes) => {
        for (const message of decodeAll(bytes)) expectOnlyValidationErrors(message);
      }),
      RUNS,
    );
  });

  it("the interceptor only fails with invalid_argument on decoded random bytes", async () => {
    await fc.assert(
      fc.asyncProperty(randomBytes, async (bytes) => {
        for (const message of decodeAll(bytes)) {
          await expectInvalidArgumentOrSuccess(callDirectly(message));
        }
      }),
      RUNS,
    );
  });

  it("random messages over the router transport succeed or fail with invalid_argument", async () => {
    await fc.assert(
      fc.asyncProperty(anyMessage, async (message) => {
        expectOnlyValidationErrors(message);
        await expectInvalidArgumentOrSuccess(callOverTransport(message));
      }),
      RUNS,
    );
  });

  it("decoded random bytes over the router transport succeed or fail with invalid_argument", async () => {
    await fc.assert(
      fc.asyncProperty(mutatedBytes, async (bytes) => {
        for (const message of decodeAll(bytes)) {
          await expectInvalidArgumentOrSuccess(callOverTransport(message));
        }
      }),
      RUNS,
    );
  });

  it("the interceptor and validateMessage agree", async () => {
    await fc.assert(
      fc.asyncProperty(anyMessage, async (message) => {
        let expected: string | undefined;
        try {
          validateMessage(message);
        } catch (e) {
          expected = (e as Error).message;
        }
        let actual: string | undefined;
        try {
          await callDirectly(message);
        } catch (e) {
          actual = (e as ConnectError).rawMessage;
        }
        expect(actual).toBe(expected);
      }),
      RUNS,
    );
  });
});
