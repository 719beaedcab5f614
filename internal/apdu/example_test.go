package apdu_test

import (
	"errors"
	"fmt"

	"github.com/cardbridge/cardbridge/internal/apdu"
)

// Example builds the SELECT of the PIV application and a VERIFY of the PIV
// Application PIN, and reads the tries left from a card's 63C2 answer.
func Example() {
	pivAID := []byte{0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00}
	sel := apdu.Command{CLA: 0x00, INS: 0xA4, P1: 0x04, P2: 0x00, Data: pivAID, Ne: 256}
	b, err := sel.Bytes()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("SELECT: % X\n", b)

	// PIN "123456" padded with FF to 8 bytes; String never shows it.
	verify := apdu.Command{CLA: 0x00, INS: 0x20, P1: 0x00, P2: 0x80,
		Data: []byte{'1', '2', '3', '4', '5', '6', 0xFF, 0xFF}}
	fmt.Println("VERIFY:", verify)

	resp, err := apdu.ParseResponse([]byte{0x63, 0xC2})
	if err != nil {
		fmt.Println(err)
		return
	}
	err = fmt.Errorf("verify PIN: %w", resp.Err())
	var st apdu.Status
	if errors.Is(err, apdu.ErrWrongPIN) && errors.As(err, &st) {
		n, _ := st.TriesLeft()
		fmt.Println("wrong PIN, tries left:", n)
	}
	fmt.Println(err)
	// Output:
	// SELECT: 00 A4 04 00 09 A0 00 00 03 08 00 00 10 00 00
	// VERIFY: 00 20 00 80 Lc=8 Ne=0
	// wrong PIN, tries left: 2
	// verify PIN: card status 63C2 (verification failed, 2 tries left)
}

// ExampleCommand_Chain splits a 600-byte PUT DATA into short APDUs.
func ExampleCommand_Chain() {
	put := apdu.Command{CLA: 0x00, INS: 0xDB, P1: 0x3F, P2: 0xFF, Data: make([]byte, 600)}
	for _, c := range put.Chain(apdu.MaxShortData) {
		fmt.Println(c)
	}
	// Output:
	// 10 DB 3F FF Lc=255 Ne=0
	// 10 DB 3F FF Lc=255 Ne=0
	// 00 DB 3F FF Lc=90 Ne=0
}

// ExampleFind reads the PIN usage policy from the PIV Discovery Object.
func ExampleFind() {
	discovery := []byte{0x7E, 0x12,
		0x4F, 0x0B, 0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00,
		0x5F, 0x2F, 0x02, 0x40, 0x00}
	body, ok, err := apdu.Find(discovery, 0x7E)
	if err != nil || !ok {
		fmt.Println("no discovery object", err)
		return
	}
	policy, ok, err := apdu.Find(body, 0x5F2F)
	if err != nil || !ok {
		fmt.Println("no PIN usage policy", err)
		return
	}
	fmt.Printf("PIN usage policy: % X\n", policy)
	// Output:
	// PIN usage policy: 40 00
}
