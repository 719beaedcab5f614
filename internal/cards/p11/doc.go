// Package p11 is the PKCS#11 backend of internal/cards: it reaches tokens
// through a vendor's PKCS#11 module (HiCOS for Taiwan's certificate cards;
// SoftHSM2 in tests) and offers them as cards.Backend and cards.Token, so
// nothing above internal/cards changes.
//
// It owns: loading a module once per process (a registry keyed by the
// module's absolute path; C_Initialize once, C_Finalize never, since other
// backends of the same module may be in use), refusing a module file or
// folder writable by others, listing slots as readers, pairing
// certificates with keys by CKA_ID, the key operations (sign, decrypt, PIN
// change and unblock), mapping every CKR to the typed errors the edge
// already knows (card.AuthError, card.ErrPINFormat, pcsc.ErrNoCard, …), and
// bounding every module call in time.
//
// It must not: pass a PIN that breaks card.Rule to a module, retry a PIN,
// keep, log or print a PIN, stay logged in after an operation, decide what
// a certificate may be used for (cards.CapabilitiesOf does), or know the
// wire protocol and its codes (internal/errcode maps its errors).
//
// The module is C code loaded into the process, so the backend needs cgo;
// without cgo, New returns ErrNoCgo.
package p11
