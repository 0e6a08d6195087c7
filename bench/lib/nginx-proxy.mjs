// nginx (the Debian package) as an HTTP/2 gRPC proxy on 127.0.0.1, for the
// router benchmarks: one process (`daemon off; master_process off;`, i.e. a
// single worker), h2c in front, `grpc_pass` to one upstream over a
// keep-alive connection pool, access log off. Everything it writes (config,
// pid, error log, temp paths) goes to a temp dir removed at stop().
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const CLOCK_TICKS =
  Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;

/**
 * Path of the nginx binary, or undefined when none is installed.
 * CPG_BENCH_NGINX overrides it: a path, or "none" to act as if there were none.
 */
export function findNginx() {
  const chosen = process.env.CPG_BENCH_NGINX;
  if (chosen !== undefined && chosen !== "") return chosen === "none" ? undefined : chosen;
  if (existsSync("/usr/sbin/nginx")) return "/usr/sbin/nginx";
  const which = spawnSync("sh", ["-c", "command -v nginx"], { encoding: "utf8" });
  const path = which.stdout.trim();
  return which.status === 0 && path ? path : undefined;
}

/** The nginx version line ("nginx/1.22.1"), or "" */
export function nginxVersion(binary) {
  const run = spawnSync(binary, ["-v"], { encoding: "utf8" });
  return (run.stderr || run.stdout || "").trim().replace(/^nginx version: /, "");
}

/** A free TCP port on 127.0.0.1 (free when asked; nginx binds it right after). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function connects(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/**
 * Starts nginx proxying gRPC on h2c to `127.0.0.1:<upstreamPort>`.
 * @param {{ binary: string, upstreamPort: number }} options
 * `cpu.call()` answers nginx's CPU time like a bench child's "cpu" call (from
 * /proc, in steps of 1/CLK_TCK s).
 * @returns {Promise<{ url: string, pid: number, config: string, cpu: { call: () => Promise<{ user: number, system: number }> }, stop: () => Promise<void> }>}
 */
export async function startNginxGrpcProxy({ binary, upstreamPort }) {
  const dir = mkdtempSync(join(tmpdir(), "cpg-bench-nginx-"));
  const port = await freePort();
  const config = `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  # nginx 1.22 closes an HTTP/2 connection after keepalive_requests (1,000)
  # requests; a client of the router keeps its connection, so keep nginx's.
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  upstream provider {
    server 127.0.0.1:${upstreamPort};
    keepalive 16;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
  }
  server {
    listen 127.0.0.1:${port} http2;
    location / {
      grpc_pass grpc://provider;
    }
  }
}
`;
  const file = join(dir, "nginx.conf");
  writeFileSync(file, config);
  const child = spawn(binary, ["-p", dir, "-c", file, "-e", join(dir, "error.log")], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (chunk) => {
    stderr += chunk;
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  let gone = false;
  child.once("exit", () => {
    gone = true;
  });
  const stop = async () => {
    if (!gone) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 10_000;
  while (!(await connects(port))) {
    if (gone || Date.now() > deadline) {
      const log = existsSync(join(dir, "error.log"))
        ? readFileSync(join(dir, "error.log"), "utf8")
        : "";
      await stop();
      throw new Error(`nginx did not start: ${stderr}${log}`.trim());
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const pid = child.pid;
  // Same shape as a bench child's "cpu" answer (µs), read from /proc.
  const cpu = {
    call: async () => {
      const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
      const tick = 1e6 / CLOCK_TICKS;
      return { user: Number(fields[11]) * tick, system: Number(fields[12]) * tick };
    },
  };
  return { url: `http://127.0.0.1:${port}`, pid, config, cpu, stop };
}
