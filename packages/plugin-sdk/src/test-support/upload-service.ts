// A client- and a bidi-streaming service for the SDK's tests, built from a
// descriptor at run time (KVService and @cpg/protocol have no such methods):
//
//   syntax = "proto3";
//   package test.v1;
//   message Chunk { string data = 1; }
//   service UploadService {
//     rpc Upload(stream Chunk) returns (Chunk);
//     rpc Chat(stream Chunk) returns (stream Chunk);
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

const uploadFile = create(FileDescriptorProtoSchema, {
  name: "test/v1/upload.proto",
  package: "test.v1",
  syntax: "proto3",
  messageType: [
    {
      name: "Chunk",
      field: [
        {
          name: "data",
          number: 1,
          label: FieldDescriptorProto_Label.OPTIONAL,
          type: FieldDescriptorProto_Type.STRING,
          jsonName: "data",
        },
      ],
    },
  ],
  service: [
    {
      name: "UploadService",
      method: [
        {
          name: "Upload",
          inputType: ".test.v1.Chunk",
          outputType: ".test.v1.Chunk",
          clientStreaming: true,
        },
        {
          name: "Chat",
          inputType: ".test.v1.Chunk",
          outputType: ".test.v1.Chunk",
          clientStreaming: true,
          serverStreaming: true,
        },
      ],
    },
  ],
});
const uploadRegistry = createFileRegistry(uploadFile, () => undefined);
export type Chunk = Message<"test.v1.Chunk"> & { data: string };
export const ChunkSchema = uploadRegistry.getMessage(
  "test.v1.Chunk",
) as unknown as GenMessage<Chunk>;
export const UploadService = uploadRegistry.getService(
  "test.v1.UploadService",
) as unknown as GenService<{
  upload: { methodKind: "client_streaming"; input: typeof ChunkSchema; output: typeof ChunkSchema };
  chat: { methodKind: "bidi_streaming"; input: typeof ChunkSchema; output: typeof ChunkSchema };
}>;
