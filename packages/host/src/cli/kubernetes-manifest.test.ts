import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { silentLogger } from "@cpg/plugin-sdk";
import { afterAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { resolveHostConfig } from "../config/host-config.js";
import { createHost } from "../host.js";
import { parseCliArgs } from "./parse-cli-args.js";

// Checks docs/examples/kubernetes/cpg-host.yaml (linked from docs/scaling.md): that the objects refer to
// each other correctly and that cpg-host accepts its arguments and configuration.

const manifestPath = fileURLToPath(
  new URL("../../../../docs/examples/kubernetes/cpg-host.yaml", import.meta.url),
);

type Labels = Record<string, string>;
interface Probe {
  httpGet?: { path?: string; port?: number | string; scheme?: string };
}
interface Container {
  name: string;
  image?: string;
  command?: unknown[];
  args?: unknown[];
  env?: Array<{ name: string; value?: string; valueFrom?: { secretKeyRef?: SecretKeyRef } }>;
  ports?: Array<{ name?: string; containerPort: number }>;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  volumeMounts?: Array<{ name: string; mountPath: string }>;
}
interface SecretKeyRef {
  name: string;
  key: string;
}
interface Resource {
  apiVersion?: unknown;
  kind?: unknown;
  metadata?: { name?: unknown };
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  spec?: unknown;
}
interface Volume {
  name: string;
  configMap?: { name: string };
  secret?: { secretName: string };
}
interface DeploymentSpec {
  replicas: number;
  selector: { matchLabels: Labels };
  template: { metadata: { labels: Labels }; spec: { containers: Container[]; volumes?: Volume[] } };
}
interface ServiceSpec {
  selector: Labels;
  ports: Array<{ port: number; targetPort?: number | string }>;
}
interface PodDisruptionBudgetSpec {
  minAvailable: number;
  selector: { matchLabels: Labels };
}
interface NetworkPolicySpec {
  podSelector: { matchLabels: Labels };
  ingress: Array<{
    from: Array<{ podSelector?: { matchLabels: Labels } }>;
    ports: Array<{ port: number | string }>;
  }>;
}
const deploymentSpec = (r: Resource) => r.spec as DeploymentSpec;
const serviceSpec = (r: Resource) => r.spec as ServiceSpec;

// Kubernetes reads manifests as YAML 1.1, where unquoted yes/no/on/off are booleans: parse the same way.
const parsed = parseAllDocuments(readFileSync(manifestPath, "utf8"), { version: "1.1" });
const documents = Array.isArray(parsed) ? parsed : [];
const resources = documents.map((doc) => doc.toJS() as Resource);

const all = (kind: string) => resources.filter((r) => r.kind === kind);
const named = (kind: string, name: string): Resource => {
  const found = resources.find((r) => r.kind === kind && r.metadata?.name === name);
  if (!found) throw new Error(`the manifest has no ${kind} named ${JSON.stringify(name)}`);
  return found;
};
const matches = (selector: Labels, labels: Labels | undefined) =>
  Object.keys(selector).length > 0 &&
  Object.entries(selector).every(([key, value]) => labels?.[key] === value);
const podLabels = (deployment: Resource): Labels =>
  deploymentSpec(deployment).template.metadata.labels;
const containers = (deployment: Resource): Container[] =>
  deploymentSpec(deployment).template.spec.containers;
const containerPort = (deployment: Resource, port: number | string) =>
  containers(deployment)
    .flatMap((c) => c.ports ?? [])
    .find((p) => (typeof port === "number" ? p.containerPort === port : p.name === port));
const secretValue = ({ name, key }: SecretKeyRef): string | undefined => {
  const secret = resources.find((r) => r.kind === "Secret" && r.metadata?.name === name);
  if (secret?.stringData?.[key] !== undefined) return secret.stringData[key];
  const data = secret?.data?.[key];
  return data === undefined ? undefined : Buffer.from(data, "base64").toString("utf8");
};
/** `$(VAR)` replaced from the container's env, as Kubernetes does. */
const expand = (container: Container, value: string): string =>
  value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (text, name: string) => {
    const env = container.env?.find((e) => e.name === name);
    const ref = env?.valueFrom?.secretKeyRef;
    if (env?.value !== undefined) return expand(container, env.value);
    return ref ? (secretValue(ref) ?? text) : text;
  });
/** The container's arguments as the process gets them. */
const expandedArgs = (container: Container): string[] =>
  (container.args ?? []).map((arg) => expand(container, String(arg)));
/** An environment variable of the container as the process gets it. */
const envValue = (container: Container, name: string): string | undefined => {
  const env = container.env?.find((e) => e.name === name);
  if (env?.value !== undefined) return expand(container, env.value);
  const ref = env?.valueFrom?.secretKeyRef;
  return ref ? secretValue(ref) : undefined;
};
const flag = (args: readonly string[], name: string) => {
  const at = args.indexOf(name);
  return at === -1 ? undefined : args[at + 1];
};

const host = () => named("Deployment", "cpg-host");
const hostContainer = () => {
  const container = containers(host()).find((c) => c.name === "cpg-host");
  if (!container) throw new Error("Deployment cpg-host has no container named cpg-host");
  return container;
};

describe("docs/examples/kubernetes/cpg-host.yaml", () => {
  it("parses as YAML 1.1 (as Kubernetes reads it) without errors or warnings", () => {
    expect(documents.length, "the manifest holds no YAML documents").toBeGreaterThan(0);
    for (const [i, doc] of documents.entries()) {
      const problems = [...doc.errors, ...doc.warnings].map((e) => e.message);
      expect(problems, `document ${i + 1} does not parse cleanly`).toEqual([]);
    }
  });

  it("gives every document an apiVersion, a kind and a metadata.name, each kind/name once", () => {
    const seen = new Set<string>();
    for (const [i, r] of resources.entries()) {
      const what = `document ${i + 1} (${JSON.stringify(r?.kind)})`;
      expect(typeof r?.apiVersion, `${what} has no apiVersion`).toBe("string");
      expect(typeof r?.kind, `${what} has no kind`).toBe("string");
      expect(typeof r?.metadata?.name, `${what} has no metadata.name`).toBe("string");
      const id = `${r.kind}/${r.metadata?.name}`;
      expect(seen.has(id), `${id} is defined twice`).toBe(false);
      seen.add(id);
    }
  });

  it("holds exactly the expected kinds, with their API versions", () => {
    const apiVersions: Record<string, string> = {
      Secret: "v1",
      ConfigMap: "v1",
      PersistentVolumeClaim: "v1",
      Service: "v1",
      Deployment: "apps/v1",
      NetworkPolicy: "networking.k8s.io/v1",
      PodDisruptionBudget: "policy/v1",
    };
    expect(resources.map((r) => `${r.kind} ${r.metadata?.name}`).sort()).toEqual([
      "ConfigMap cpg-host-config",
      "Deployment cpg-host",
      "Deployment redis",
      "NetworkPolicy redis",
      "PersistentVolumeClaim redis-data",
      "PodDisruptionBudget cpg-host",
      "Secret cpg-host-secrets",
      "Secret cpg-host-tls",
      "Service cpg-host",
      "Service redis",
    ]);
    for (const r of resources) {
      const id = `${r.kind}/${r.metadata?.name}`;
      expect(r.apiVersion, `${id} has the wrong apiVersion`).toBe(apiVersions[String(r.kind)]);
    }
  });

  it("runs cpg-host replicated, and every Deployment's selector matches its pod labels", () => {
    expect(
      deploymentSpec(host()).replicas,
      "Deployment cpg-host needs replicas >= 2",
    ).toBeGreaterThanOrEqual(2);
    for (const deployment of all("Deployment")) {
      const name = deployment.metadata?.name;
      expect(
        matches(deploymentSpec(deployment).selector.matchLabels, podLabels(deployment)),
        `Deployment ${name}: selector.matchLabels ${JSON.stringify(deploymentSpec(deployment).selector.matchLabels)} does not match the template labels ${JSON.stringify(podLabels(deployment))}`,
      ).toBe(true);
    }
  });

  it("points every Service at one Deployment's pods and at a port its containers listen on", () => {
    for (const service of all("Service")) {
      const name = service.metadata?.name;
      const targets = all("Deployment").filter((d) =>
        matches(serviceSpec(service).selector, podLabels(d)),
      );
      expect(
        targets.map((d) => d.metadata?.name),
        `Service ${name}: selector ${JSON.stringify(serviceSpec(service).selector)} must select the pods of exactly one Deployment`,
      ).toHaveLength(1);
      for (const port of serviceSpec(service).ports) {
        const target = port.targetPort ?? port.port;
        expect(
          containerPort(targets[0]!, target),
          `Service ${name}: targetPort ${JSON.stringify(target)} is not a containerPort (number or name) of Deployment ${targets[0]!.metadata?.name}`,
        ).toBeDefined();
      }
    }
  });

  it("points CPG_STORE_URL at the redis Service and its port, with the password from the Secret", () => {
    const container = hostContainer();
    expect(
      flag(expandedArgs(container), "--store"),
      "the store URL carries a password: keep it in CPG_STORE_URL, not in the arguments",
    ).toBeUndefined();
    const store = envValue(container, "CPG_STORE_URL");
    expect(store, "the cpg-host container has no CPG_STORE_URL").toBeDefined();
    const url = new URL(store!);
    expect(
      ["redis:", "rediss:"],
      `CPG_STORE_URL ${store} is not a redis:// or rediss:// URL`,
    ).toContain(url.protocol);
    const service = named("Service", url.hostname.split(".")[0]!);
    const ports = serviceSpec(service).ports.map((p) => p.port);
    expect(ports, `CPG_STORE_URL port is not a port of Service ${url.hostname}`).toContain(
      Number(url.port || 6379),
    );
    expect(
      decodeURIComponent(url.password),
      "CPG_STORE_URL must carry the password that Redis requires",
    ).toBe(secretValue({ name: "cpg-host-secrets", key: "redis-password" }));
  });

  it("probes /readyz and /healthz on the port cpg-host listens on, in its scheme", () => {
    const container = hostContainer();
    const args = expandedArgs(container);
    const port = Number(flag(args, "--port"));
    const scheme = flag(args, "--tls-cert") === undefined ? "HTTP" : "HTTPS";
    for (const [probe, path] of [
      ["readinessProbe", "/readyz"],
      ["livenessProbe", "/healthz"],
    ] as const) {
      const get = container[probe]?.httpGet;
      expect(get?.path, `${probe} must GET ${path}`).toBe(path);
      expect(
        containerPort(host(), get?.port ?? "")?.containerPort,
        `${probe} port ${JSON.stringify(get?.port)} is not the container port ${port} (--port)`,
      ).toBe(port);
      expect(get?.scheme ?? "HTTP", `${probe} must use ${scheme}, as cpg-host serves it`).toBe(
        scheme,
      );
    }
  });

  it("takes every secretKeyRef from an existing Secret key and every $(VAR) from the env", () => {
    for (const deployment of all("Deployment")) {
      for (const container of containers(deployment)) {
        const where = `Deployment ${deployment.metadata?.name}, container ${container.name}`;
        for (const env of container.env ?? []) {
          const ref = env.valueFrom?.secretKeyRef;
          if (!ref) continue;
          expect(
            secretValue(ref),
            `${where}: env ${env.name} refers to key ${JSON.stringify(ref.key)} of Secret ${JSON.stringify(ref.name)}, which does not exist`,
          ).toBeDefined();
        }
        for (const [i, arg] of [
          ...(container.command ?? []),
          ...(container.args ?? []),
        ].entries()) {
          expect(typeof arg, `${where}: command/args item ${i} must be a string (quote it)`).toBe(
            "string",
          );
        }
        for (const arg of expandedArgs(container)) {
          expect(arg, `${where}: ${arg} names a variable that is not in env`).not.toMatch(/\$\(/);
        }
      }
    }
    expect(
      hostContainer().env?.find((e) => e.name === "CPG_ADMIN_API_KEY")?.valueFrom?.secretKeyRef,
      "cpg-host must read CPG_ADMIN_API_KEY from a Secret",
    ).toBeDefined();
  });

  it("keeps only placeholders in its Secrets", () => {
    for (const secret of all("Secret")) {
      for (const [key, value] of Object.entries({ ...secret.data, ...secret.stringData })) {
        expect(
          value,
          `Secret ${secret.metadata?.name}: ${key} must be a REPLACE_ME placeholder`,
        ).toMatch(/REPLACE_ME/);
      }
    }
  });

  it("keeps Redis durable and lets only cpg-host pods reach it", () => {
    const redis = named("Deployment", "redis");
    const container = containers(redis)[0]!;
    const args = expandedArgs(container);
    expect(container.image, "Redis must run redis:7").toMatch(/^redis:7/);
    expect(flag(args, "--appendonly"), "Redis must run with --appendonly yes").toBe("yes");
    expect(deploymentSpec(redis).replicas, "Redis runs as a single replica").toBe(1);
    const policy = named("NetworkPolicy", "redis").spec as NetworkPolicySpec;
    expect(
      matches(policy.podSelector.matchLabels, podLabels(redis)),
      "NetworkPolicy redis must select the Redis pods",
    ).toBe(true);
    for (const rule of policy.ingress) {
      for (const peer of rule.from) {
        expect(
          peer.podSelector && matches(peer.podSelector.matchLabels, podLabels(host())),
          "NetworkPolicy redis may admit cpg-host pods only",
        ).toBe(true);
      }
      for (const { port } of rule.ports) {
        expect(
          containerPort(redis, port),
          `NetworkPolicy redis: ${port} is not a Redis port`,
        ).toBeDefined();
      }
    }
  });

  it("keeps two replicas through voluntary disruptions and still lets one go", () => {
    const pdb = named("PodDisruptionBudget", "cpg-host").spec as PodDisruptionBudgetSpec;
    expect(
      matches(pdb.selector.matchLabels, podLabels(host())),
      "the PodDisruptionBudget must select the cpg-host pods",
    ).toBe(true);
    expect(pdb.minAvailable, "minAvailable").toBe(2);
    expect(
      pdb.minAvailable,
      "minAvailable must stay below replicas, or no node can drain",
    ).toBeLessThan(deploymentSpec(host()).replicas);
  });

  describe("cpg-host's command line", () => {
    const root = mkdtempSync(join(tmpdir(), "cpg-k8s-"));
    afterAll(() => rmSync(root, { recursive: true, force: true }));

    /** Writes the container's mounted ConfigMaps and Secrets under `root`; returns the paths. */
    const mountFiles = (deployment: Resource, container: Container): Map<string, string> => {
      const files = new Map<string, string>();
      for (const mount of container.volumeMounts ?? []) {
        const volume = (deploymentSpec(deployment).template.spec.volumes ?? []).find(
          (v) => v.name === mount.name,
        );
        const source = volume?.configMap
          ? named("ConfigMap", volume.configMap.name)
          : volume?.secret
            ? named("Secret", volume.secret.secretName)
            : undefined;
        for (const key of Object.keys({ ...source?.data, ...source?.stringData })) {
          const inPod = `${mount.mountPath}/${key}`;
          const onDisk = join(root, inPod);
          mkdirSync(dirname(onDisk), { recursive: true });
          const value = volume?.configMap
            ? source!.data![key]!
            : secretValue({ name: source!.metadata!.name as string, key })!;
          writeFileSync(onDisk, value);
          files.set(inPod, onDisk);
        }
      }
      return files;
    };

    it("is accepted by parseCliArgs, resolveHostConfig and createHost", async () => {
      const container = hostContainer();
      expect(container.command, "the container must run cpg-host").toEqual(["cpg-host"]);
      const rest = expandedArgs(container);
      const files = mountFiles(host(), container);
      for (const name of ["--config", "--tls-cert", "--tls-key", "--tls-ca"]) {
        const path = flag(rest, name);
        if (path === undefined) continue;
        expect(
          files.has(path),
          `${name} ${path} is not a key of a mounted ConfigMap or Secret`,
        ).toBe(true);
        rest[rest.indexOf(path)] = files.get(path)!;
      }

      const command = parseCliArgs(rest, {
        CPG_STORE_URL: envValue(container, "CPG_STORE_URL"),
      });
      expect(command.kind, "cpg-host would print help or its version instead of running").toBe(
        "run",
      );
      if (command.kind !== "run") return;
      expect(command.config).toMatchObject({
        host: "0.0.0.0",
        port: 8080,
        publicUrl: "https://cpg-host:8080",
        store: envValue(container, "CPG_STORE_URL"),
      });
      const publicUrl = new URL(command.config.publicUrl!);
      const service = named("Service", publicUrl.hostname);
      expect(
        serviceSpec(service).ports.map((p) => p.port),
        `--public-url ${publicUrl} must use a port of Service ${publicUrl.hostname}`,
      ).toContain(Number(publicUrl.port));

      const resolved = resolveHostConfig(command.config);
      expect(resolved.options.profile).toBe("production");
      expect(resolved.options.tls, "production needs TLS (or --allow-insecure)").toBeDefined();
      // createHost validates the store URL; it connects only on listen(), which this test leaves out.
      const cpg = createHost({ ...resolved.options, logger: silentLogger });
      await cpg.close();
    });
  });
});
