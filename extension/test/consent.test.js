// @ts-check
// Consent: policy (storage.managed), host configuration, remembered answers
// (in the extension origin's IndexedDB, not storage.local), revoke, and the
// one-time move of the answers earlier versions kept in storage.local.
import { test as nodeTest } from "node:test";
import assert from "node:assert/strict";
import { IDBFactory } from "fake-indexeddb";
import { Consent, CONSENT_KEY } from "../src/consent.js";
import { IdbConsentStore, MemoryConsentStore } from "../src/consentstore.js";
import { area } from "./fakes.js";

/** Every test is bounded: a hang is a failure. @type {(name: string, fn: () => any) => void} */
const test = (name, fn) => nodeTest(name, { timeout: 10_000 }, fn);

/**
 * @param {{managed?: any, host?: string[] | Error, local?: Record<string, any>, idb?: IDBFactory}} [o]
 */
function setup(o = {}) {
  const local = area(o.local ?? {});
  const idb = o.idb ?? new IDBFactory();
  const store = new IdbConsentStore({ indexedDB: idb, legacy: local });
  let hostCalls = 0;
  const consent = new Consent({
    store,
    managed: o.managed === undefined ? area({}) : o.managed,
    hostApproved: async () => {
      hostCalls++;
      if (o.host instanceof Error) throw o.host;
      return o.host ?? [];
    },
    now: () => new Date("2026-11-28T12:00:00Z"),
  });
  return { consent, local, store, idb, hostCalls: () => hostCalls };
}

const A = "https://edoc.example.gov.tw";
const B = "https://ca.example.gov.tw";

test("an unknown origin must be asked", async () => {
  const { consent } = setup();
  assert.equal(await consent.decision(A), "ask");
  assert.equal(await consent.preApproved(A), null);
});

test("storage.managed approvedOrigins pre-approves", async () => {
  const { consent } = setup({ managed: area({ approvedOrigins: [A] }) });
  assert.equal(await consent.preApproved(A), "managed");
  assert.equal(await consent.decision(A), "allowed");
  assert.equal(await consent.decision(B), "ask");
});

test("the host config's approvedOrigins pre-approves", async () => {
  const { consent } = setup({ host: [B] });
  assert.equal(await consent.preApproved(B), "host");
  assert.equal(await consent.decision(B), "allowed");
  assert.equal(await consent.decision(A), "ask");
});

test("no policy (Firefox rejects) and no host: nothing pre-approved, nothing thrown", async () => {
  const managed = { get: async () => Promise.reject(new Error("Managed storage manifest not found")) };
  const { consent } = setup({ managed, host: new Error("host gone") });
  assert.equal(await consent.decision(A), "ask");
  const { consent: c2 } = setup({ managed: undefined });
  assert.equal(await c2.decision(A), "ask");
});

test("malformed policy values are ignored", async () => {
  const { consent } = setup({ managed: area({ approvedOrigins: A }) });
  assert.equal(await consent.decision(A), "ask", "a string is not a list");
  const { consent: c2 } = setup({ managed: area({ approvedOrigins: [42, null, "", A] }) });
  assert.equal(await c2.decision(A), "allowed");
});

test("remembered answers decide, and are stored with the time in IndexedDB, not storage.local", async () => {
  const { consent, local, idb } = setup();
  await consent.remember(A, true);
  await consent.remember(B, false);
  assert.equal(await consent.decision(A), "allowed");
  assert.equal(await consent.decision(B), "denied");
  assert.equal(local.data[CONSENT_KEY], undefined, "storage.local, which content scripts can write");
  // Kept: a new background (service worker restart) over the same database.
  const again = new IdbConsentStore({ indexedDB: idb, legacy: local });
  assert.deepEqual(await again.all(), {
    [A]: { allowed: true, at: "2026-11-28T12:00:00.000Z" },
    [B]: { allowed: false, at: "2026-11-28T12:00:00.000Z" },
  });
});

test("answers of an earlier version in storage.local move to IndexedDB once, and the key is deleted", async () => {
  const idb = new IDBFactory();
  const { consent, local } = setup({ idb, local: { [CONSENT_KEY]: { [A]: { allowed: true, at: "t1" }, [B]: { allowed: false, at: "t2" }, x: "junk" }, other: 1 } });
  assert.equal(await consent.decision(A), "allowed");
  assert.equal(await consent.decision(B), "denied");
  assert.equal(local.data[CONSENT_KEY], undefined, "the storage.local key is deleted");
  assert.equal(local.data.other, 1, "other keys stay");
  assert.deepEqual(await consent.remembered(), { [A]: { allowed: true, at: "t1" }, [B]: { allowed: false, at: "t2" } });

  // A content script writes storage.local later: it is not read, and is deleted.
  const planted = area({ [CONSENT_KEY]: { "https://evil.example": { allowed: true, at: "now" } } });
  const later = new Consent({ store: new IdbConsentStore({ indexedDB: idb, legacy: planted }), managed: undefined, hostApproved: async () => [] });
  assert.equal(await later.decision("https://evil.example"), "ask");
  assert.equal(planted.data[CONSENT_KEY], undefined);
  assert.equal(await later.decision(A), "allowed");
});

test("a planted storage.local consent does not allow anything once the store is in use", async () => {
  const { consent, local } = setup();
  assert.equal(await consent.decision(A), "ask"); // the store is opened (and migrated: nothing)
  local.data[CONSENT_KEY] = { [A]: { allowed: true, at: "x" } };
  assert.equal(await consent.decision(A), "ask");
});

test("without IndexedDB the answers live in memory (asked again after a restart)", async () => {
  const store = new IdbConsentStore({ indexedDB: undefined, legacy: area({}) });
  const consent = new Consent({ store, managed: undefined, hostApproved: async () => [] });
  await consent.remember(A, true);
  assert.equal(await consent.decision(A), "allowed");
  assert.equal(await consent.revoke(A), true);
  assert.equal(await consent.decision(A), "ask");
  assert.ok((await store.db()) instanceof MemoryConsentStore);
});

test("pre-approval wins over a remembered refusal", async () => {
  const { consent } = setup({ host: [A], local: { [CONSENT_KEY]: { [A]: { allowed: false, at: "" } } } });
  assert.equal(await consent.decision(A), "allowed");
});

test("revoke forgets an answer, and says whether there was one", async () => {
  const { consent } = setup({ local: { [CONSENT_KEY]: { [A]: { allowed: true, at: "t" }, [B]: { allowed: false, at: "t" } } } });
  assert.equal(await consent.revoke(B), true);
  assert.equal(await consent.revoke(B), false);
  assert.equal(await consent.decision(B), "ask");
  assert.equal(await consent.decision(A), "allowed");
  assert.deepEqual(Object.keys(await consent.remembered()), [A]);
});

test("corrupt stored entries are skipped", async () => {
  const { consent } = setup({ local: { [CONSENT_KEY]: { [A]: { allowed: "yes" }, [B]: null, x: 1 } } });
  assert.equal(await consent.decision(A), "ask");
  assert.deepEqual(await consent.remembered(), {});
  const { consent: c2 } = setup({ local: { [CONSENT_KEY]: "garbage" } });
  assert.equal(await c2.decision(A), "ask");
});

test("list: remembered and pre-approved, sorted, with sources", async () => {
  const { consent } = setup({
    managed: area({ approvedOrigins: [B, "https://z.example"] }),
    host: ["https://m.example", B],
    local: { [CONSENT_KEY]: { "https://y.example": { allowed: false, at: "t1" }, [A]: { allowed: true, at: "t2" } } },
  });
  assert.deepEqual(await consent.list(), {
    remembered: [
      { origin: A, allowed: true, at: "t2" },
      { origin: "https://y.example", allowed: false, at: "t1" },
    ],
    preApproved: [
      { origin: B, source: "managed" },
      { origin: "https://m.example", source: "host" },
      { origin: "https://z.example", source: "managed" },
    ],
  });
});

test("list says when the host could not be asked", async () => {
  const { consent } = setup({ managed: area({ approvedOrigins: [A] }), host: new Error("gone") });
  const l = await consent.list();
  assert.equal(l.hostUnavailable, true);
  assert.deepEqual(l.preApproved, [{ origin: A, source: "managed" }]);
});
