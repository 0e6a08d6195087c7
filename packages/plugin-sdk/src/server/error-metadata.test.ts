import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { PluginControl } from "@cpg/protocol";
import { describe, expect, it } from "vitest";
import { sanitizeErrorMetadata } from "./error-metadata.js";

describe("sanitizeErrorMetadata", () => {
  it("drops connection-specific headers from a rethrown error, keeping the rest", async () => {
    const transport = createRouterTransport(
      (router) =>
        router.service(PluginControl, {
          getHealth() {
            // As if rethrowing the error of an HTTP/1.1 call.
            throw new ConnectError(
              "downstream failed",
              Code.Unavailable,
              new Headers({
                "keep-alive": "timeout=5",
                connection: "keep-alive",
                "x-request-id": "r1",
              }),
            );
          },
        }),
      { router: { interceptors: [sanitizeErrorMetadata] } },
    );
    const error = await createClient(PluginControl, transport)
      .getHealth({})
      .then(
        () => ConnectError.from("the call should fail"),
        (e: unknown) => ConnectError.from(e),
      );
    expect(error.code).toBe(Code.Unavailable);
    expect(error.metadata.get("keep-alive")).toBeNull();
    expect(error.metadata.get("connection")).toBeNull();
    expect(error.metadata.get("x-request-id")).toBe("r1");
  });
});
