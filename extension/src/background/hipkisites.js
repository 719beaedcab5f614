// @ts-check
/**
 * Where HiPKI's protocol is answered (docs/hipki.md): the host's built-in
 * government sites (its `config` says `legacyBuiltin`, https://*.gov.tw),
 * the host's `legacySites` and the browser policy's `legacySites`, unless
 * the clerk turned the compatibility off in the options (storage.local
 * `hipkiCompat` false). The compatibility script (hipki/page.js) is
 * registered for exactly those sites, in the pages' own world, before
 * their scripts run; the `hipki` action refuses any other origin before a
 * window opens.
 */

/** A URL's port when it names none. @type {Record<string, string>} */
const DEFAULT_PORTS = { "https:": "443", "http:": "80" };

/** The registered script's id. */
export const SCRIPT_ID = "cardbridge-hipki";

/**
 * The sites' rule from the host's pattern and the listed origins.
 * @param {string} builtin the host's legacyBuiltin ("https://*.gov.tw"; "" for none)
 * @param {string[]} listed origins
 */
export function siteRule(builtin, listed) {
  const m = /^https:\/\/\*(\.[a-z0-9.-]+)$/.exec(builtin);
  const suffix = m ? m[1] : null;
  return {
    /** @param {string} origin */
    allows(origin) {
      if (listed.includes(origin)) return true;
      if (!suffix || !origin.startsWith("https://")) return false;
      const host = origin.slice("https://".length).toLowerCase();
      return /^[a-z0-9-]+(\.[a-z0-9-]+)*$/.test(host) && host.endsWith(suffix) && host.length > suffix.length;
    },
    /**
     * The content-script match patterns, as exact as match patterns allow:
     * the default port for the built-in sites, each listed origin's own
     * port (a pattern without one matches every port), and
     * {@link excludeMatches} for the bare suffix host.
     * @param {boolean} [ports] false where the browser takes no port in a pattern (Firefox)
     */
    matches(ports = true) {
      const out = suffix ? [`https://*${suffix}${ports ? ":443" : ""}/*`] : [];
      for (const o of listed) {
        try {
          const u = new URL(o);
          const port = u.port || DEFAULT_PORTS[u.protocol];
          const p = `${u.protocol}//${u.hostname}${ports ? `:${port}` : ""}/*`;
          if (!out.includes(p)) out.push(p);
        } catch {
          // not an origin: left out
        }
      }
      return out;
    },
    /** "*.gov.tw" also matches gov.tw itself, which is not a built-in site. */
    excludeMatches() {
      return suffix && !listed.includes(`https://${suffix.slice(1)}`) ? [`https://${suffix.slice(1)}/*`] : [];
    },
  };
}

/**
 * The rule now: host configuration and browser policy.
 * @param {import("./shared.js").Env} env
 */
export async function currentRule(env) {
  const cfg = await env.hostConfig().catch(() => null);
  return siteRule(cfg?.legacyBuiltin ?? "", [...(cfg?.legacySites ?? []), ...(await managedSites(env.chrome))]);
}

/** How long a read of the browser policy may take: in a new profile Chromium answers only once its policies are loaded. */
const MANAGED_MS = 2000;

/**
 * The browser policy's legacySites; [] without a policy, or when the
 * browser does not answer in time.
 * @param {any} chrome
 * @returns {Promise<string[]>}
 */
export async function managedSites(chrome) {
  try {
    const v = await Promise.race([chrome.storage?.managed?.get("legacySites"), new Promise((r) => setTimeout(() => r(null), MANAGED_MS))]);
    return Array.isArray(v?.legacySites) ? v.legacySites.filter((/** @type {unknown} */ s) => typeof s === "string") : [];
  } catch {
    return [];
  }
}

/**
 * Registers the compatibility script for the sites of the rule (none when
 * turned off), or updates or removes it.
 * @param {import("./shared.js").Env} env
 */
export async function syncScripts(env) {
  const scripting = env.chrome.scripting;
  if (!scripting?.registerContentScripts) return;
  const rule = await currentRule(env);
  // Firefox's match patterns take no port.
  const ports = !String(env.chrome.runtime?.getURL?.("") ?? "").startsWith("moz-extension:");
  const matches = (await compatOff(env.chrome)) ? [] : rule.matches(ports);
  const existing = await scripting.getRegisteredContentScripts({ ids: [SCRIPT_ID] }).catch(() => []);
  if (matches.length === 0) {
    if (existing.length > 0) await scripting.unregisterContentScripts({ ids: [SCRIPT_ID] });
    return;
  }
  const script = { id: SCRIPT_ID, js: ["hipki/page.js"], matches, excludeMatches: rule.excludeMatches(), runAt: "document_start", world: "MAIN", allFrames: true, persistAcrossSessions: true };
  if (existing.length > 0) await scripting.updateContentScripts([script]);
  else await scripting.registerContentScripts([script]);
}

/**
 * Whether the clerk turned the compatibility off (storage.local
 * `hipkiCompat` false; on by default).
 * @param {any} chrome
 */
export async function compatOff(chrome) {
  try {
    const v = await chrome.storage?.local?.get("hipkiCompat");
    return v?.hipkiCompat === false;
  } catch {
    return false;
  }
}
