// @ts-check
/**
 * What the host's configuration tells the extension (the `config` command,
 * docs/protocol.md §4.15), asked once per native connection (the host reads
 * its files once per start), and the decisions the background takes from it
 * and from the host's build (hello, §3.1):
 *
 *   - which sites may ask for a raw signature or a decryption
 *     (`rawSignOrigins`, `decryptOrigins`: the extension refuses the others
 *     before any window opens, as the host would after the PIN);
 *   - whether http://localhost pages are served (a development build, the
 *     host's `loopbackOrigins`, or the browser policy `allowLoopbackOrigins`);
 *   - whether the card at hand is a virtual TEST card (`virtualReader` of a
 *     certificate, the configuration or a reader), which the windows say.
 */

import { CodedError } from "../codes.js";

/**
 * The host configuration, normalised: absent or malformed fields of an
 * older host read as "nothing allowed".
 * @typedef {object} HostConfig
 * @property {string[]} approvedOrigins
 * @property {boolean} virtualReader
 * @property {boolean} loopbackOrigins
 * @property {string[]} rawSignOrigins
 * @property {string[]} decryptOrigins
 * @property {string[]} legacySites sites the administrator listed as speaking HiPKI's protocol
 * @property {string} legacyBuiltin the built-in HiPKI sites as a pattern ("https://*.gov.tw"; "" from an older host)
 */

/**
 * @param {unknown} v
 * @returns {string[]}
 */
function strings(v) {
  return Array.isArray(v) ? v.filter((s) => typeof s === "string" && s !== "") : [];
}

/**
 * The host's `config` result as a {@link HostConfig}.
 * @param {any} r
 * @returns {HostConfig}
 */
export function normaliseConfig(r) {
  return {
    approvedOrigins: strings(r?.approvedOrigins),
    virtualReader: r?.virtualReader === true,
    loopbackOrigins: r?.loopbackOrigins === true,
    rawSignOrigins: strings(r?.rawSignOrigins),
    decryptOrigins: strings(r?.decryptOrigins),
    legacySites: strings(r?.legacySites),
    legacyBuiltin: typeof r?.legacyBuiltin === "string" ? r.legacyBuiltin : "",
  };
}

/**
 * The host config, asked once per native connection; a failed ask is
 * asked again next time.
 * @param {import("../native.js").NativeHost} native
 * @returns {() => Promise<HostConfig>}
 */
export function createHostConfig(native) {
  /** @type {Promise<HostConfig> | null} */
  let cached = null;
  native.onDisconnect(() => {
    cached = null;
  });
  return () => {
    if (!cached) {
      const p = native.request("config").then(normaliseConfig);
      p.catch(() => {
        if (cached === p) cached = null;
      });
      cached = p;
    }
    return cached;
  };
}

/**
 * Whether a sign request is a raw signature: anything but format "cms"
 * (the host's default is raw; a format the host does not know is refused by
 * it, and is held to the stricter rule here).
 * @param {Record<string, any>} args
 */
export function isRawSign(args) {
  return args.format !== "cms";
}

/**
 * ERR_NOT_ALLOWED, as the host says it (docs/protocol.md §5).
 * @param {"rawSign" | "decrypt"} operation
 * @param {string} origin
 */
export function notAllowed(operation, origin) {
  return new CodedError("ERR_NOT_ALLOWED", { operation, origin: origin.slice(0, 80) });
}

/**
 * Whether a browser policy (storage.managed) lets http://localhost pages
 * use the card; false without a policy (Firefox rejects then).
 * @param {any} chrome
 * @returns {Promise<boolean>}
 */
export async function managedLoopback(chrome) {
  try {
    const v = await chrome.storage?.managed?.get("allowLoopbackOrigins");
    return v?.allowLoopbackOrigins === true;
  } catch {
    return false;
  }
}

/**
 * Whether origin is a loopback page (http://localhost, 127.0.0.1, [::1]):
 * the one origin rule (src/origin.js) allows http for those only.
 * @param {string} origin
 */
export function isLoopbackOrigin(origin) {
  return origin.startsWith("http://");
}

/**
 * Whether http://localhost pages may use the card now: a browser policy
 * allows them, or the host serves them (a development build, or the
 * host's loopbackOrigins). Connects to the host (ERR_HOST_UNAVAILABLE when
 * it is missing).
 * @param {import("./shared.js").Env} env
 * @returns {Promise<boolean>}
 */
export async function loopbackAllowed(env) {
  if (await managedLoopback(env.chrome)) return true;
  const hello = await env.native.connect();
  // Asked even for a development host: a request, so the port's idle
  // timer runs even when the page's request goes no further.
  const config = await env.hostConfig().catch(() => null);
  return hello.build === "development" || config?.loopbackOrigins === true;
}

/**
 * Whether the card a window is about is a virtual TEST card. For a
 * certificate, the host's `virtualReader` flag (or, from a host that does
 * not send it, whether its reader is virtual); without a certificate
 * (consent, change PIN by reader), whether the virtual TEST card is
 * configured or a virtual reader holds a card. Never throws: a host that
 * cannot say gives false.
 * @param {import("./shared.js").Env} env
 * @param {any | null} cert
 * @param {string | null} origin
 * @returns {Promise<boolean>}
 */
export async function virtualCard(env, cert, origin) {
  if (cert && typeof cert.virtualReader === "boolean") return cert.virtualReader;
  /** @type {any[]} */
  let readers = [];
  try {
    const r = await env.native.request("readers", {}, origin);
    readers = Array.isArray(r?.readers) ? r.readers : [];
  } catch {
    // The host could not list the readers: nothing to flag.
  }
  if (cert) return readers.some((x) => x?.name === cert.reader && x?.virtual === true);
  if (readers.some((x) => x?.virtual === true && x?.card === true)) return true;
  try {
    return (await env.hostConfig()).virtualReader;
  } catch {
    return false;
  }
}
