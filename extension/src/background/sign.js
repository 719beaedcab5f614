// @ts-check
/**
 * The `sign` page action (「簽署文件」): a certificate the host marks
 * capable of "sign", named by the page; a raw signature needs an RSA key
 * (ECC keys sign only with format cms) and, from a web page, an origin the
 * administrator listed in `rawSignOrigins` (docs/protocol.md §4.16): other
 * pages get ERR_NOT_ALLOWED before any window. The PIN window shows what is
 * signed (src/background/preview.js).
 */

import { CodedError } from "../codes.js";
import { capableCertificate } from "./certificates.js";
import { isRawSign, notAllowed } from "./hostconfig.js";
import { signContent } from "./preview.js";

/** @type {import("./pinflow.js").PinAction} */
export const sign = {
  mode: "sign",
  args: ["certificateId", "hashAlgorithm", "digest", "data", "format", "nonce", "withCardSerial"],
  required: ["hashAlgorithm", ["digest", "data"]],
  permitted(args, origin, config) {
    if (isRawSign(args) && !config.rawSignOrigins.includes(origin)) throw notAllowed("rawSign", origin);
  },
  show: (args) => signContent(args),
  choose(certificates, args) {
    if (args.certificateId === undefined) throw new CodedError("ERR_MISSING_ARGUMENT", { argument: "certificateId" });
    const c = capableCertificate(certificates, args.certificateId, "sign");
    if (isRawSign(args) && String(c.info?.keyAlgorithm ?? "").startsWith("EC")) {
      throw new CodedError("ERR_UNSUPPORTED_ALGORITHM", { hint: "format cms" });
    }
    return c;
  },
  hostArgs: (args, cert, secrets) => ({ ...args, certificateId: cert.id, pin: secrets.pin }),
};
