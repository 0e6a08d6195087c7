// A small key-value service for the SDK's tests and README examples, built
// from a descriptor at run time so the tests need no code generation. The
// exports have the same shapes protoc-gen-es would generate for:
//
//   syntax = "proto3";
//   package kv.v1;
//   message GetRequest { string key = 1; }
//   message GetResponse { string value = 1; bool found = 2; }
//   message PutRequest { string key = 1; string value = 2; }
//   message PutResponse {}
//   message WatchRequest { string key = 1; }
//   message WatchResponse { string value = 1; }
//   service KVService {
//     rpc Get(GetRequest) returns (GetResponse);
//     rpc Put(PutRequest) returns (PutResponse);
//     rpc Watch(WatchRequest) returns (stream WatchResponse);
//   }
//
// Not part of the package: tsup builds only src/index.ts and src/internal.ts.
import { create, createFileRegistry, type Message } from "@bufbuild/protobuf";
import type { GenMessage, GenService } from "@bufbuild/protobuf/codegenv2";
import {
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  FileDescriptorProtoSchema,
} from "@bufbuild/protobuf/wkt";

export type GetRequest = Message<"kv.v1.GetRequest"> & { key: string };
export type GetResponse = Message<"kv.v1.GetResponse"> & { value: string; found: boolean };
export type PutRequest = Message<"kv.v1.PutRequest"> & { key: string; value: string };
export type PutResponse = Message<"kv.v1.PutResponse">;
export type WatchRequest = Message<"kv.v1.WatchRequest"> & { key: string };
export type WatchResponse = Message<"kv.v1.WatchResponse"> & { value: string };

const string = (name: string, number: number) => ({
  name,
  number,
  label: FieldDescriptorProto_Label.OPTIONAL,
  type: FieldDescriptorProto_Type.STRING,
  jsonName: name,
});

const file = create(FileDescriptorProtoSchema, {
  name: "kv/v1/kv.proto",
  package: "kv.v1",
  syntax: "proto3",
  messageType: [
    { name: "GetRequest", field: [string("key", 1)] },
    {
      name: "GetResponse",
      field: [
        string("value", 1),
        {
          name: "found",
          number: 2,
          label: FieldDescriptorProto_Label.OPTIONAL,
          type: FieldDescriptorProto_Type.BOOL,
          jsonName: "found",
        },
      ],
    },
    { name: "PutRequest", field: [string("key", 1), string("value", 2)] },
    { name: "PutResponse" },
    { name: "WatchRequest", field: [string("key", 1)] },
    { name: "WatchResponse", field: [string("value", 1)] },
  ],
  service: [
    {
      name: "KVService",
      method: [
        { name: "Get", inputType: ".kv.v1.GetRequest", outputType: ".kv.v1.GetResponse" },
        { name: "Put", inputType: ".kv.v1.PutRequest", outputType: ".kv.v1.PutResponse" },
        {
          name: "Watch",
          inputType: ".kv.v1.WatchRequest",
          outputType: ".kv.v1.WatchResponse",
          serverStreaming: true,
        },
      ],
    },
  ],
});

const registry = createFileRegistry(file, () => undefined);

function message<T extends Message>(typeName: string): GenMessage<T> {
  const desc = registry.getMessage(typeName);
  if (!desc) throw new Error(`test descriptor lacks ${typeName}`);
  return desc as unknown as GenMessage<T>;
}

export const GetRequestSchema = message<GetRequest>("kv.v1.GetRequest");
export const GetResponseSchema = message<GetResponse>("kv.v1.GetResponse");
export const PutRequestSchema = message<PutRequest>("kv.v1.PutRequest");
export const PutResponseSchema = message<PutResponse>("kv.v1.PutResponse");
export const WatchRequestSchema = message<WatchRequest>("kv.v1.WatchRequest");
export const WatchResponseSchema = message<WatchResponse>("kv.v1.WatchResponse");

/** `kv.v1.KVService`, typed as protoc-gen-es would type it. */
export const KVService = registry.getService("kv.v1.KVService") as unknown as GenService<{
  get: { methodKind: "unary"; input: typeof GetRequestSchema; output: typeof GetResponseSchema };
  put: { methodKind: "unary"; input: typeof PutRequestSchema; output: typeof PutResponseSchema };
  watch: {
    methodKind: "server_streaming";
    input: typeof WatchRequestSchema;
    output: typeof WatchResponseSchema;
  };
}>;
