// @ts-check
/**
 * The PIN rule, as the host reports it in `pinStatus` (docs/protocol.md
 * §4.10): `minLength`, `maxLength` and `characters`. Every check of a PIN
 * typed in the extension is the one function {@link pinProblem}: the PIN window's
 * form (pin/form.js, which the popup's and the overlay's 「變更 PIN 碼」 open
 * too) and the background before it passes a PIN to the host. Nothing here
 * decides the rule; 6 and 8 are only the fallback for a host that sent no
 * lengths.
 */

/**
 * @typedef {object} PinRule
 * @property {number} minLength
 * @property {number} maxLength
 * @property {string} characters the host's name for the allowed characters: "alnum" (A–Z, a–z, 0–9); "" or anything else: printable ASCII
 */

/** The lengths when the host sent none (the host's card.Rule at the time of writing). */
const FALLBACK_MIN = 6;
const FALLBACK_MAX = 8;

/** "alnum": ASCII letters and digits only. */
const ALNUM = /^[A-Za-z0-9]*$/;

/**
 * Any other value of `characters` (or none): what the host's protocol layer
 * takes at all, printable ASCII without space, `"` and `\` (docs/protocol.md
 * §4.14); the host then applies its own rule.
 */
const PRINTABLE = /^[\x21\x23-\x5b\x5d-\x7e]*$/;

/**
 * A positive integer, else fallback.
 * @param {unknown} v
 * @param {number} fallback
 */
function length(v, fallback) {
  return typeof v === "number" && Number.isInteger(v) && v > 0 ? v : fallback;
}

/**
 * The rule in a pinStatus result (or a session view's pinStatus); the
 * fallbacks for whatever the host left out.
 * @param {{minLength?: unknown, maxLength?: unknown, characters?: unknown, [other: string]: unknown} | null | undefined} status
 * @returns {PinRule}
 */
export function pinRule(status) {
  return {
    minLength: length(status?.minLength, FALLBACK_MIN),
    maxLength: length(status?.maxLength, FALLBACK_MAX),
    characters: typeof status?.characters === "string" ? status.characters : "",
  };
}

/**
 * What is wrong with pin under rule: "" when it may be sent, "chars" when it
 * holds a character the rule refuses, "length" when it is too short or too
 * long.
 * @param {string} pin
 * @param {PinRule} rule
 * @returns {"" | "chars" | "length"}
 */
export function pinProblem(pin, rule) {
  if (!(rule.characters === "alnum" ? ALNUM : PRINTABLE).test(pin)) return "chars";
  if (pin.length < rule.minLength || pin.length > rule.maxLength) return "length";
  return "";
}
