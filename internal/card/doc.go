// Package card owns the card application CardBridge speaks: the PIV client
// (NIST SP 800-73-4) that selects the application, reads certificates,
// reports and verifies the PIN, changes and unblocks it, signs digests
// (PKCS#1 v1.5, PSS, ECDSA) and decrypts (PKCS#1 v1.5, OAEP), and the Token
// interface the host uses so that a vendor PKCS#11 backend can stand beside
// PIV later.
//
// It depends on one narrow interface, Conn (one Transmit), so unit tests
// run it against the virtual card in process or a scripted card; Open is
// the only place that reaches PC/SC. It never logs, never keeps a PIN after
// the call that used it, and never sends a PIN twice on its own.
//
// References: NIST SP 800-73-4 Part 1 §3 (data objects) and Part 2 §3
// (commands); SP 800-78-4 Table 6-2; RFC 8017 (PKCS#1 v2.2) §7.1, §7.2,
// §9.1, §9.2.
package card
