// @ts-check
/**
 * The `changePin` action (「變更 PIN 碼」), for a page (by certificate) and
 * for the popup and overlay (by certificate or by reader): the PIN belongs
 * to the card, so any certificate of it will do; without one, the first
 * usable one listed, or (by reader) none. A HiCOS card read without the
 * vendor's module (readOnly) cannot change its PIN here:
 * ERR_HICOS_CLIENT_NEEDED before any window.
 */

import { certificateById, hicosClientNeeded } from "./certificates.js";

/** @type {import("./pinflow.js").PinAction} */
export const changePin = {
  mode: "changePin",
  args: ["certificateId"],
  required: [],
  choose(certificates, args) {
    /** @param {any} c */
    const usable = (c) => {
      if (c?.readOnly === true) throw hicosClientNeeded();
      return c;
    };
    if (args.certificateId !== undefined) return usable(certificateById(certificates, args.certificateId));
    if (args.reader !== undefined) return usable(certificates.find((c) => c.reader === args.reader) ?? null);
    return usable(certificates.find((c) => c.readOnly !== true) ?? certificates[0] ?? null);
  },
  hostArgs(args, cert, secrets) {
    /** @type {Record<string, unknown>} */
    const a = args.reader !== undefined && args.certificateId === undefined ? { reader: args.reader } : cert ? { certificateId: cert.id } : {};
    a.pin = secrets.pin;
    a.newPin = secrets.newPin;
    return a;
  },
};
