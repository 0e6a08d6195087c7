// The demo dashboard: reads the host's admin API (read-only key) with
// connect-web, polls the tables and follows events live.
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { adminV1 } from "@cpg/protocol";

const key = document.querySelector<HTMLMetaElement>('meta[name="cpg-viewer-key"]')?.content ?? "";
const transport = createConnectTransport({
  baseUrl: window.location.origin,
  interceptors: [
    (next) => (req) => {
      req.header.set("x-api-key", key);
      return next(req);
    },
  ],
});
const admin = createClient(adminV1.AdminService, transport);

function cell(text: string, cls?: string): HTMLTableCellElement {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function fill(id: string, rows: HTMLTableCellElement[][]): void {
  const body = document.querySelector(`#${id} tbody`);
  if (!body) return;
  body.replaceChildren(
    ...rows.map((cells) => {
      const tr = document.createElement("tr");
      tr.append(...cells);
      return tr;
    }),
  );
}

function prepend(id: string, cells: HTMLTableCellElement[], max = 15): void {
  const body = document.querySelector(`#${id} tbody`);
  if (!body) return;
  const tr = document.createElement("tr");
  tr.append(...cells);
  body.prepend(tr);
  while (body.children.length > max) body.lastElementChild?.remove();
}

const time = (ms: bigint) => new Date(Number(ms)).toLocaleTimeString();

async function refresh(): Promise<void> {
  const [{ plugins }, { services }, { grants }] = await Promise.all([
    admin.listPlugins({}),
    admin.listServices({}),
    admin.listGrants({}),
  ]);
  fill(
    "plugins",
    plugins.map((p) => [
      cell(p.name || "(self-registered)"),
      cell(p.selfId),
      cell(p.runtimeId),
      cell(p.strategy || "network"),
      cell(p.state, p.state),
      cell(p.health, p.health),
      cell(p.services.join(", ")),
      cell(String(p.restarts)),
    ]),
  );
  fill(
    "services",
    services.map((s) => [
      cell(s.serviceType),
      cell(s.version),
      cell(s.providerSelfId),
      cell(s.endpointUrl),
      cell(s.routable ? "yes" : "no", s.routable ? "yes" : "no"),
    ]),
  );
  fill(
    "grants",
    grants.map((g) => [
      cell(g.grantId),
      cell(g.capabilityType),
      cell(g.selfId),
      cell(time(g.expiresUnixMs)),
    ]),
  );
}

async function follow(): Promise<void> {
  for (;;) {
    try {
      for await (const e of admin.watchEvents({ backlog: 30 })) {
        if (e.kind === "route") {
          prepend("routes", [
            cell(time(e.timeUnixMs)),
            cell(e.fields.callerId ?? ""),
            cell(e.fields.serviceType ?? ""),
            cell(e.fields.procedure ?? ""),
            cell(e.fields.code ?? "", e.fields.code === "ok" ? "yes" : "no"),
            cell(Number(e.fields.durationMs ?? 0).toFixed(1)),
          ]);
        } else if (e.kind === "audit") {
          const details = Object.entries(e.fields)
            .map(([k, v]) => `${k}=${v}`)
            .join(" ");
          prepend("audit", [cell(time(e.timeUnixMs)), cell(e.name), cell(details)]);
        }
      }
    } catch {
      // The host restarted or the stream broke: follow again shortly.
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

document.querySelector("#shorten")?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const url = document.querySelector<HTMLInputElement>("#url")?.value ?? "";
  const out = document.querySelector("#shorten-result");
  const res = await fetch("/demo/shorten", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ url }),
  });
  const body = (await res.json()) as { shortUrl?: string; error?: string };
  if (out) out.textContent = body.shortUrl ? `short URL: ${body.shortUrl}` : `error: ${body.error}`;
});

const status = document.querySelector("#status");
async function loop(): Promise<void> {
  try {
    await refresh();
    if (status) status.textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (error) {
    if (status) status.textContent = `cannot reach the host: ${String(error)}`;
  }
  setTimeout(loop, 1000);
}
void loop();
void follow();
