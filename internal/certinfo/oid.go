package certinfo

import "encoding/asn1"

// Object identifiers read by this package. The Taiwan private OIDs live in
// the subject directory attributes extension (RFC 5280 §4.2.1.8, with OIDs under Taiwan's government PKI arc). The
// variables are shared slices: callers must not modify them.
var (
	// OIDSubjectDirectoryAttributes is the X.509 subject directory
	// attributes extension, RFC 5280 §4.2.1.8.
	OIDSubjectDirectoryAttributes = asn1.ObjectIdentifier{2, 5, 29, 9}

	// OIDSubjectClass is the subject class attribute; its value is an OID
	// such as 2.16.886.1.100.3.2.2.1.1.
	OIDSubjectClass = asn1.ObjectIdentifier{2, 16, 886, 1, 100, 2, 1}

	// OIDCardRank is the card rank attribute (primary or secondary card).
	OIDCardRank = asn1.ObjectIdentifier{2, 16, 886, 1, 100, 2, 2}

	// OIDIDLast4 is the MOICA attribute holding the last four characters
	// of the holder's national ID number (the full number is not in the
	// certificate).
	OIDIDLast4 = asn1.ObjectIdentifier{2, 16, 886, 1, 100, 2, 51}

	// OIDUBN is the attribute holding the 8-digit 統一編號 (MOEACA, and
	// XCA where the group has one).
	OIDUBN = asn1.ObjectIdentifier{2, 16, 886, 1, 100, 2, 101}

	// OIDOrgCode is the GCA/XCA organisation code attribute. GCA and XCA
	// use the same OID; the issuer tells them apart.
	OIDOrgCode = asn1.ObjectIdentifier{2, 16, 886, 1, 100, 2, 102}

	// OIDCardSerial is the card (token) serial number attribute.
	OIDCardSerial = asn1.ObjectIdentifier{2, 16, 886, 1, 100, 2, 204}
)
