// @ts-check
/**
 * The `sign` page action (「簽署文件」): a certificate the host marks
 * capable of "sign", named by the page; a raw signature needs an RSA key
 * (ECC keys sign only with format cms).
 */

import { CodedError } from "../codes.js";
import { capableCertificate } from "./certificates.js";

/** @type {import("./pinflow.js").PinAction} */
export const sign = {
  mode: "sign",
  args: ["certificateId", "hashAlgorithm", "digest", "data", "format", "nonce", "withCardSerial"],
  required: ["hashAlgorithm", ["digest", "data"]],
  choose(certificates, args) {
    if (args.certificateId === undefined) throw new CodedError("ERR_MISSING_ARGUMENT", { argument: "certificateId" });
    const c = capableCertificate(certificates, args.certificateId, "sign");
    const raw = args.format === undefined || args.format === "raw";
    if (raw && String(c.info?.keyAlgorithm ?? "").startsWith("EC")) {
      throw new CodedError("ERR_UNSUPPORTED_ALGORITHM", { hint: "format cms" });
    }
    return c;
  },
  hostArgs: (args, cert, secrets) => ({ ...args, certificateId: cert.id, pin: secrets.pin }),
};
