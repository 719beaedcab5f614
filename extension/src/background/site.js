// @ts-check
/**
 * The site of an origin, for the cancel cooldown (docs/extension.md §4):
 * an approximation of the registrable domain ("eTLD+1") without the Public
 * Suffix List. The last two labels of the host name, or the last three
 * when the top-level domain is a two-letter country code and the label
 * before it is one of the usual second-level domains (gov.tw, edu.tw,
 * com.tw, org.tw, net.tw, idv.tw, co.uk, ac.jp, …). An IP address or a
 * single-label name (localhost) is its own site; the port does not count.
 *
 * It errs toward larger groups: all of *.tp.edu.tw is one site (tp.edu.tw),
 * and so is all of *.github.io; a cancel there holds back the others for
 * the cooldown. It is never smaller than the registrable domain under a
 * listed second-level domain, so subdomains of one registrant share one
 * cooldown. Public suffixes of three or more labels not covered here
 * (rare) are split finer than they should be.
 */

/** Second-level labels that, under a two-letter country code, are public suffixes. */
const SECOND_LEVEL = new Set(["gov", "edu", "com", "org", "net", "idv", "mil", "ac", "co", "or", "ne", "go", "gob", "gouv", "nic", "game", "ebiz", "club", "ltd", "plc", "sch", "nhs", "police"]);

/**
 * The site of origin: its registrable domain, approximated. The origin as
 * given when it cannot be parsed.
 * @param {string} origin
 * @returns {string}
 */
export function siteOf(origin) {
  let host;
  try {
    host = new URL(origin).hostname.toLowerCase();
  } catch {
    return origin;
  }
  if (host.startsWith("[") || /^\d+(\.\d+){3}$/.test(host)) return host;
  const labels = host.replace(/\.$/, "").split(".");
  if (labels.length <= 2) return labels.join(".");
  const tld = labels[labels.length - 1];
  const second = labels[labels.length - 2];
  const n = tld.length === 2 && SECOND_LEVEL.has(second) ? 3 : 2;
  return labels.slice(-n).join(".");
}
