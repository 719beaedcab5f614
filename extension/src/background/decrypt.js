// @ts-check
/**
 * The `decrypt` page action (「解密文件」): with the certificate the page
 * named, else the one the host marks capable of "decrypt" (an
 * encryption-only key; the PIN window asks which when there are several); from a web page only when the administrator listed
 * its origin in `decryptOrigins` (docs/protocol.md §4.16): other pages get
 * ERR_NOT_ALLOWED before any window. The PIN window shows what is decrypted
 * (its size) and for whom (the origin).
 */

import { capableCertificate } from "./certificates.js";
import { notAllowed } from "./hostconfig.js";
import { decryptContent } from "./preview.js";

/** @type {import("./pinflow.js").PinAction} */
export const decrypt = {
  mode: "decrypt",
  capability: "decrypt",
  args: ["ciphertext", "certificateId", "padding", "oaepHash"],
  required: ["ciphertext"],
  permitted(_args, origin, config) {
    if (!config.decryptOrigins.includes(origin)) throw notAllowed("decrypt", origin);
  },
  show: (args, origin) => decryptContent(args, origin),
  choose: (certificates, args) => capableCertificate(certificates, args.certificateId, "decrypt"),
  hostArgs(args, cert, secrets) {
    /** @type {Record<string, unknown>} */
    const a = { certificateId: cert.id, ciphertext: args.ciphertext, pin: secrets.pin };
    if (args.padding !== undefined) a.padding = args.padding;
    if (args.oaepHash !== undefined) a.oaepHash = args.oaepHash;
    return a;
  },
};
