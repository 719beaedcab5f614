// Package testca owns a clearly marked TEST certificate authority that
// mimics the XCA (組織及團體憑證管理中心) certificate profile, so that tests
// and the demo can produce organisation-card certificates without a real
// card or a real CA.
//
// Every certificate it makes says so: the root is "CardBridge TEST Root CA
// 僅供測試" and the issuing CA has OU "測試用組織及團體憑證管理中心" and CN
// "CardBridge TEST XCA 僅供測試 NOT FOR PRODUCTION", which
// certinfo.Describe reports as CA XCA with Test set.
//
// It must not be used in production code paths, must not hold or load real
// CA keys or real certificates (UnmarshalPEM refuses CAs that are not
// marked TEST), and never sees card private keys: [Hierarchy.Issue] signs a
// public key the caller supplies. Keys are stored unencrypted by
// [Hierarchy.MarshalPEM]; that is acceptable only because nothing trusts
// this CA.
//
// References:
//   - RFC 5280 §4.2.1 (basicConstraints, key usage, key identifiers, subject
//     directory attributes), RFC 7093 §2 method 1 (key identifiers).
//   - The certificate practice statements of Taiwan's government CAs
//     (組織及團體憑證管理中心 XCA, https://xca.nat.gov.tw/; the GRCA
//     repository, https://grca.nat.gov.tw/): XCA subject, subject directory
//     attributes under arc 2.16.886.1.100, issuer DN, separate signing
//     (cert1) and encryption (cert2) certificates.
package testca
