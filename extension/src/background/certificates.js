// @ts-check
/**
 * The `getCertificates` page action (the host's `certificates` list, after
 * consent), and the lookups the PIN actions use to pick a certificate: by id,
 * and by the capabilities the host states for it (`capabilities`, a subset
 * of "sign", "authenticate", "decrypt"; docs/protocol.md §4.6). The
 * extension never works out from `info.usage` what a certificate may do.
 */

import { CodedError } from "../codes.js";

/** @typedef {"sign" | "authenticate" | "decrypt"} Capability */

/** @type {import("./actions.js").PageAction} */
export const getCertificates = {
  args: [],
  consent: true,
  run: (env, _args, origin) => env.native.request("certificates", {}, origin),
};

/**
 * The certificate with this id, or ERR_UNKNOWN_CERTIFICATE.
 * @param {any[]} certificates the host's list
 * @param {unknown} id
 * @returns {any}
 */
export function certificateById(certificates, id) {
  const c = certificates.find((c) => c.id === id);
  if (!c) throw new CodedError("ERR_UNKNOWN_CERTIFICATE");
  return c;
}

/**
 * Whether the host says cert may be used for what.
 * @param {any} cert
 * @param {Capability} what
 * @returns {boolean}
 */
export function can(cert, what) {
  return Array.isArray(cert?.capabilities) && cert.capabilities.includes(what);
}

/**
 * The certificate a PIN action uses: the one the caller named, which must be
 * capable of what (ERR_CERTIFICATE_USAGE, with the host's usage as details),
 * or else the first capable one (ERR_UNKNOWN_CERTIFICATE when none is).
 * @param {any[]} certificates
 * @param {unknown} id the caller's certificateId, or undefined
 * @param {Capability} what
 * @returns {any}
 */
export function capableCertificate(certificates, id, what) {
  if (id !== undefined) {
    const c = certificateById(certificates, id);
    if (c.readOnly === true) throw hicosClientNeeded();
    if (!can(c, what)) throw new CodedError("ERR_CERTIFICATE_USAGE", { usage: String(c.info?.usage) });
    return c;
  }
  const c = certificates.find((c) => can(c, what));
  if (!c) throw certificates.some((c) => c.readOnly === true) ? hicosClientNeeded() : new CodedError("ERR_UNKNOWN_CERTIFICATE");
  return c;
}

/**
 * Every certificate the host marks capable of what, in the host's order:
 * more than one, and a page that named none, makes the PIN window ask which
 * (two cards, or a card with two such keys); never picked silently.
 * @param {any[]} certificates
 * @param {Capability} what
 * @returns {any[]}
 */
export function capableCertificates(certificates, what) {
  return certificates.filter((c) => can(c, what));
}

/** A HiCOS card read without the vendor's module: shown, not usable (docs/protocol.md). */
export function hicosClientNeeded() {
  return new CodedError("ERR_HICOS_CLIENT_NEEDED", { download: "https://moica.nat.gov.tw/download_1.html" });
}
