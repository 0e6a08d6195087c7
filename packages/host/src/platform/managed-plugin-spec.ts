import type { Plugin, PluginOptions } from "@cpg/plugin-sdk";

/**
 * A service a managed plugin provides, for dependency ordering.
 */
export interface ProvidedServiceSpec {
  readonly type: string;
  readonly version: string;
}

/**
 * A service a managed plugin needs, for dependency ordering.
 */
export interface RequiredServiceSpec {
  readonly type: string;
  /** Lowest acceptable version (semver). Default: any. */
  readonly minVersion?: string;
  /** The plugin cannot start without it. Default: `true`. */
  readonly requiredForStartup?: boolean;
}

/**
 * How a managed plugin runs.
 *
 * - `process`: a child process the host starts from an absolute binary path
 *   (e.g. `/usr/bin/node` with the script in `args`), with `PORT` set. A
 *   plugin that only reads `PORT` (a Go plugin) needs `portHandoff: "env"`.
 * - `in-memory`: an `@cpg/plugin-sdk` plugin in the host process, reached
 *   without sockets.
 * - `remote`: an already running plugin at `url` (managed model).
 */
export type LaunchStrategy =
  | {
      readonly kind: "process";
      /** Absolute path of the executable. */
      readonly command: string;
      /** Arguments. Default: none. */
      readonly args?: readonly string[];
      /** Extra environment variables. Default: none. */
      readonly env?: Readonly<Record<string, string>>;
      /** Working directory. Default: the host's. */
      readonly cwd?: string;
      /**
       * Port to give the plugin; 0 picks a free one. With `portHandoff`
       * `"announce"`, a fixed port is checked against the port the plugin
       * announces. Default: 0.
       */
      readonly port?: number;
      /**
       * How the host learns the plugin's port.
       *
       * - `"announce"`: the host sets `CPG_PORT_ANNOUNCE` (`stdout`, or
       *   `stdout-fixed` with a fixed `port`); the plugin listens on a port of
       *   its own choosing (or the fixed one) on 127.0.0.1 and writes
       *   `CPG_PLUGIN_LISTENING 127.0.0.1:<port>` on stdout. The host reads
       *   only the first such line of the child's own stdout pipe and never
       *   connects to a port the plugin did not announce, so no other local
       *   process can pose as the plugin. `runPlugin` from `@cpg/plugin-sdk`
       *   does this. `PORT` is still set, but the host does not use it. A
       *   plugin that does not announce within `readyTimeoutMs` fails to
       *   launch (`launch_failed`, naming this option) and is killed.
       * - `"env"`: the connect-plugin-go convention, for plugins that only
       *   read `PORT` (Go plugins, SDK plugins older than the announcement):
       *   the host connects to `PORT`. Residual race (audit finding M-3): the
       *   host picks a free port, releases it, then hands it over; a local
       *   process that binds it in between (or holds a fixed `port`) and
       *   answers `PluginControl` is sent the launch secret and a runtime
       *   identity. Use it only where every local process is trusted.
       *
       * Default: `"announce"`.
       *
       * @example
       * ```ts
       * { kind: "process", command: "/opt/plugins/billing", portHandoff: "env" } // a Go plugin
       * ```
       */
      readonly portHandoff?: "announce" | "env";
      /**
       * Run a Node plugin under Node's permission model: `--permission` with
       * read access to these paths (and nothing else: no writes, no child
       * processes, no workers). Only for `command` = a Node binary. Default: off.
       */
      readonly nodePermissions?: { readonly allowRead: readonly string[] };
    }
  | {
      readonly kind: "in-memory";
      /** Options of the plugin to create in the host process. */
      readonly plugin: PluginOptions;
      /**
       * Called with the plugin once created, before it joins (for handlers
       * that need it, e.g. to call other plugins). May return a function the
       * platform calls when the plugin stops. Default: none.
       */
      readonly attach?: (plugin: Plugin) => undefined | (() => void);
    }
  | {
      readonly kind: "remote";
      /** Base URL of the running plugin. */
      readonly url: string;
      /** Secret the plugin expects from its launcher. Default: none. */
      readonly launchSecret?: string;
    };

/**
 * A plugin the platform manages.
 */
export interface ManagedPluginSpec {
  /** Unique name on the platform (a letter, then letters, digits, `_`, `.`, `-`). */
  readonly name: string;
  /** How it runs. */
  readonly strategy: LaunchStrategy;
  /** Services it provides (for dependency order and impact analysis). Default: none. */
  readonly provides?: readonly ProvidedServiceSpec[];
  /** Services it needs (for dependency order). Default: none. */
  readonly requires?: readonly RequiredServiceSpec[];
  /** Restart after a crash. Default: `true` (processes only). */
  readonly restartOnCrash?: boolean;
}
