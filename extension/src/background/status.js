// @ts-check
/**
 * The page actions that need no consent and no PIN: `status` (extension and
 * host versions; the readers only for an allowed site) and
 * `checkEnvironment` (the host's check report). Without consent a site
 * learns only what it needs to tell the user that CardBridge works: that
 * the extension and the host are there (status), and the verdicts of the
 * service, reader and card checks with their fixes (checkEnvironment). Not
 * whether a card is in (status), and not the verdicts that describe the
 * card and its holder (certificates, validity, issuer, PIN tries), reader
 * names, ATRs or details (docs/extension.md §2).
 */

/** The check items (internal/diag) a site sees without consent. */
export const PUBLIC_CHECK_ITEMS = Object.freeze(["service", "readers", "card"]);

/** @type {Record<string, number>} */
const RANK = { pass: 0, warn: 1, fail: 2 };

/**
 * The worst result of items, as the host's `overall` (skips do not count).
 * @param {Array<{result?: unknown}>} items
 * @returns {"pass" | "warn" | "fail"}
 */
export function overallOf(items) {
  let worst = 0;
  for (const it of items) {
    const r = typeof it.result === "string" ? RANK[it.result] : undefined;
    if (r !== undefined && r > worst) worst = r;
  }
  return /** @type {const} */ (["pass", "warn", "fail"])[worst];
}

/** @type {import("./actions.js").PageAction} */
export const status = {
  args: [],
  consent: false,
  async run(env, _args, origin) {
    const { chrome, native, consent } = env;
    const extension = chrome.runtime.getManifest().version;
    if ((await consent.decision(origin)) !== "allowed") {
      const v = await native.request("version", {}, origin);
      return { extension, host: { version: v.version, protocol: v.protocol } };
    }
    const [v, r] = await Promise.all([native.request("version", {}, origin), native.request("readers", {}, origin)]);
    return { extension, host: { version: v.version, protocol: v.protocol }, readers: r.readers };
  },
};

/** @type {import("./actions.js").PageAction} */
export const checkEnvironment = {
  args: [],
  consent: false,
  async run(env, _args, origin) {
    const report = await env.native.request("check", {}, origin);
    if ((await env.consent.decision(origin)) === "allowed") return report;
    const items = (Array.isArray(report.items) ? report.items : [])
      .filter((/** @type {any} */ it) => PUBLIC_CHECK_ITEMS.includes(it?.id))
      .map((/** @type {any} */ { id, title, result, fix }) => (fix === undefined ? { id, title, result } : { id, title, result, fix }));
    return { overall: overallOf(items), items };
  },
};
