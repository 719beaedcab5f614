// @ts-check
/**
 * The `authenticate` page action (「登入網站」): a login token over the
 * page's challenge, with the certificate the page named, else the one the
 * host marks capable of "authenticate" (the PIN window asks which when
 * there are several).
 */

import { capableCertificate } from "./certificates.js";

/** @type {import("./pinflow.js").PinAction} */
export const authenticate = {
  mode: "authenticate",
  capability: "authenticate",
  args: ["challenge", "certificateId"],
  required: ["challenge"],
  choose: (certificates, args) => capableCertificate(certificates, args.certificateId, "authenticate"),
  hostArgs: (args, cert, secrets) => ({ certificateId: cert.id, challenge: args.challenge, pin: secrets.pin }),
};
