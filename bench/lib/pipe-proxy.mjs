// The least a Node.js HTTP/2 proxy can do, as a reference for the router
// benchmarks: every stream is piped to one upstream session, bytes as they
// come, with the response's headers, data and trailers passed on. No
// authentication, no routing table, no metrics, no limits, no error mapping:
// what the cpg router does on top of this is the cost of being a plugin host.
//
// Started by bench/lib/child-process.mjs#startChild with the upstream base
// URL (h2c) as its argument; announces { url }.
import * as http2 from "node:http2";
import { serveParent } from "./child-process.mjs";

const upstream = new URL(process.argv[2]);
const session = http2.connect(upstream);
session.on("error", () => {});
const { NGHTTP2_CANCEL, NGHTTP2_FLAG_END_STREAM } = http2.constants;

/** Headers without the pseudo-headers Node sets itself on a response. */
function withoutPseudo(headers, keepStatus) {
  const out = {};
  for (const name of Object.keys(headers)) {
    if (!name.startsWith(":") || (keepStatus && name === ":status")) out[name] = headers[name];
  }
  return out;
}

/** Pipes one caller stream to a new upstream stream, both ways. */
function pipe(down, headers) {
  const out = withoutPseudo(headers, false);
  out[":method"] = headers[":method"];
  out[":path"] = headers[":path"];
  out[":scheme"] = "http";
  out[":authority"] = upstream.host;
  const up = session.request(out);
  let trailers = {};
  up.on("response", (responseHeaders, flags) => {
    if (down.destroyed) return;
    if (flags & NGHTTP2_FLAG_END_STREAM) {
      down.respond(withoutPseudo(responseHeaders, true), { endStream: true });
      return;
    }
    down.respond(withoutPseudo(responseHeaders, true), { waitForTrailers: true });
    up.on("data", (chunk) => down.write(chunk));
  });
  up.on("trailers", (t) => {
    trailers = t;
  });
  down.on("wantTrailers", () => down.sendTrailers(trailers));
  up.on("end", () => {
    if (down.destroyed || down.writableEnded) return;
    if (down.headersSent) down.end();
    else down.respond({ ":status": 502 }, { endStream: true });
  });
  up.on("error", () => down.destroy());
  down.on("data", (chunk) => up.write(chunk));
  down.on("end", () => up.end());
  down.on("close", () => {
    if (!up.closed) up.close(NGHTTP2_CANCEL);
  });
  down.on("error", () => {});
}

const server = http2.createServer();
server.on("stream", pipe);
server.listen(0, "127.0.0.1", () => {
  serveParent(
    { url: `http://127.0.0.1:${server.address().port}` },
    {
      stop: async () => {
        session.close();
        await new Promise((resolve) => server.close(resolve));
      },
    },
  );
});
