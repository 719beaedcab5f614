// Package hicos recognises Chunghwa Telecom's first-generation HiCOS cards
// (MOICA 自然人憑證, MOEACA 工商憑證, XCA 組織及團體憑證, GCA 政府憑證) and
// reads their certificates with the card's public, read-only commands, so
// that CardBridge can show whose card it is and what is missing before the
// vendor's PKCS#11 module is installed.
//
// What this package may send is deliberately small: SELECT FILE and READ
// BINARY with class byte 80, on the files a public reader of these cards
// names (github.com/orsonwang/Taiwan_CDC_RI, CDCScript.c: MF 3F00, 0900/0905
// holding the version string "CHT V32N", 0900/0903 the card number, DF 5030
// with the certificate file 08F2). The card's PIN verification, signing and
// decryption use a key that only the vendor's module holds; this package
// never sends them (Conn-level tests assert the commands it sends), and
// every key operation on such a card goes through the vendor's module
// (internal/cards/p11) or is refused with ErrClientNeeded.
//
// Second-generation cards (the GPPKI applet behind secure messaging) answer
// none of these commands the same way and are reached only through the
// vendor's module.
package hicos

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"github.com/cardbridge/cardbridge/internal/apdu"
)

// The commands this package sends: class 80 (the card refuses class 00
// with 6E00), SELECT FILE by identifier and READ BINARY at an offset.
const (
	cla        = 0x80
	insSelect  = 0xA4
	insReadBin = 0xB0
)

// File identifiers (Taiwan_CDC_RI, CDCScript.c).
var (
	fileMF       = [2]byte{0x3F, 0x00}
	fileInfoDF   = [2]byte{0x09, 0x00}
	fileSerial   = [2]byte{0x09, 0x03}
	fileVersion  = [2]byte{0x09, 0x05}
	fileCertDF   = [2]byte{0x50, 0x30}
	fileCertFile = [2]byte{0x08, 0xF2}
)

// CertOffsets are where the certificate file 08F2 keeps its four DER
// certificates: the root CA, the issuing CA and the holder's two (one for
// signing, one for encryption; which is which is read from the key usage,
// not the position, since public notes disagree on the order).
var CertOffsets = []int{0x0000, 0x0700, 0x0E00, 0x1500}

// slotSize is the room between two certificates in 08F2; a length that
// does not fit is a damaged file, not a reason to read further.
const slotSize = 0x0700

// chunk is how many bytes one READ BINARY asks for, as the public reader
// does (200): within every reader's short-APDU limit.
const chunk = 200

// versionLen and serialLen are how much of 0905 and 0903 is read.
const (
	versionLen = 0x14
	serialLen  = 0x10
)

// ErrNotHiCOS reports a card that does not answer as a gen-1 HiCOS card.
var ErrNotHiCOS = errors.New("not a HiCOS card")

// ErrClientNeeded reports an operation this card does only through
// Chunghwa Telecom's HiCOS client (its PKCS#11 module): the card's PIN
// verification is wrapped with the vendor's secret.
var ErrClientNeeded = errors.New("this HiCOS card signs, decrypts and changes its PIN only through the HiCOS client (its PKCS#11 module)")

// Info is what identifies a gen-1 HiCOS card.
type Info struct {
	// Version is the card's version string, e.g. "CHT V32N".
	Version string
	// Serial is the 16-character card number printed on the card, "" when
	// the card does not give one.
	Serial string
}

// Transactor is implemented by connections that keep other programs'
// commands out of a multi-command read (pcsc.Card does).
type Transactor interface {
	Begin() error
	End() error
}

// Identify selects the version file and reads it; a card whose answer is
// not a "CHT V…" version string is ErrNotHiCOS. Other programs' commands
// are kept out while it reads when conn is a Transactor.
func Identify(conn apdu.Transmitter) (Info, error) {
	var info Info
	err := within(conn, func() error {
		conn := readOnly{conn}
		v, err := readFile(conn, [][2]byte{fileMF, fileInfoDF, fileVersion}, versionLen)
		if err != nil {
			return err
		}
		if info.Version, err = ParseVersion(v); err != nil {
			return err
		}
		if s, err := readFile(conn, [][2]byte{fileMF, fileInfoDF, fileSerial}, serialLen); err == nil {
			info.Serial = ParseSerial(s)
		}
		return nil
	})
	return info, err
}

// Certificates reads the certificates in 08F2. Slots that are empty or
// damaged are left out and reported in skipped (with the offset), so one bad
// slot does not hide the others.
func Certificates(conn apdu.Transmitter) (certs []*x509.Certificate, skipped []error, err error) {
	err = within(conn, func() error {
		conn := readOnly{conn}
		if err := selectPath(conn, [][2]byte{fileMF, fileCertDF, fileCertFile}); err != nil {
			return err
		}
		certs, skipped = ReadCertFile(func(off, n int) ([]byte, error) { return readBinary(conn, off, n) })
		return nil
	})
	return certs, skipped, err
}

// ReadCertFile reads the certificates of 08F2 through read (which returns
// up to n bytes at offset off): at each of CertOffsets the DER header gives
// the length, then the certificate is read in chunks and parsed. It is the
// parsing half of Certificates, without a card (fuzzed).
func ReadCertFile(read func(off, n int) ([]byte, error)) (certs []*x509.Certificate, skipped []error) {
	for _, off := range CertOffsets {
		head, err := read(off, 4)
		if err != nil {
			skipped = append(skipped, fmt.Errorf("certificate at %04X: %w", off, err))
			continue
		}
		n, err := DERLength(head)
		if errors.Is(err, errEmpty) {
			continue
		}
		if err != nil {
			skipped = append(skipped, fmt.Errorf("certificate at %04X: %w", off, err))
			continue
		}
		der := make([]byte, 0, n)
		for len(der) < n {
			want := min(chunk, n-len(der))
			b, err := read(off+len(der), want)
			if err != nil {
				break
			}
			if len(b) == 0 || len(b) > want {
				err = fmt.Errorf("read %d bytes, asked %d: %w", len(b), want, apdu.ErrMalformed)
				skipped = append(skipped, fmt.Errorf("certificate at %04X: %w", off, err))
				der = nil
				break
			}
			der = append(der, b...)
		}
		if len(der) != n {
			if der != nil {
				skipped = append(skipped, fmt.Errorf("certificate at %04X: short read (%d of %d bytes)", off, len(der), n))
			}
			continue
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			skipped = append(skipped, fmt.Errorf("certificate at %04X: %w", off, err))
			continue
		}
		certs = append(certs, c)
	}
	return certs, skipped
}

// errEmpty marks a certificate slot that holds nothing (erased flash reads
// FF, a never-written file 00).
var errEmpty = errors.New("empty slot")

// DERLength is the whole length (header included) of the DER SEQUENCE
// whose first bytes are head: 30 82 hi lo, 30 81 n or 30 n. A slot that does
// not start with a SEQUENCE is empty; a length over the slot's room is
// apdu.ErrMalformed.
func DERLength(head []byte) (int, error) {
	if len(head) < 2 || head[0] != 0x30 {
		return 0, errEmpty
	}
	var n int
	switch l := head[1]; {
	case l < 0x80:
		n = 2 + int(l)
	case l == 0x81 && len(head) >= 3:
		n = 3 + int(head[2])
	case l == 0x82 && len(head) >= 4:
		n = 4 + (int(head[2])<<8 | int(head[3]))
	default:
		return 0, fmt.Errorf("certificate length form %02X: %w", l, apdu.ErrMalformed)
	}
	if n > slotSize {
		return 0, fmt.Errorf("certificate of %d bytes does not fit its %d-byte slot: %w", n, slotSize, apdu.ErrMalformed)
	}
	return n, nil
}

// ParseVersion reads the version file's content: ASCII, padded with zeros,
// spaces or FF; it must start with "CHT V" (e.g. "CHT V32N").
func ParseVersion(b []byte) (string, error) {
	v := trimPad(b)
	if !strings.HasPrefix(v, "CHT V") || len(v) > versionLen || !printable(v) {
		return "", fmt.Errorf("version %q: %w", truncate(v, 24), ErrNotHiCOS)
	}
	return v, nil
}

// ParseSerial reads the card-number file: 16 printable ASCII characters;
// anything else is no number ("").
func ParseSerial(b []byte) string {
	s := trimPad(b)
	if s == "" || len(s) > serialLen || !printable(s) {
		return ""
	}
	return s
}

func trimPad(b []byte) string {
	if i := bytes.IndexAny(b, "\x00\xff"); i >= 0 {
		b = b[:i]
	}
	return strings.TrimSpace(string(b))
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7E {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// within runs f inside one PC/SC transaction when conn offers them.
func within(conn apdu.Transmitter, f func() error) error {
	if tx, ok := conn.(Transactor); ok {
		if err := tx.Begin(); err != nil {
			return err
		}
		defer tx.End()
	}
	return f()
}

// readFile selects path and reads n bytes from its start.
func readFile(conn apdu.Transmitter, path [][2]byte, n int) ([]byte, error) {
	if err := selectPath(conn, path); err != nil {
		return nil, err
	}
	return readBinary(conn, 0, n)
}

// errNotSent reports a command this package must not send a card (a GET
// RESPONSE a card's answer asked for): see readOnly.
var errNotSent = errors.New("command not sent: only class-80 SELECT FILE and READ BINARY go to a HiCOS card")

// readOnly passes on class-80 SELECT FILE and READ BINARY only, whatever
// the card answers (apdu.Transceive would follow a "61xx" with GET
// RESPONSE): the package's promise holds by construction.
type readOnly struct{ conn apdu.Transmitter }

func (r readOnly) Transmit(cmd []byte) ([]byte, error) {
	if len(cmd) < 4 || cmd[0] != cla || (cmd[1] != insSelect && cmd[1] != insReadBin) {
		return nil, fmt.Errorf("% X: %w", cmd[:min(len(cmd), 4)], errNotSent)
	}
	return r.conn.Transmit(cmd)
}

// selectPath selects each file of path in turn. A card that refuses the
// class byte or the command is ErrNotHiCOS; a missing file too. An answer
// "61xx" (a T=0 card offering the file's FCI) selected the file; the FCI is
// not asked for.
func selectPath(conn apdu.Transmitter, path [][2]byte) error {
	for _, fid := range path {
		b, err := apdu.Command{CLA: cla, INS: insSelect, Data: fid[:]}.Bytes()
		if err != nil {
			return fmt.Errorf("select %X: %w", fid, err)
		}
		raw, err := conn.Transmit(b)
		if err != nil {
			return fmt.Errorf("select %X: %w", fid, err)
		}
		r, err := apdu.ParseResponse(raw)
		if err != nil {
			return fmt.Errorf("select %X: %w", fid, err)
		}
		if r.SW1() == apdu.SW1MoreData {
			continue
		}
		if err := r.Err(); err != nil {
			return fmt.Errorf("select %X: %w: %w", fid, ErrNotHiCOS, err)
		}
	}
	return nil
}

// readBinary reads up to n (at most chunk) bytes at off of the selected file.
func readBinary(conn apdu.Transmitter, off, n int) ([]byte, error) {
	if off < 0 || off > 0x7FFF || n <= 0 || n > chunk {
		return nil, fmt.Errorf("read binary at %d, %d bytes: %w", off, n, apdu.ErrMalformed)
	}
	r, err := apdu.Transceive(conn, apdu.Command{CLA: cla, INS: insReadBin, P1: byte(off >> 8), P2: byte(off), Ne: n})
	if err != nil {
		return nil, fmt.Errorf("read binary at %04X: %w", off, err)
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("read binary at %04X: %w", off, err)
	}
	if len(r.Data) > n {
		return nil, fmt.Errorf("read binary at %04X: %d bytes for %d asked: %w", off, len(r.Data), n, apdu.ErrMalformed)
	}
	return r.Data, nil
}
