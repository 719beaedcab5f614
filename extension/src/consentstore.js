// @ts-check
/**
 * Where the user's consent answers live (docs/extension.md §4 "Consent"):
 * IndexedDB of the extension's own origin.
 *
 * Not chrome.storage.local: content scripts may read and write it, in
 * Chromium and Firefox alike, so a renderer that runs our content script
 * (a page that broke out of its sandbox into it) could write "allowed" for
 * any origin. `storage.local.setAccessLevel` would close that in Chromium,
 * but Firefox supports setAccessLevel for storage.session only, and session
 * storage forgets the answers when the browser closes. A content script's
 * `indexedDB` is the page's own, so the extension origin's database is out
 * of its reach in both browsers.
 *
 * Answers that an earlier version kept in storage.local `consent` are moved
 * here once (marked done in the database) and the key is deleted; a
 * `consent` key that appears in storage.local later is deleted unread.
 */

/** The storage.local key of the remembered answers of earlier versions. */
export const LEGACY_CONSENT_KEY = "consent";
export const DB_NAME = "cardbridge";
export const DB_VERSION = 1;
const ANSWERS = "consent";
const META = "meta";

/** @typedef {{allowed: boolean, at: string}} Remembered */

/**
 * The store of remembered answers, by origin.
 * @typedef {object} ConsentStore
 * @property {() => Promise<Record<string, Remembered>>} all
 * @property {(origin: string, r: Remembered) => Promise<void>} put
 * @property {(origin: string) => Promise<boolean>} delete false when there was nothing to delete
 */

/**
 * The part of chrome.storage.local the migration uses.
 * @typedef {object} LegacyArea
 * @property {(keys: string | string[]) => Promise<Record<string, any>>} get
 * @property {(keys: string | string[]) => Promise<void>} [remove]
 */

/**
 * A remembered answer, or null when r is not one.
 * @param {any} r
 * @returns {Remembered | null}
 */
export function asRemembered(r) {
  if (!r || typeof r !== "object" || typeof r.allowed !== "boolean") return null;
  return { allowed: r.allowed, at: typeof r.at === "string" ? r.at : "" };
}

/**
 * @template T
 * @param {IDBRequest<T>} req
 * @returns {Promise<T>}
 */
function done(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/**
 * @param {IDBTransaction} tx
 * @returns {Promise<void>}
 */
function committed(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error("transaction aborted"));
  });
}

/** Answers kept in memory only: when IndexedDB cannot be opened, the user is asked again after a restart. */
export class MemoryConsentStore {
  constructor() {
    /** @type {Map<string, Remembered>} */
    this.map = new Map();
  }

  async all() {
    return Object.fromEntries(this.map);
  }

  /** @param {string} origin @param {Remembered} r */
  async put(origin, r) {
    this.map.set(origin, { ...r });
  }

  /** @param {string} origin */
  async delete(origin) {
    return this.map.delete(origin);
  }
}

export class IdbConsentStore {
  /**
   * @param {{indexedDB: IDBFactory | undefined, legacy?: LegacyArea}} o
   */
  constructor(o) {
    this.o = o;
    /** @type {Promise<IDBDatabase | MemoryConsentStore> | null} */
    this.opened = null;
  }

  /**
   * The database, opened and migrated once; a MemoryConsentStore when
   * IndexedDB is not available.
   * @returns {Promise<IDBDatabase | MemoryConsentStore>}
   */
  db() {
    this.opened ??= this.open().catch(() => new MemoryConsentStore());
    return this.opened;
  }

  /** @private */
  async open() {
    const factory = this.o.indexedDB;
    if (!factory) throw new Error("no indexedDB");
    const req = factory.open(DB_NAME, DB_VERSION);
    req.onupgradeneeded = () => {
      const db = req.result;
      if (!db.objectStoreNames.contains(ANSWERS)) db.createObjectStore(ANSWERS);
      if (!db.objectStoreNames.contains(META)) db.createObjectStore(META);
    };
    const db = await done(req);
    db.onversionchange = () => db.close();
    await this.migrate(db);
    return db;
  }

  /**
   * Moves the answers of storage.local `consent` here, once, then deletes
   * the key (every time it is found).
   * @private
   * @param {IDBDatabase} db
   */
  async migrate(db) {
    const legacy = this.o.legacy;
    if (!legacy) return;
    const migrated = await done(db.transaction(META).objectStore(META).get("migrated"));
    /** @type {Record<string, any> | undefined} */
    let got;
    try {
      got = await legacy.get(LEGACY_CONSENT_KEY);
    } catch {
      return;
    }
    const old = got?.[LEGACY_CONSENT_KEY];
    if (!migrated) {
      const tx = db.transaction([ANSWERS, META], "readwrite");
      const answers = tx.objectStore(ANSWERS);
      if (old && typeof old === "object" && !Array.isArray(old)) {
        for (const [origin, r] of Object.entries(old)) {
          const rec = asRemembered(r);
          if (rec && origin !== "") answers.put(rec, origin);
        }
      }
      tx.objectStore(META).put({ at: new Date().toISOString() }, "migrated");
      await committed(tx);
    }
    if (old !== undefined) {
      try {
        await legacy.remove?.(LEGACY_CONSENT_KEY);
      } catch {
        // Read again and removed at the next start.
      }
    }
  }

  /** @returns {Promise<Record<string, Remembered>>} */
  async all() {
    const db = await this.db();
    if (db instanceof MemoryConsentStore) return db.all();
    const store = db.transaction(ANSWERS).objectStore(ANSWERS);
    const [keys, values] = await Promise.all([done(store.getAllKeys()), done(store.getAll())]);
    /** @type {Record<string, Remembered>} */
    const out = {};
    keys.forEach((k, i) => {
      const r = asRemembered(values[i]);
      if (typeof k === "string" && r) out[k] = r;
    });
    return out;
  }

  /** @param {string} origin @param {Remembered} r */
  async put(origin, r) {
    const db = await this.db();
    if (db instanceof MemoryConsentStore) return db.put(origin, r);
    const tx = db.transaction(ANSWERS, "readwrite");
    tx.objectStore(ANSWERS).put({ allowed: r.allowed, at: r.at }, origin);
    await committed(tx);
  }

  /** @param {string} origin */
  async delete(origin) {
    const db = await this.db();
    if (db instanceof MemoryConsentStore) return db.delete(origin);
    const tx = db.transaction(ANSWERS, "readwrite");
    const store = tx.objectStore(ANSWERS);
    let had = false;
    // Within the request's callback, so the transaction is still active.
    const req = store.count(origin);
    req.onsuccess = () => {
      had = req.result > 0;
      if (had) store.delete(origin);
    };
    await committed(tx);
    return had;
  }
}
