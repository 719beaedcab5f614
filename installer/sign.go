package main

import (
	"fmt"
	"os"
)

// Authenticode signing with osslsigncode (Debian's): the programs before
// they go into the MSI, then the MSI itself once msibuild has finished
// with it (a table written after signing would break the signature).
// Without a certificate nothing is signed (a development MSI); make
// release passes SIGN_CERT and SIGN_KEY, and the tests sign with a TEST
// certificate to prove the path.

// signer is a code-signing certificate (PEM, with its chain) and its key
// (PEM); Timestamp, when set, is an RFC 3161 time-stamp authority's URL,
// so that signatures outlive the certificate.
type signer struct {
	Cert, Key, Timestamp string
}

// sign replaces path with its signed copy.
func (s *signer) sign(path string) error {
	if s == nil {
		return nil
	}
	args := []string{"sign", "-certs", s.Cert, "-key", s.Key, "-h", "sha256",
		"-n", "CardBridge", "-i", "https://cardbridge.tw/", "-in", path, "-out", path + ".signed"}
	if s.Timestamp != "" {
		args = append(args, "-ts", s.Timestamp)
	}
	if err := tool("osslsigncode", args...); err != nil {
		os.Remove(path + ".signed")
		return fmt.Errorf("signing %s: %w (apt-get install osslsigncode)", path, err)
	}
	return os.Rename(path+".signed", path)
}
