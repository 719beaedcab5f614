// Package cards is the one way to a card. It owns the backends that reach
// cards (PIV over PC/SC, the direct virtual reader; PKCS#11 modules through
// internal/cards/p11, which the caller hands in as Options.Extra), the
// per-reader locks that serialise operations within the process (PC/SC
// transactions do it across processes), the warm certificate cache,
// finding the card that holds a certificate, what each certificate may be
// used for, and the card operations: sign (raw and CMS), authenticate,
// decrypt, PIN status, change and unblock.
//
// The native-messaging host, the command line, the environment check and
// the document exchange all reach cards through a Manager. It does not
// know the wire protocol or its error codes (the edge maps this package's
// typed errors), never logs a PIN, and never retries one.
package cards
