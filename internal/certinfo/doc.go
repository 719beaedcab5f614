// Package certinfo owns the reading of X.509 certificates from Taiwan
// certificate IC cards (XCA organisation cards, GCA, MOICA, MOEACA) into the
// facts a clerk needs: who holds the card (organisation or person), the
// 統一編號 (UBN) and its check digit, the organisation code, which
// certificate authority issued it and whether that CA is a test CA, what the
// key is for (signature or encryption), and how long the certificate is
// still valid.
//
// It also owns the parser for the subject directory attributes extension
// (2.5.29.9) that carries the Taiwan private OIDs (2.16.886.1.100.2.*), and
// the 統一編號 checksum.
//
// It must not do I/O, talk to cards, verify chains, check revocation or make
// trust decisions: [Describe] reports what a certificate says about itself,
// not whether it should be believed. Chain building and revocation belong to
// the callers that hold trust anchors. Every parser here takes bytes from
// outside the process (a card, a browser) and bounds what it allocates.
//
// References:
//   - RFC 5280 §4.2.1.8 (subject directory attributes), §4.2.1.3 (key usage).
//   - RFC 4514 (string representation of distinguished names).
//   - The certificate practice statements and repositories of Taiwan's
//     government CAs (MOICA https://moica.nat.gov.tw/, XCA
//     https://xca.nat.gov.tw/, GCA https://gca.nat.gov.tw/, GRCA
//     https://grca.nat.gov.tw/): certificate profiles, the private OIDs
//     under 2.16.886.1.100, issuer DN patterns.
//   - 財政部財政資訊中心 (https://www.fia.gov.tw/): the 統一編號 check-digit
//     rule and its change of 2023-04-01 (divisible by 5 instead of 10).
package certinfo
