package protocol

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	testCID = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	testPIN = "135790" // never appears in an error, a log or a reply
)

// seq is n bytes of a recognisable pattern.
func seq(n int) Bytes {
	b := make(Bytes, n)
	for i := range b {
		b[i] = byte(i*7 + 1)
	}
	return b
}

// b64 is the standard base64 of seq(n).
func b64(n int) string { return base64.StdEncoding.EncodeToString(seq(n)) }

// obj joins JSON members into an object.
func obj(members ...string) string { return "{" + strings.Join(members, ",") + "}" }

// str is a JSON member with a string value, written as is (no escaping).
func str(key, val string) string { return fmt.Sprintf("%q:\"%s\"", key, val) }

var (
	mCID = str("certificateId", testCID)
	mPIN = str("pin", testPIN)
)

func yes() *bool { b := true; return &b }
func no() *bool  { b := false; return &b }

type argCase struct {
	name string
	raw  string
	dst  func() any
	// want is the decoded struct on success; nil when an error is wanted.
	want     any
	wantCode Code
	wantArg  string
}

func sign() any         { return new(SignArgs) }
func authenticate() any { return new(AuthenticateArgs) }
func decrypt() any      { return new(DecryptArgs) }
func changePIN() any    { return new(ChangePINArgs) }
func unblockPIN() any   { return new(UnblockPINArgs) }
func cardArgs() any     { return new(CardArgs) }
func readerArgs() any   { return new(ReaderArgs) }
func noArgs() any       { return new(NoArgs) }

func signCases() []argCase {
	sha256 := str("hashAlgorithm", "SHA-256")
	digest := str("digest", b64(32))
	base := []string{mCID, mPIN, sha256}
	with := func(m ...string) string { return obj(append(append([]string{}, base...), m...)...) }
	bad := func(name, raw, arg string) argCase {
		return argCase{name: "sign/" + name, raw: raw, dst: sign, wantCode: ErrBadArgument, wantArg: arg}
	}
	missing := func(name, raw, arg string) argCase {
		return argCase{name: "sign/" + name, raw: raw, dst: sign, wantCode: ErrMissingArgument, wantArg: arg}
	}
	cs := []argCase{
		{name: "sign/digest", raw: with(digest), dst: sign,
			want: &SignArgs{CertificateID: testCID, PIN: Secret(testPIN), HashAlgorithm: "SHA-256", Digest: seq(32)}},
		{name: "sign/SHA-384 digest", raw: obj(mCID, mPIN, str("hashAlgorithm", "SHA-384"), str("digest", b64(48))), dst: sign,
			want: &SignArgs{CertificateID: testCID, PIN: Secret(testPIN), HashAlgorithm: "SHA-384", Digest: seq(48)}},
		{name: "sign/SHA-512 digest raw", raw: obj(mCID, mPIN, str("hashAlgorithm", "SHA-512"), str("digest", b64(64)), str("format", "raw")), dst: sign,
			want: &SignArgs{CertificateID: testCID, PIN: Secret(testPIN), HashAlgorithm: "SHA-512", Digest: seq(64), Format: "raw"}},
		{name: "sign/raw data", raw: with(str("data", b64(100))), dst: sign,
			want: &SignArgs{CertificateID: testCID, PIN: Secret(testPIN), HashAlgorithm: "SHA-256", Data: seq(100)}},
		{name: "sign/empty data", raw: with(str("data", "")), dst: sign,
			want: &SignArgs{CertificateID: testCID, PIN: Secret(testPIN), HashAlgorithm: "SHA-256", Data: Bytes{}}},
		{name: "sign/cms with nonce and serial", raw: with(str("data", b64(3)), str("format", "cms"), str("nonce", "abcd"), `"withCardSerial":false`), dst: sign,
			want: &SignArgs{CertificateID: testCID, PIN: Secret(testPIN), HashAlgorithm: "SHA-256", Data: seq(3), Format: "cms", Nonce: "abcd", WithCardSerial: no()}},
		{name: "sign/cms withCardSerial true", raw: with(str("data", b64(3)), str("format", "cms"), `"withCardSerial":true`), dst: sign,
			want: &SignArgs{CertificateID: testCID, PIN: Secret(testPIN), HashAlgorithm: "SHA-256", Data: seq(3), Format: "cms", WithCardSerial: yes()}},
		{name: "sign/data at MaxDataSize", raw: with(str("data", b64(MaxDataSize))), dst: sign,
			want: &SignArgs{CertificateID: testCID, PIN: Secret(testPIN), HashAlgorithm: "SHA-256", Data: seq(MaxDataSize)}},
		{name: "sign/nonce 128", raw: with(str("data", b64(1)), str("format", "cms"), str("nonce", strings.Repeat("n", 128))), dst: sign,
			want: &SignArgs{CertificateID: testCID, PIN: Secret(testPIN), HashAlgorithm: "SHA-256", Data: seq(1), Format: "cms", Nonce: strings.Repeat("n", 128)}},
		{name: "sign/pin 16 printable", raw: obj(mCID, `"pin":"Ab9 !~#$%&'()*+,"`, sha256, digest), dst: sign,
			want: &SignArgs{CertificateID: testCID, PIN: Secret("Ab9 !~#$%&'()*+,"), HashAlgorithm: "SHA-256", Digest: seq(32)}},

		// Keys.
		bad("unknown key", with(digest, str("lang", "zh")), "lang"),
		// padding is gone: raw signatures are PKCS#1 v1.5 only, and a PSS
		// signature over a digest a page chose would be a login token.
		bad("padding PSS is unknown", with(digest, str("padding", "PSS")), "padding"),
		bad("padding PKCS1.5 is unknown", with(digest, str("padding", "PKCS1.5")), "padding"),
		bad("padding with cms is unknown", with(str("data", b64(1)), str("format", "cms"), str("padding", "PKCS1.5")), "padding"),
		bad("key in other case", obj(mCID, str("PIN", testPIN), sha256, digest), "PIN"),
		bad("duplicate key", with(digest, digest), ""),
		bad("duplicate pin", obj(mCID, mPIN, mPIN, sha256, digest), ""),
		missing("missing certificateId", obj(mPIN, sha256, digest), "certificateId"),
		missing("missing pin", obj(mCID, sha256, digest), "pin"),
		missing("missing hashAlgorithm", obj(mCID, mPIN, digest), "hashAlgorithm"),
		missing("empty object", `{}`, "certificateId"),

		// Not an object.
		bad("array", `[]`, ""),
		bad("string", `"x"`, ""),
		bad("null", `null`, ""),
		bad("empty", ``, ""),
		bad("trailing data", with(digest)+`{}`, ""),

		// Types.
		bad("null value", with(digest, `"format":null`), "format"),
		bad("null pin", obj(mCID, `"pin":null`, sha256, digest), "pin"),
		bad("number for string", with(digest, `"format":1`), "format"),
		bad("number for pin", obj(mCID, `"pin":135790`, sha256, digest), "pin"),
		bad("number for digest", with(`"digest":12`), "digest"),
		bad("string for bool", with(str("data", b64(1)), str("format", "cms"), str("withCardSerial", "true")), "withCardSerial"),
		bad("number for bool", with(str("data", b64(1)), str("format", "cms"), `"withCardSerial":1`), "withCardSerial"),
		bad("object for string", with(digest, `"nonce":{}`), "nonce"),
		bad("array for string", with(digest, `"format":["raw"]`), "format"),
		bad("array for digest", with(`"digest":[1,2]`), "digest"),
		bad("object for pin", obj(mCID, `"pin":{}`, sha256, digest), "pin"),

		// Strings and rules.
		bad("certificateId upper case", obj(str("certificateId", strings.ToUpper(testCID)), mPIN, sha256, digest), "certificateId"),
		bad("certificateId 63", obj(str("certificateId", testCID[:63]), mPIN, sha256, digest), "certificateId"),
		bad("certificateId 65", obj(str("certificateId", testCID+"0"), mPIN, sha256, digest), "certificateId"),
		bad("certificateId not hex", obj(str("certificateId", "g"+testCID[1:]), mPIN, sha256, digest), "certificateId"),
		bad("certificateId empty", obj(str("certificateId", ""), mPIN, sha256, digest), "certificateId"),
		bad("hashAlgorithm SHA-1", obj(mCID, mPIN, str("hashAlgorithm", "SHA-1"), digest), "hashAlgorithm"),
		bad("hashAlgorithm lower case", obj(mCID, mPIN, str("hashAlgorithm", "sha-256"), digest), "hashAlgorithm"),
		bad("hashAlgorithm empty", obj(mCID, mPIN, str("hashAlgorithm", ""), digest), "hashAlgorithm"),
		bad("format pdf", with(digest, str("format", "pdf")), "format"),
		bad("nonce 3", with(str("data", b64(1)), str("format", "cms"), str("nonce", "abc")), "nonce"),
		bad("nonce 129", with(str("data", b64(1)), str("format", "cms"), str("nonce", strings.Repeat("n", 129))), "nonce"),
		bad("pin 17", obj(mCID, str("pin", "12345678901234567"), sha256, digest), "pin"),
		bad("pin escape", obj(mCID, `"pin":"\u0031\u0032\u0033\u0034\u0035\u0036"`, sha256, digest), "pin"),
		bad("pin escaped quote", obj(mCID, `"pin":"12\"456"`, sha256, digest), "pin"),
		bad("pin non-ASCII", obj(mCID, `"pin":"1234５6"`, sha256, digest), "pin"),
		bad("pin tab", obj(mCID, `"pin":"1234\t6"`, sha256, digest), "pin"),

		// Base64.
		bad("digest empty", with(str("digest", "")), "digest"),
		bad("digest not base64", with(str("digest", strings.Repeat("!", 44))), "digest"),
		bad("digest URL-safe", with(str("digest", strings.ReplaceAll(strings.ReplaceAll(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xfb, 0xff}, 16)), "+", "-"), "/", "_"))), "digest"),
		bad("digest no padding", with(str("digest", strings.TrimRight(b64(32), "="))), "digest"),
		bad("digest bad padding bits", with(str("digest", b64(31)[:42]+"B=")), "digest"),
		bad("digest with newline", with(str("digest", b64(32)[:20]+`\n`+b64(32)[20:])), "digest"),
		bad("digest with CR LF", with(str("digest", b64(32)[:20]+`\r\n`+b64(32)[20:])), "digest"),
		bad("digest with space", with(str("digest", b64(32)[:20]+` `+b64(32)[20:])), "digest"),
		bad("digest 65 bytes", with(str("digest", b64(65))), "digest"),
		bad("data over MaxDataSize", with(str("data", b64(MaxDataSize+1))), "data"),

		// Rules across fields.
		bad("digest and data", with(digest, str("data", b64(1))), "digest"),
		bad("neither digest nor data", with(), "digest"),
		bad("cms without data", with(digest, str("format", "cms")), "data"),
		bad("nonce without cms", with(digest, str("nonce", "abcd")), "nonce"),
		bad("nonce with raw", with(str("data", b64(1)), str("format", "raw"), str("nonce", "abcd")), "nonce"),
		bad("withCardSerial without cms", with(digest, `"withCardSerial":true`), "withCardSerial"),
	}
	for _, alg := range []struct {
		name string
		size int
	}{{"SHA-256", 32}, {"SHA-384", 48}, {"SHA-512", 64}} {
		for _, n := range []int{alg.size - 1, alg.size + 1, 1, 20} {
			if n == alg.size || n > 64 {
				continue
			}
			cs = append(cs, bad(fmt.Sprintf("%s digest of %d bytes", alg.name, n),
				obj(mCID, mPIN, str("hashAlgorithm", alg.name), str("digest", b64(n))), "digest"))
		}
	}
	for _, pair := range [][2]string{{"SHA-256", "SHA-384"}, {"SHA-384", "SHA-512"}, {"SHA-512", "SHA-256"}} {
		cs = append(cs, bad(pair[0]+" with a "+pair[1]+" digest",
			obj(mCID, mPIN, str("hashAlgorithm", pair[0]), str("digest", b64(HashSize(pair[1])))), "digest"))
	}
	return cs
}

func otherCases() []argCase {
	ch32, ch64 := b64(32), b64(64)
	bad := func(name, raw string, dst func() any, arg string) argCase {
		return argCase{name: name, raw: raw, dst: dst, wantCode: ErrBadArgument, wantArg: arg}
	}
	missing := func(name, raw string, dst func() any, arg string) argCase {
		return argCase{name: name, raw: raw, dst: dst, wantCode: ErrMissingArgument, wantArg: arg}
	}
	reader := strings.Repeat("r", 128)
	return []argCase{
		{name: "authenticate/32 bytes", raw: obj(mCID, mPIN, str("challenge", ch32)), dst: authenticate,
			want: &AuthenticateArgs{CertificateID: testCID, PIN: Secret(testPIN), Challenge: ch32}},
		{name: "authenticate/64 bytes", raw: obj(mCID, mPIN, str("challenge", ch64)), dst: authenticate,
			want: &AuthenticateArgs{CertificateID: testCID, PIN: Secret(testPIN), Challenge: ch64}},
		bad("authenticate/not base64", obj(mCID, mPIN, str("challenge", strings.Repeat("!", 44))), authenticate, "challenge"),
		bad("authenticate/URL-safe", obj(mCID, mPIN, str("challenge", strings.Repeat("_", 44))), authenticate, "challenge"),
		bad("authenticate/31 bytes", obj(mCID, mPIN, str("challenge", b64(31))), authenticate, "challenge"),
		bad("authenticate/65 bytes", obj(mCID, mPIN, str("challenge", b64(65))), authenticate, "challenge"),
		bad("authenticate/43 chars", obj(mCID, mPIN, str("challenge", ch32[:43])), authenticate, "challenge"),
		bad("authenticate/89 chars", obj(mCID, mPIN, str("challenge", ch64+"A")), authenticate, "challenge"),
		bad("authenticate/padding inside", obj(mCID, mPIN, str("challenge", ch32[:40]+"A=AA")), authenticate, "challenge"),
		// The challenge is signed as its text, so the text itself must be
		// base64: escapes that JSON would turn into base64 do not count.
		bad("authenticate/escaped backslash u", obj(mCID, mPIN, str("challenge", `\\u0041`+ch32[1:])), authenticate, "challenge"),
		bad("authenticate/escaped backslash slash", obj(mCID, mPIN, str("challenge", `\\/`+ch32[1:])), authenticate, "challenge"),
		bad("authenticate/escaped backslash n", obj(mCID, mPIN, str("challenge", ch32[:20]+`\\n`+ch32[20:])), authenticate, "challenge"),
		bad("authenticate/newline", obj(mCID, mPIN, str("challenge", ch32[:20]+`\n`+ch32[20:])), authenticate, "challenge"),
		bad("authenticate/quote", obj(mCID, mPIN, str("challenge", ch32[:20]+`\"`+ch32[20:])), authenticate, "challenge"),
		missing("authenticate/missing challenge", obj(mCID, mPIN), authenticate, "challenge"),
		bad("authenticate/challenge number", obj(mCID, mPIN, `"challenge":1`), authenticate, "challenge"),
		bad("authenticate/origin key", obj(mCID, mPIN, str("challenge", ch32), str("origin", "https://x")), authenticate, "origin"),

		{name: "decrypt/default padding", raw: obj(mCID, mPIN, str("ciphertext", b64(256))), dst: decrypt,
			want: &DecryptArgs{CertificateID: testCID, PIN: Secret(testPIN), Ciphertext: seq(256)}},
		{name: "decrypt/OAEP SHA-1", raw: obj(mCID, mPIN, str("ciphertext", b64(512)), str("padding", "OAEP"), str("oaepHash", "SHA-1")), dst: decrypt,
			want: &DecryptArgs{CertificateID: testCID, PIN: Secret(testPIN), Ciphertext: seq(512), Padding: "OAEP", OAEPHash: "SHA-1"}},
		{name: "decrypt/OAEP default hash", raw: obj(mCID, mPIN, str("ciphertext", b64(1)), str("padding", "OAEP")), dst: decrypt,
			want: &DecryptArgs{CertificateID: testCID, PIN: Secret(testPIN), Ciphertext: seq(1), Padding: "OAEP"}},
		bad("decrypt/oaepHash without padding", obj(mCID, mPIN, str("ciphertext", b64(256)), str("oaepHash", "SHA-256")), decrypt, "oaepHash"),
		bad("decrypt/oaepHash with PKCS1.5", obj(mCID, mPIN, str("ciphertext", b64(256)), str("padding", "PKCS1.5"), str("oaepHash", "SHA-1")), decrypt, "oaepHash"),
		bad("decrypt/oaepHash SHA-512", obj(mCID, mPIN, str("ciphertext", b64(256)), str("padding", "OAEP"), str("oaepHash", "SHA-512")), decrypt, "oaepHash"),
		bad("decrypt/padding PSS", obj(mCID, mPIN, str("ciphertext", b64(256)), str("padding", "PSS")), decrypt, "padding"),
		bad("decrypt/empty ciphertext", obj(mCID, mPIN, str("ciphertext", "")), decrypt, "ciphertext"),
		bad("decrypt/ciphertext 513", obj(mCID, mPIN, str("ciphertext", b64(513))), decrypt, "ciphertext"),
		missing("decrypt/missing ciphertext", obj(mCID, mPIN), decrypt, "ciphertext"),
		bad("decrypt/ciphertext array", obj(mCID, mPIN, `"ciphertext":[1]`), decrypt, "ciphertext"),

		{name: "changePin/by reader", raw: obj(str("reader", "ACS ACR39U 00"), mPIN, str("newPin", "24680")), dst: changePIN,
			want: &ChangePINArgs{CardArgs: CardArgs{Reader: "ACS ACR39U 00"}, PIN: Secret(testPIN), NewPIN: Secret("24680")}},
		{name: "changePin/by certificate", raw: obj(mCID, mPIN, str("newPin", "24680")), dst: changePIN,
			want: &ChangePINArgs{CardArgs: CardArgs{CertificateID: testCID}, PIN: Secret(testPIN), NewPIN: Secret("24680")}},
		{name: "changePin/first card", raw: obj(mPIN, str("newPin", "24680")), dst: changePIN,
			want: &ChangePINArgs{PIN: Secret(testPIN), NewPIN: Secret("24680")}},
		bad("changePin/reader and certificateId", obj(str("reader", "R"), mCID, mPIN, str("newPin", "24680")), changePIN, "reader"),
		bad("changePin/reader 129", obj(str("reader", reader+"r"), mPIN, str("newPin", "24680")), changePIN, "reader"),
		bad("changePin/certificateId upper case", obj(str("certificateId", strings.ToUpper(testCID)), mPIN, str("newPin", "24680")), changePIN, "certificateId"),
		bad("changePin/puk key", obj(mPIN, str("newPin", "24680"), str("puk", "12345678")), changePIN, "puk"),
		bad("changePin/newPin 17", obj(mPIN, str("newPin", strings.Repeat("1", 17))), changePIN, "newPin"),
		bad("changePin/newPin escape", obj(mPIN, `"newPin":"1234\u00356"`), changePIN, "newPin"),
		missing("changePin/missing newPin", obj(mPIN), changePIN, "newPin"),
		missing("changePin/missing pin", obj(str("newPin", "24680")), changePIN, "pin"),

		{name: "unblockPin/by reader", raw: obj(str("reader", reader), str("puk", "12345678"), str("newPin", "24680")), dst: unblockPIN,
			want: &UnblockPINArgs{CardArgs: CardArgs{Reader: reader}, PUK: Secret("12345678"), NewPIN: Secret("24680")}},
		bad("unblockPin/pin key", obj(str("puk", "12345678"), str("newPin", "24680"), mPIN), unblockPIN, "pin"),
		bad("unblockPin/both", obj(str("reader", "R"), mCID, str("puk", "12345678"), str("newPin", "24680")), unblockPIN, "reader"),
		bad("unblockPin/puk non-ASCII", obj(str("puk", "1234567８"), str("newPin", "24680")), unblockPIN, "puk"),
		missing("unblockPin/missing puk", obj(str("newPin", "24680")), unblockPIN, "puk"),

		{name: "card/empty", raw: `{}`, dst: cardArgs, want: &CardArgs{}},
		{name: "card/reader", raw: obj(str("reader", "R 1")), dst: cardArgs, want: &CardArgs{Reader: "R 1"}},
		{name: "card/certificate", raw: obj(mCID), dst: cardArgs, want: &CardArgs{CertificateID: testCID}},
		bad("card/both", obj(str("reader", "R"), mCID), cardArgs, "reader"),
		bad("card/reader number", obj(`"reader":0`), cardArgs, "reader"),

		{name: "reader/empty", raw: `{}`, dst: readerArgs, want: &ReaderArgs{}},
		{name: "reader/whitespace", raw: " { \"reader\" : \"R\" } ", dst: readerArgs, want: &ReaderArgs{Reader: "R"}},
		{name: "reader/128", raw: obj(str("reader", reader)), dst: readerArgs, want: &ReaderArgs{Reader: reader}},
		{name: "reader/escaped", raw: obj(`"reader":"\u8b80\u5361\u6a5f"`), dst: readerArgs, want: &ReaderArgs{Reader: "讀卡機"}},
		bad("reader/129", obj(str("reader", reader+"r")), readerArgs, "reader"),
		bad("reader/129 after unescaping", obj(`"reader":"`+strings.Repeat(`\u8b80`, 43)+`"`), readerArgs, "reader"),
		bad("reader/certificateId key", obj(mCID), readerArgs, "certificateId"),
		bad("reader/bool", obj(`"reader":true`), readerArgs, "reader"),
		bad("reader/null", obj(`"reader":null`), readerArgs, "reader"),
		bad("reader/duplicate", obj(str("reader", "a"), str("reader", "b")), readerArgs, ""),
		bad("reader/array", `["reader"]`, readerArgs, ""),

		{name: "none/empty", raw: `{}`, dst: noArgs, want: &NoArgs{}},
		bad("none/any key", obj(`"x":1`), noArgs, "x"),
		bad("none/array", `[]`, noArgs, ""),
		bad("none/null", `null`, noArgs, ""),
	}
}

func TestDecodeArgs(t *testing.T) {
	for _, tc := range append(signCases(), otherCases()...) {
		t.Run(tc.name, func(t *testing.T) {
			dst := tc.dst()
			err := DecodeArgs(json.RawMessage(tc.raw), dst)
			if tc.want != nil {
				if err != nil {
					t.Fatalf("DecodeArgs(%.200s) = %v, want nil", tc.raw, err)
				}
				if !reflect.DeepEqual(dst, tc.want) {
					t.Errorf("DecodeArgs(%.200s) = %+v, want %+v", tc.raw, dst, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("DecodeArgs(%.200s) = nil, want %s for %q", tc.raw, tc.wantCode, tc.wantArg)
			}
			if c := CodeFor(err); c != tc.wantCode {
				t.Errorf("DecodeArgs(%.200s) = %v, code %s; want %s", tc.raw, err, c, tc.wantCode)
			}
			d := Details(err)
			if tc.wantArg != "" {
				if d["argument"] != tc.wantArg {
					t.Errorf("DecodeArgs(%.200s) = %v, details %v; want argument %q", tc.raw, err, d, tc.wantArg)
				}
				if r, _ := d["reason"].(string); (tc.wantCode == ErrBadArgument) != (r != "") {
					t.Errorf("DecodeArgs(%.200s) details %v: reason %q, want one only for a bad argument", tc.raw, d, r)
				}
			}
			if strings.Contains(err.Error(), testPIN) || strings.Contains(fmt.Sprint(d), testPIN) {
				t.Errorf("DecodeArgs error %q / details %v holds the PIN", err, d)
			}
		})
	}
}

// TestSignPaddingUnknown: sign has no padding argument. Raw signatures are
// RSA PKCS#1 v1.5 only, because a PSS signature over a digest of the
// page's choice could be SignedDigest of another origin, i.e. a login
// token for it. Any padding, even the PKCS#1 v1.5 one, is refused as an
// unknown argument, before the PIN or the card is touched.
func TestSignPaddingUnknown(t *testing.T) {
	for _, padding := range []string{"PSS", "PKCS1.5", ""} {
		for _, rest := range [][]string{
			{str("digest", b64(32))},
			{str("data", b64(5))},
			{str("data", b64(5)), str("format", "cms")},
		} {
			raw := obj(append([]string{mCID, mPIN, str("hashAlgorithm", "SHA-256"), str("padding", padding)}, rest...)...)
			err := DecodeArgs(json.RawMessage(raw), new(SignArgs))
			d := Details(err)
			if CodeFor(err) != ErrBadArgument || d["argument"] != "padding" || d["reason"] != "unknown argument" {
				t.Errorf("DecodeArgs(%s) = %v, code %s, details %v; want %s, argument padding, reason unknown argument",
					raw, err, CodeFor(err), d, ErrBadArgument)
			}
		}
	}
}

// A base64 field far over its cap is refused from its length alone, before
// it is decoded: the reason is its length even though the text is not
// base64 at all, and decoding allocates nothing near its size.
func TestDecodeArgsLongBytesRefusedByLength(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  string
		n    int
		dst  func() any
		more []string
	}{
		{"digest", "digest", 200, sign, []string{str("hashAlgorithm", "SHA-256")}},
		{"data", "data", base64.StdEncoding.EncodedLen(MaxDataSize) + 4, sign, []string{str("hashAlgorithm", "SHA-256")}},
		{"ciphertext", "ciphertext", 10000, decrypt, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := json.RawMessage(obj(append([]string{mCID, mPIN, str(tc.key, strings.Repeat("!", tc.n))}, tc.more...)...))
			err := DecodeArgs(raw, tc.dst())
			d := Details(err)
			if reason, _ := d["reason"].(string); d["argument"] != tc.key || !strings.HasPrefix(reason, "longer than") {
				t.Errorf("DecodeArgs(%d non-base64 characters in %s) = %v, details %v; want refused as too long", tc.n, tc.key, err, d)
			}
		})
	}
}

// Every command's argument struct has a well-formed spec. A malformed tag
// panics when the spec is first built, so building them all here keeps
// such a panic out of production.
func TestArgSpecs(t *testing.T) {
	for _, v := range []any{&NoArgs{}, &ReaderArgs{}, &CardArgs{}, &SignArgs{}, &AuthenticateArgs{}, &DecryptArgs{}, &ChangePINArgs{}, &UnblockPINArgs{}, &ExchangeArgs{}} {
		typ := reflect.TypeOf(v).Elem()
		t.Run(typ.Name(), func(t *testing.T) {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("specFor(%s) panicked: %v", typ, r)
				}
			}()
			s := specFor(typ)
			if len(s.order) != len(s.fields) {
				t.Errorf("specFor(%s): %d fields in order, %d by name", typ, len(s.order), len(s.fields))
			}
			for _, f := range s.order {
				if f.kind != kindBool && (!f.hasMax || f.max <= 0) {
					t.Errorf("%s.%s has no positive max", typ, f.name)
				}
			}
			// Decoding {} reaches only Missing errors or success.
			if err := DecodeArgs(json.RawMessage(`{}`), v); err != nil && CodeFor(err) != ErrMissingArgument && CodeFor(err) != ErrBadArgument {
				t.Errorf("DecodeArgs({}, %s) = %v", typ, err)
			}
		})
	}
	// Embedded fields are flattened.
	if s := specFor(reflect.TypeFor[ChangePINArgs]()); s.fields["reader"] == nil || s.fields["certificateId"] == nil {
		t.Errorf("specFor(ChangePINArgs) lacks the fields of the embedded CardArgs")
	}
}

func TestArgSpecPanics(t *testing.T) {
	type noMax struct {
		S string `json:"s"`
	}
	type noMaxRequired struct {
		S string `json:"s" arg:"required,min=1"`
	}
	type bytesNoMax struct {
		B Bytes `json:"b"`
	}
	type secretNoMax struct {
		P Secret `json:"p" arg:"required"`
	}
	type intNoMax struct {
		N int `json:"n"`
	}
	type badNumber struct {
		S string `json:"s" arg:"max=ten"`
	}
	type unknownRule struct {
		S string `json:"s" arg:"max=10,pattern=x"`
	}
	type noName struct {
		S string `arg:"max=1"`
	}
	type dashName struct {
		S string `json:"-" arg:"max=1"`
	}
	type float struct {
		F float64 `json:"f" arg:"max=1"`
	}
	type nested struct {
		M map[string]string `json:"m" arg:"max=1"`
	}
	// Built with reflect, as vet refuses a repeated json tag in source.
	twice := reflect.StructOf([]reflect.StructField{
		{Name: "A", Type: reflect.TypeFor[string](), Tag: `json:"a" arg:"max=1"`},
		{Name: "B", Type: reflect.TypeFor[string](), Tag: `json:"a" arg:"max=1"`},
	})
	type embeddedTwice struct {
		CardArgs
		R string `json:"reader" arg:"max=1"`
	}
	type embeddedNoMax struct {
		noMax
	}
	for _, typ := range []reflect.Type{
		reflect.TypeFor[noMax](), reflect.TypeFor[noMaxRequired](), reflect.TypeFor[bytesNoMax](), reflect.TypeFor[secretNoMax](),
		reflect.TypeFor[intNoMax](), reflect.TypeFor[badNumber](), reflect.TypeFor[unknownRule](), reflect.TypeFor[noName](),
		reflect.TypeFor[dashName](), reflect.TypeFor[float](), reflect.TypeFor[nested](), twice,
		reflect.TypeFor[embeddedTwice](), reflect.TypeFor[embeddedNoMax](),
	} {
		t.Run(typ.Name(), func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("specFor(%s) did not panic", typ)
				}
			}()
			specFor(typ)
		})
	}
}

// A struct of the supported kinds with full rules decodes, and its int and
// min rules apply.
func TestDecodeArgsIntAndMin(t *testing.T) {
	type args struct {
		N int    `json:"n" arg:"min=1,max=10"`
		S string `json:"s" arg:"min=2,max=3"`
		B bool   `json:"b"`
	}
	for _, tc := range []struct {
		raw string
		ok  bool
		arg string
	}{
		{`{"n":1,"s":"ab","b":true}`, true, ""},
		{`{"n":10}`, true, ""},
		{`{"n":0}`, false, "n"},
		{`{"n":11}`, false, "n"},
		{`{"n":-1}`, false, "n"},
		{`{"n":1.5}`, false, "n"},
		{`{"n":1e1}`, false, "n"},
		{`{"n":"1"}`, false, "n"},
		{`{"n":99999999999999999999}`, false, "n"},
		{`{"s":"a"}`, false, "s"},
		{`{"s":"abcd"}`, false, "s"},
		{`{"b":"true"}`, false, "b"},
	} {
		var a args
		err := DecodeArgs(json.RawMessage(tc.raw), &a)
		if (err == nil) != tc.ok {
			t.Errorf("DecodeArgs(%s) = %v, want ok %v", tc.raw, err, tc.ok)
			continue
		}
		if !tc.ok && Details(err)["argument"] != tc.arg {
			t.Errorf("DecodeArgs(%s) details = %v, want argument %q", tc.raw, Details(err), tc.arg)
		}
	}
}

func TestSecret(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want string
		ok   bool
	}{
		{`"135790"`, "135790", true},
		{`"Ab 9!~"`, "Ab 9!~", true},
		{`""`, "", true},
		{`"\u0031"`, "", false},
		{`"12\\34"`, "", false},
		{`"12\"34"`, "", false},
		{`"1234５6"`, "", false},
		{"\"12\x0034\"", "", false},
		{"\"12\x7f34\"", "", false},
		{`123456`, "", false},
		{`null`, "", false},
		{`"`, "", false},
		{`"123456`, "", false},
		{`["1"]`, "", false},
	} {
		var s Secret
		err := s.UnmarshalJSON([]byte(tc.raw))
		if (err == nil) != tc.ok || string(s) != tc.want {
			t.Errorf("Secret.UnmarshalJSON(%q) = %q, %v; want %q, ok %v", tc.raw, s, err, tc.want, tc.ok)
		}
	}

	// The secret is a copy: clearing it leaves the request alone and
	// clearing the request leaves it alone.
	in := []byte(`"135790"`)
	var s Secret
	if err := s.UnmarshalJSON(in); err != nil {
		t.Fatal(err)
	}
	clear(in)
	if string(s) != testPIN {
		t.Errorf("Secret changed with its input: %q", []byte(s))
	}
	s.Wipe()
	if !bytes.Equal(s, make([]byte, len(testPIN))) || len(s) != len(testPIN) {
		t.Errorf("after Wipe, secret = %v, want %d zero bytes", []byte(s), len(testPIN))
	}
	var empty Secret
	empty.Wipe() // must not panic
}

func TestSecretNeverShown(t *testing.T) {
	s := Secret(testPIN)
	args := ChangePINArgs{CardArgs: CardArgs{Reader: "R"}, PIN: Secret(testPIN), NewPIN: Secret("24680")}

	// Whatever the verb, fmt's output does not depend on the secret.
	other := Secret("999999999")
	otherArgs := ChangePINArgs{CardArgs: CardArgs{Reader: "R"}, PIN: other, NewPIN: other}
	for _, verb := range []string{"%v", "%s", "%x", "%X", "%q", "%#v", "%+v", "%d", "%c", "%U", "%o", "%b", "%8.3v"} {
		for _, pair := range [][2]any{{s, other}, {args, otherArgs}, {&args, &otherArgs}, {[]Secret{s}, []Secret{other}}} {
			got, ref := fmt.Sprintf(verb, pair[0]), fmt.Sprintf(verb, pair[1])
			if got != ref {
				t.Errorf("fmt.Sprintf(%q, %T) = %q depends on the secret (with another: %q)", verb, pair[0], got, ref)
			}
		}
	}
	if got := fmt.Sprintf("%v %s", s, s); got != "[REDACTED] [REDACTED]" {
		t.Errorf("fmt.Sprintf(%%v %%s) = %q, want it to say the value is hidden", got)
	}
	if got, ref := fmt.Sprint(s, args)+fmt.Sprintln(s, &args), fmt.Sprint(other, otherArgs)+fmt.Sprintln(other, &otherArgs); got != ref {
		t.Errorf("fmt.Sprint = %q depends on the secret", got)
	}

	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
		l := slog.New(h)
		l.Info("pin", "pin", s, "args", args, "ptr", &args)
		l.Info("attr", slog.Any("pin", s), slog.Group("g", "pin", s))
	}
	for _, secret := range []string{testPIN, "24680"} {
		for _, form := range []string{secret, fmt.Sprintf("%x", secret), fmt.Sprint([]byte(secret)), base64.StdEncoding.EncodeToString([]byte(secret))} {
			if strings.Contains(buf.String(), form) {
				t.Errorf("slog output %q shows the secret as %q", buf.String(), form)
			}
		}
	}
	if !strings.Contains(buf.String(), "REDACTED") {
		t.Errorf("slog output %q does not say the value was hidden", buf.String())
	}

	for _, v := range []any{s, args, &args, struct{ P Secret }{s}, map[string]Secret{"p": s}} {
		if b, err := json.Marshal(v); err == nil || bytes.Contains(b, []byte(testPIN)) {
			t.Errorf("json.Marshal(%T) = %q, %v; want an error", v, b, err)
		} else if strings.Contains(err.Error(), testPIN) {
			t.Errorf("json.Marshal error %q holds the PIN", err)
		}
	}
}

func TestBytesJSON(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want Bytes
		ok   bool
	}{
		{`"AQID"`, Bytes{1, 2, 3}, true},
		{`"AQ=="`, Bytes{1}, true},
		{`"+/8="`, Bytes{0xfb, 0xff}, true},
		{`""`, Bytes{}, true},
		{`"-_8="`, nil, false},
		{`"AQ"`, nil, false},
		{`"AR=="`, nil, false},
		{`"AQ==AQ=="`, nil, false},
		{`"AQID\n"`, nil, false},
		{`"AQ\r\nID"`, nil, false},
		{`"AQ ID"`, nil, false},
		{`1`, nil, false},
		{`null`, nil, false},
		{`[1]`, nil, false},
	} {
		var b Bytes
		err := b.UnmarshalJSON([]byte(tc.raw))
		if (err == nil) != tc.ok || !bytes.Equal(b, tc.want) {
			t.Errorf("Bytes.UnmarshalJSON(%s) = %v, %v; want %v, ok %v", tc.raw, b, err, tc.want, tc.ok)
		}
		if tc.ok {
			out, err := json.Marshal(b)
			if err != nil || string(out) != tc.raw {
				t.Errorf("json.Marshal(%v) = %s, %v; want %s", b, out, err, tc.raw)
			}
		}
	}
}

func TestHashSize(t *testing.T) {
	for name, want := range map[string]int{"SHA-256": 32, "SHA-384": 48, "SHA-512": 64, "SHA-1": 0, "sha-256": 0, "": 0} {
		if got := HashSize(name); got != want {
			t.Errorf("HashSize(%q) = %d, want %d", name, got, want)
		}
	}
}

func TestArgErrorMessage(t *testing.T) {
	if got := (&ArgError{Arg: "pin", Missing: true}).Error(); got != `argument "pin" is missing` {
		t.Errorf("missing: %q", got)
	}
	if got := BadArg("nonce", "too short").Error(); got != `argument "nonce": too short` {
		t.Errorf("bad: %q", got)
	}
}

// The exchange relay's arguments: the op from the list, args an object
// passed on byte for byte, a PIN only where one is asked for.
func TestExchangeArgs(t *testing.T) {
	big := `{"files":[{"name":"a","data":"` + strings.Repeat("A", MaxExchangeArgs) + `"}]}`
	for _, tc := range []struct {
		name, in string
		code     Code
		arg      string
		args     string
	}{
		{name: "status", in: `{"op":"status"}`},
		{name: "list", in: `{"op":"list","args":{"box":"in","text":"研習"}}`, args: `{"box":"in","text":"研習"}`},
		{name: "login with a PIN", in: `{"op":"login","args":{},"pin":"123456"}`, args: `{}`},
		{name: "send with a PIN", in: `{"op":"send","args":{"to":["XC10458570"]},"pin":"123456"}`, args: `{"to":["XC10458570"]}`},
		{name: "unknown op", in: `{"op":"deleteAll"}`, code: ErrBadArgument, arg: "op"},
		{name: "op missing", in: `{"args":{}}`, code: ErrMissingArgument, arg: "op"},
		{name: "login without a PIN", in: `{"op":"login"}`, code: ErrMissingArgument, arg: "pin"},
		{name: "send without a PIN", in: `{"op":"send","args":{}}`, code: ErrMissingArgument, arg: "pin"},
		{name: "a PIN where none is asked", in: `{"op":"list","pin":"123456"}`, code: ErrBadArgument, arg: "pin"},
		{name: "args an array", in: `{"op":"list","args":[1]}`, code: ErrBadArgument, arg: "args"},
		{name: "args a string", in: `{"op":"list","args":"{}"}`, code: ErrBadArgument, arg: "args"},
		{name: "args null", in: `{"op":"list","args":null}`, code: ErrBadArgument, arg: "args"},
		{name: "args too large", in: `{"op":"send","pin":"123456","args":` + big + `}`, code: ErrBadArgument, arg: "args"},
		{name: "PIN with a quote", in: `{"op":"login","pin":"12\"456"}`, code: ErrBadArgument, arg: "pin"},
		{name: "unknown key", in: `{"op":"list","box":"in"}`, code: ErrBadArgument, arg: "box"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a ExchangeArgs
			err := DecodeArgs(json.RawMessage(tc.in), &a)
			if tc.code == "" {
				require.NoError(t, err)
				assert.Equal(t, tc.args, string(a.Args))
				return
			}
			require.Error(t, err)
			assert.Equal(t, tc.code, CodeFor(err))
			assert.Equal(t, tc.arg, Details(err)["argument"])
		})
	}
}
