package testca_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/cardbridge/cardbridge/internal/certinfo"
	"github.com/cardbridge/cardbridge/internal/testca"
)

// A test hierarchy issues the signature certificate (cert1) of an
// organisation card; certinfo reads it back as a TEST XCA certificate.
func ExampleHierarchy_Issue() {
	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	h, err := testca.New(nil, now)
	if err != nil {
		panic(err)
	}
	// On a real card the key pair lives on the card; Issue sees only the
	// public key.
	cardKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	org := testca.Org{Name: "測試幼兒園", UBN: "04595252", OrgCode: "A123456789", CardSerial: "TEST000000000001"}
	cert, err := h.Issue(nil, cardKey.Public(), org, testca.Signature, now, now.AddDate(2, 0, 0))
	if err != nil {
		panic(err)
	}
	info := certinfo.Describe(cert, now)
	fmt.Println(info.Holder, info.CA, info.Test, info.UBN, info.UBNValid, info.OrgCode, info.Usage)
	fmt.Println(info.Subject)
	// Output:
	// 測試幼兒園 XCA true 04595252 true A123456789 signature
	// CN=測試幼兒園,SERIALNUMBER=04595252,O=測試幼兒園,C=TW
}
