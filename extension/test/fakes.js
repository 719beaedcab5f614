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

/**
 * Waits until cond holds, polling every 2 ms for at most 400 ms.
 * @param {() => boolean} cond
 */
export async function until(cond, what = "condition") {
  for (let i = 0; i < 200; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 2));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * A fake native host: connect() returns a port that says hello (a
 * development build), records each request and answers it with answer(req)
 * after a tick (or when deliver decides: deliver(req, send)).
 * @param {(req: any) => any} answer the reply's fields: {result} or {error}
 * @param {{deliver?: (req: any, send: () => void) => void, build?: string}} [o]
 */
export function fakeNative(answer, o = {}) {
  /** @type {any[]} */
  const requests = [];
  /** @type {Array<(m: any) => void>} the last port's listeners */
  let listeners = [];
  let connects = 0;
  const connect = () => {
    connects++;
    /** @type {Array<(m: any) => void>} */
    const mine = [];
    listeners = mine;
    setImmediate(() => mine.forEach((f) => f({ event: "hello", data: { version: "0.1.0-dev", protocol: 1, build: o.build ?? "development" } })));
    return {
      /** @param {any} req */
      postMessage(req) {
        requests.push(structuredClone(req));
        const send = () => mine.forEach((f) => f({ id: req.id, ...answer(req) }));
        if (o.deliver) o.deliver(req, send);
        else setImmediate(send);
      },
      disconnect() {},
      onMessage: { addListener: (/** @type {any} */ f) => mine.push(f) },
      onDisconnect: { addListener() {} },
    };
  };
  /** The host pushes an event on the open port. @param {any} m */
  const push = (m) => listeners.forEach((f) => f(m));
  return { requests, connect, push, connects: () => connects };
}
