// @ts-check
// The sites where the CardBridge overlay (status badge + panel) is shown, and the rule that
// decides it for one page. A classic script (content scripts cannot be ES modules): the
// manifest loads it right before overlay.js, and it hands its values to overlay.js through
// the content scripts' own global object, which the page cannot see. Unit tests import it
// and read the same property.
//
// Keep OVERLAY_HOSTS in step with the manifest's content_scripts matches for overlay.js: a
// host listed here but not matched there never gets the script; a host matched there but
// not listed here gets the script, which then does nothing.
(() => {
  /**
   * CA and document-exchange sites (https only), exact host names.
   * @type {readonly string[]}
   */
  const OVERLAY_HOSTS = Object.freeze([
    "moica.nat.gov.tw", // 內政部憑證管理中心 (自然人憑證)
    "xca.nat.gov.tw", // 組織及團體憑證管理中心
    "gca.nat.gov.tw", // 政府憑證管理中心
    "grca.nat.gov.tw", // 政府憑證總管理中心
    "moeaca.nat.gov.tw", // 經濟部工商憑證管理中心
    "good.nat.gov.tw", // 電子公文交換
    "www.good.nat.gov.tw",
  ]);

  /** Development hosts, served over http or https, only when storage.local `overlayOnLocalhost` is true. */
  const LOCAL_HOSTS = Object.freeze(["localhost", "127.0.0.1"]);

  /**
   * Whether the overlay belongs on the page at `url`.
   * @param {string} url the page's address (location.href)
   * @param {boolean} overlayOnLocalhost storage.local `overlayOnLocalhost === true`
   * @returns {boolean}
   */
  function shouldShowOverlay(url, overlayOnLocalhost) {
    /** @type {URL} */
    let u;
    try {
      u = new URL(url);
    } catch {
      return false;
    }
    const host = u.hostname.toLowerCase();
    if (LOCAL_HOSTS.includes(host)) {
      return overlayOnLocalhost === true && (u.protocol === "http:" || u.protocol === "https:");
    }
    return u.protocol === "https:" && OVERLAY_HOSTS.includes(host);
  }

  Reflect.set(globalThis, "cardbridgeOverlaySites", Object.freeze({ OVERLAY_HOSTS, LOCAL_HOSTS, shouldShowOverlay }));
})();
