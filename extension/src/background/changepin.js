// @ts-check
/**
 * The `changePin` action (「變更 PIN 碼」), for a page (by certificate) and
 * for the popup and overlay (by certificate or by reader): the PIN belongs
 * to the card, so any certificate of it will do; without one, the first
 * listed, or (by reader) none.
 */

import { certificateById } from "./certificates.js";

/** @type {import("./pinflow.js").PinAction} */
export const changePin = {
  mode: "changePin",
  args: ["certificateId"],
  required: [],
  choose(certificates, args) {
    if (args.certificateId !== undefined) return certificateById(certificates, args.certificateId);
    if (args.reader !== undefined) return certificates.find((c) => c.reader === args.reader) ?? null;
    return certificates[0] ?? null;
  },
  hostArgs(args, cert, secrets) {
    /** @type {Record<string, unknown>} */
    const a = args.reader !== undefined && args.certificateId === undefined ? { reader: args.reader } : cert ? { certificateId: cert.id } : {};
    a.pin = secrets.pin;
    a.newPin = secrets.newPin;
    return a;
  },
};
