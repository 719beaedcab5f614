// @ts-check
/**
 * The one origin rule: which web origins may use the card. It is Go's
 * `origin.Check` (internal/origin/origin.go), which the host applies to every
 * request, written again in JavaScript so the extension refuses exactly what
 * the host would refuse, before it opens a window. Both are held to one table,
 * internal/origin/testdata/origins.json (internal/origin/vectors_test.go and
 * test/origin.test.js run every row): change the rule there first.
 *
 * The rule (RFC 6454 §6.2 serialisation, as browsers write `location.origin`):
 * `https://host[:port]`, or `http://` for localhost, 127.0.0.1 and [::1]; a
 * lower-case ASCII host (letters, digits, `.`, `-`, `_`; punycode for
 * international names) or a bracketed IPv6 address in canonical form (not
 * IPv4-mapped); a port of 1–65535 without leading zeros and never the
 * scheme's default; nothing else (no user, path — not even "/" —, query,
 * fragment, %-escape or white space); at most 255 bytes.
 *
 * A classic script without import or export, so both worlds can load it: the
 * manifest lists it before src/content.js (content scripts cannot be ES
 * modules) and src/background.js imports it for its effect. Either way it
 * publishes its functions on the global object as `cardbridgeOrigin` (in a
 * content script that is the extension's isolated world, which the page
 * cannot see).
 */

/**
 * What origin.js publishes on the global object as `cardbridgeOrigin`.
 * @typedef {object} OriginRule
 * @property {number} MAX_LEN the longest origin accepted (origin.MaxLen)
 * @property {(origin: unknown) => string} originProblem "" when origin is allowed, else why not (English, for logs and tests)
 * @property {(origin: unknown) => boolean} isAllowedOrigin whether a page at origin may use the card (origin.Check)
 * @property {(host: string) => boolean} isLoopback localhost, 127.0.0.1 or ::1: the hosts allowed over http (origin.Loopback)
 */

(() => {
  /** origin.MaxLen */
  const MAX_LEN = 255;

  /**
   * scheme, then a name host or a bracketed IPv6 host, then an optional port;
   * anything else in the string fails to match.
   */
  const SHAPE = /^(https?):\/\/(?:([a-z0-9._-]+)|\[([0-9a-f:]+)\])(?::([0-9]+))?$/;

  /**
   * localhost, 127.0.0.1 or ::1: the names browsers treat as secure without https.
   * @param {string} host without brackets
   * @returns {boolean}
   */
  function isLoopback(host) {
    return host === "localhost" || host === "127.0.0.1" || host === "::1";
  }

  /**
   * The 8 groups of an IPv6 address written with hex groups and at most one
   * "::", or null.
   * @param {string} s
   * @returns {number[] | null}
   */
  function parseIPv6(s) {
    const halves = s.split("::");
    if (halves.length > 2) return null;
    /** @param {string} part @returns {number[] | null} */
    const groups = (part) => {
      if (part === "") return [];
      const out = [];
      for (const g of part.split(":")) {
        if (!/^[0-9a-f]{1,4}$/.test(g)) return null;
        out.push(parseInt(g, 16));
      }
      return out;
    };
    const head = groups(halves[0]);
    const tail = halves.length === 2 ? groups(halves[1]) : [];
    if (!head || !tail) return null;
    if (halves.length === 1) return head.length === 8 ? head : null;
    const zeros = 8 - head.length - tail.length;
    if (zeros < 1) return null;
    return [...head, ...new Array(zeros).fill(0), ...tail];
  }

  /**
   * An IPv6 address written as Go's net.IP.String writes it (RFC 5952): hex
   * groups without leading zeros, the first longest run of two or more zero
   * groups as "::".
   * @param {number[]} g 8 groups
   * @returns {string}
   */
  function formatIPv6(g) {
    let start = -1;
    let len = 0;
    for (let i = 0; i < 8; i++) {
      let j = i;
      while (j < 8 && g[j] === 0) j++;
      if (j - i >= 2 && j - i > len) {
        start = i;
        len = j - i;
      }
    }
    let out = "";
    for (let i = 0; i < 8; i++) {
      if (i === start) {
        out += "::";
        i += len - 1;
        continue;
      }
      if (i > 0 && !out.endsWith("::")) out += ":";
      out += g[i].toString(16);
    }
    return out;
  }

  /**
   * Why origin is refused, or "" when it is allowed (origin.Check).
   * @param {unknown} origin
   * @returns {string}
   */
  function originProblem(origin) {
    if (typeof origin !== "string" || origin === "" || origin.length > MAX_LEN) return "empty or longer than 255 bytes";
    const m = SHAPE.exec(origin);
    if (!m) return "want https://host[:port] (http only for localhost, 127.0.0.1, [::1]), lower-case ASCII, without user, path, query, fragment, escapes or trailing slash";
    const [, scheme, name, ipv6, port] = m;
    if (ipv6 !== undefined) {
      const g = parseIPv6(ipv6);
      if (!g || formatIPv6(g) !== ipv6) return "IPv6 address not in canonical form";
      // IPv4-mapped (::ffff:a.b.c.d): Go writes and treats it as IPv4.
      if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) return "IPv6 address not in canonical form";
    }
    // "evil.tw." is another origin than "evil.tw" to the browser and to every
    // list of origins; refused, as in Go, so that no site has two names.
    if (name !== undefined && (name.endsWith(".") || name.startsWith(".") || name.includes(".."))) {
      return "host with an empty label (a trailing dot)";
    }
    if (port !== undefined) {
      const n = Number(port);
      if (n < 1 || n > 65535 || String(n) !== port) return "invalid port";
      if ((scheme === "https" && n === 443) || (scheme === "http" && n === 80)) return "browsers omit the default port";
    }
    if (scheme === "http" && !isLoopback(name ?? ipv6 ?? "")) {
      return "http is allowed only for localhost, 127.0.0.1 and [::1]; other sites need https";
    }
    return "";
  }

  /**
   * Whether a page at origin may use the card.
   * @param {unknown} origin
   * @returns {boolean}
   */
  function isAllowedOrigin(origin) {
    return originProblem(origin) === "";
  }

  /** @type {OriginRule} */
  const rule = Object.freeze({ MAX_LEN, originProblem, isAllowedOrigin, isLoopback });
  Reflect.set(globalThis, "cardbridgeOrigin", rule);
})();
