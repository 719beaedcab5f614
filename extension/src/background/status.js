// @ts-check
/**
 * The page actions that need no consent and no PIN: `status` (extension and
 * host versions, readers) and `checkEnvironment` (the host's check report).
 * Without consent a site learns only what it needs to guide the user: whether
 * a card is in and the verdicts, not reader names, ATRs, certificates or PIN
 * tries (docs/extension.md §2).
 */

/** @type {import("./actions.js").PageAction} */
export const status = {
  args: [],
  consent: false,
  async run(env, _args, origin) {
    const { chrome, native, consent } = env;
    const [v, r] = await Promise.all([native.request("version", {}, origin), native.request("readers", {}, origin)]);
    /** @type {any[]} */
    let readers = r.readers;
    if ((await consent.decision(origin)) !== "allowed" && Array.isArray(readers)) {
      readers = readers.map((x) => ({ card: !!x?.card }));
    }
    return { extension: chrome.runtime.getManifest().version, host: { version: v.version, protocol: v.protocol }, readers };
  },
};

/** @type {import("./actions.js").PageAction} */
export const checkEnvironment = {
  args: [],
  consent: false,
  async run(env, _args, origin) {
    const report = await env.native.request("check", {}, origin);
    if ((await env.consent.decision(origin)) === "allowed") return report;
    const items = Array.isArray(report.items) ? report.items : [];
    return {
      overall: report.overall,
      items: items.map((/** @type {any} */ { id, title, result, fix }) => ({ id, title, result, fix })),
    };
  },
};
