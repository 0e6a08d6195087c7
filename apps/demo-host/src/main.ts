#!/usr/bin/env node
// `npm run demo`: starts the demo host with its plugins and prints where to look.
import { startDemo } from "./demo-host.js";

const port = process.env.PORT === undefined ? 8080 : Number(process.env.PORT);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(
    `cpg demo: PORT must be an integer from 0 to 65535, got ${process.env.PORT}\n`,
  );
  process.exit(2);
}

try {
  const demo = await startDemo({ port, operatorKey: process.env.CPG_ADMIN_API_KEY });
  process.stdout.write(
    [
      "",
      "cpg demo is running",
      `  host:       ${demo.url}`,
      `  dashboard:  ${demo.dashboardUrl}`,
      ...demo.notes.map((n) => `  - ${n}`),
      "",
      "Shorten a URL (demo-web -> shortener -> links -> logger, all through the router):",
      `  curl -s -X POST -H 'Content-Type: application/json' -d '{"url":"https://connectrpc.com"}' ${demo.url}/demo/shorten`,
      "Or call the shortener through the router yourself, as the demo-web plugin:",
      `  ${demo.curl}`,
      "Admin API (operator key):",
      `  curl -s -X POST -H 'X-API-Key: ${demo.operatorKey}' -H 'Content-Type: application/json' -d '{}' ${demo.url}/cpg.admin.v1.AdminService/ListPlugins`,
      "",
      "Press Ctrl+C to stop.",
      "",
    ].join("\n"),
  );
  const stop = () => {
    process.stdout.write("stopping the demo...\n");
    demo.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
} catch (error) {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`cpg demo: could not start: ${message}\n`);
  if (/EADDRINUSE/.test(message)) {
    process.stderr.write("Port in use: set PORT to another port, e.g. PORT=8081 npm run demo\n");
  }
  process.exit(1);
}
