// @ts-check
// What the PIN window shows of a request (src/background/preview.js): strict
// base64 as the host reads it, the SHA-256, the text preview; and the site
// of an origin for the cancel cooldown (src/background/site.js).
import { test as nodeTest } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { decodeBase64, textPreview, signContent, decryptContent, PREVIEW_LINES, PREVIEW_CHARS } from "../src/background/preview.js";
import { siteOf } from "../src/background/site.js";

/** Every test is bounded: a hang is a failure. @type {(name: string, fn: () => any) => void} */
const test = (name, fn) => nodeTest(name, { timeout: 10_000 }, fn);

const enc = (/** @type {string} */ s) => new TextEncoder().encode(s);

test("decodeBase64: standard base64 with padding only, canonical, as the host's protocol.Bytes", () => {
  assert.deepEqual([...decodeBase64("AAEC", "data")], [0, 1, 2]);
  assert.deepEqual([...decodeBase64("AAE=", "data")], [0, 1]);
  assert.deepEqual([...decodeBase64("", "data")], []);
  for (const bad of ["AAE", "AA==\n", "AA E=", "AAF=", "AB==", "-_8=", "AA==AA==", "====", 42, null]) {
    assert.throws(() => decodeBase64(bad, "data"), { code: "ERR_BAD_ARGUMENT", details: { argument: "data", reason: "must be standard base64 with padding" } }, JSON.stringify(bad));
  }
});

test("textPreview: UTF-8 text only, the first lines, invisible characters made visible", () => {
  assert.deepEqual(textPreview(enc("公文\r\n第二行\n")), { text: "公文\n第二行", lines: 2, shown: 2, truncated: false });
  assert.equal(textPreview(new Uint8Array([0xff, 0xfe, 0x41])), null, "not UTF-8");
  assert.equal(textPreview(enc("%PDF-1.7\u0000binary")), null, "a control character");
  assert.equal(textPreview(enc("a\u001bb")), null, "escape");
  assert.deepEqual(textPreview(enc("\ttab ok")), { text: "\ttab ok", lines: 1, shown: 1, truncated: false });
  // A right-to-left override would make the text read otherwise than it is signed.
  assert.equal(textPreview(enc("pay \u202Eevil\u202C 100"))?.text, "pay ⟦U+202E⟧evil⟦U+202C⟧ 100");
  assert.equal(textPreview(enc("a\u200Bb"))?.text, "a⟦U+200B⟧b");
  const many = Array.from({ length: 50 }, (_, i) => `line ${i + 1}`).join("\n");
  assert.deepEqual(textPreview(enc(many)), { text: many.split("\n").slice(0, PREVIEW_LINES).join("\n"), lines: 50, shown: PREVIEW_LINES, truncated: true });
  const long = textPreview(enc("字".repeat(PREVIEW_CHARS * 2)));
  assert.equal(long?.text.length, PREVIEW_CHARS);
  assert.equal(long?.truncated, true);
  // HTML is text: the window sets textContent, so this shows as typed.
  assert.equal(textPreview(enc("<img src=x onerror=alert(1)>"))?.text, "<img src=x onerror=alert(1)>");
});

test("signContent and decryptContent", async () => {
  const data = Buffer.from("文件").toString("base64");
  const c = await signContent({ data, hashAlgorithm: "SHA-256", format: "cms" });
  assert.equal(c.sha256, createHash("sha256").update("文件").digest("hex"));
  assert.equal(c.size, 6);
  assert.equal(c.format, "cms");
  assert.equal((await signContent({ data, hashAlgorithm: "SHA-256" })).format, "raw", "the host's default");
  const d = await signContent({ digest: Buffer.alloc(48, 1).toString("base64"), hashAlgorithm: "SHA-384" });
  assert.deepEqual(d, { kind: "sign", format: "raw", hashAlgorithm: "SHA-384", digestOnly: true, size: 48, digest: "01".repeat(48) });
  await assert.rejects(signContent({ data, digest: data, hashAlgorithm: "SHA-256" }), { code: "ERR_BAD_ARGUMENT" });
  assert.deepEqual(await decryptContent({ ciphertext: "AAAA" }, "https://a.example"), { kind: "decrypt", size: 3, for: "https://a.example" });
  await assert.rejects(decryptContent({ ciphertext: "AAA" }, null), { code: "ERR_BAD_ARGUMENT", details: { argument: "ciphertext", reason: "must be standard base64 with padding" } });
});

test("siteOf: the registrable domain, approximated (two labels, three under gov.tw-style second-level domains)", () => {
  /** @type {Array<[string, string]>} */
  const cases = [
    ["https://a.evil.example", "evil.example"],
    ["https://b.a.evil.example:8443", "evil.example"],
    ["https://evil.example", "evil.example"],
    ["https://edoc.example.gov.tw", "example.gov.tw"],
    ["https://x.edoc.example.gov.tw", "example.gov.tw"],
    ["https://moica.nat.gov.tw", "nat.gov.tw"],
    ["https://www.school.tp.edu.tw", "tp.edu.tw"],
    ["https://shop.example.com.tw", "example.com.tw"],
    ["https://a.example.org.tw", "example.org.tw"],
    ["https://a.example.net.tw", "example.net.tw"],
    ["https://a.example.idv.tw", "example.idv.tw"],
    ["https://a.example.co.uk", "example.co.uk"],
    ["https://www.example.tw", "example.tw"],
    ["https://gov.tw", "gov.tw"],
    ["https://xn--kpry57d.tw", "xn--kpry57d.tw"],
    ["http://localhost:3000", "localhost"],
    ["http://127.0.0.1:8080", "127.0.0.1"],
    ["http://[::1]:8080", "[::1]"],
  ];
  for (const [origin, site] of cases) assert.equal(siteOf(origin), site, origin);
  assert.equal(siteOf("not an origin"), "not an origin");
});
