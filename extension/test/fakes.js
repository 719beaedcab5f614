// @ts-check
// Fakes shared by the unit tests (no tests here).

/**
 * A chrome.storage area over a plain object.
 * @param {Record<string, any>} [data]
 */
export function area(data = {}) {
  return {
    data,
    /** @param {string | string[]} keys */
    async get(keys) {
      /** @type {Record<string, any>} */
      const out = {};
      for (const k of Array.isArray(keys) ? keys : [keys]) if (k in data) out[k] = structuredClone(data[k]);
      return out;
    },
    /** @param {Record<string, any>} items */
    async set(items) {
      Object.assign(data, structuredClone(items));
    },
    /** @param {string | string[]} keys */
    async remove(keys) {
      for (const k of Array.isArray(keys) ? keys : [keys]) delete data[k];
    },
  };
}
