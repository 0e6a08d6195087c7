/**
 * Key of the magic cookie that plugins send in the handshake.
 *
 * The magic cookie is a misconfiguration check (it catches a plugin pointed at
 * something that is not a cpg or connect-plugin-go host). It is not a secret
 * and provides no security.
 */
export const MAGIC_COOKIE_KEY = "CONNECT_PLUGIN";

/**
 * Value of the magic cookie, as used by connect-plugin-go's code.
 */
export const MAGIC_COOKIE_VALUE = "d3f40b3c2e1a5f8b9c4d7e6a1b2c3d4e";

/**
 * Core protocol version. Hosts refuse any other value with `invalid_argument`.
 */
export const CORE_PROTOCOL_VERSION = 1;

/**
 * Application protocol version used when a host or plugin does not name one.
 */
export const DEFAULT_APP_PROTOCOL_VERSION = 1;

/**
 * Registration metadata key through which a self-registering plugin tells the
 * host where it listens, e.g. `http://10.0.0.7:8082`.
 */
export const BASE_URL_METADATA_KEY = "base_url";

/**
 * `server_metadata` key carrying the host's version.
 */
export const SERVER_VERSION_METADATA_KEY = "server_version";

/**
 * `client_metadata` key carrying the plugin library's version.
 */
export const CLIENT_VERSION_METADATA_KEY = "client_version";
