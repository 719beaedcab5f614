// @ts-check
/**
 * The `decrypt` page action (「解密文件」): with the certificate the page
 * named or else the first the host marks capable of "decrypt" (an
 * encryption-only key).
 */

import { capableCertificate } from "./certificates.js";

/** @type {import("./pinflow.js").PinAction} */
export const decrypt = {
  mode: "decrypt",
  args: ["ciphertext", "certificateId", "padding", "oaepHash"],
  required: ["ciphertext"],
  choose: (certificates, args) => capableCertificate(certificates, args.certificateId, "decrypt"),
  hostArgs(args, cert, secrets) {
    /** @type {Record<string, unknown>} */
    const a = { certificateId: cert.id, ciphertext: args.ciphertext, pin: secrets.pin };
    if (args.padding !== undefined) a.padding = args.padding;
    if (args.oaepHash !== undefined) a.oaepHash = args.oaepHash;
    return a;
  },
};
