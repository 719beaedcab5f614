package hipki

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pkg is a request as pages package it: JSON, "+" written as %2B (the
// CHT library's own step), optionally as a tbsPackage form body.
func pkg(t *testing.T, m map[string]any) string {
	t.Helper()
	b, err := json.Marshal(m)
	require.NoError(t, err)
	return strings.ReplaceAll(string(b), "+", "%2B")
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func code(t *testing.T, err error) uint32 {
	t.Helper()
	var e *Error
	require.True(t, errors.As(err, &e), "%v is not a hipki.Error", err)
	return e.Code
}

// Each function of the popup protocol and the endpoints, mapped to the
// host's request.
func TestDecode(t *testing.T) {
	digest := make([]byte, 32)
	for i := range digest {
		digest[i] = byte(i * 7)
	}
	doc := []byte("公文 1+1=2 100%")
	for _, c := range []struct {
		name          string
		payload, path string
		query         string
		want          Request
	}{
		{"GetUserCert", pkg(t, map[string]any{"func": "GetUserCert"}), "", "", Request{Func: "GetUserCert", Op: "certificates", WithCert: true}},
		{"CheckEnvir", pkg(t, map[string]any{"func": "CheckEnvir"}), "", "", Request{Func: "CheckEnvir", Op: "certificates"}},
		{"GET /pkcs11info?withcert=true", "", "/pkcs11info", "withcert=true", Request{Func: "pkcs11info", Op: "certificates", WithCert: true}},
		{"GET /pkcs11info", "", "/pkcs11info", "", Request{Func: "pkcs11info", Op: "certificates"}},
		{"PKCS7 text", pkg(t, map[string]any{"func": "MakeSignature", "tbs": string(doc), "tbsEncoding": "NONE", "hashAlgorithm": "SHA256",
			"signatureType": "PKCS7", "pin": "ignored", "nonce": "n0nce-1", "withCardSN": "true", "slotDescription": "Reader 1"}), "", "",
			Request{Func: "MakeSignature", Op: "sign", Slot: "Reader 1", Sign: &Sign{SignatureType: "PKCS7", HashAlgorithm: "SHA-256", Format: "cms",
				Data: b64(doc), Nonce: "n0nce-1", Text: string(doc), WithCardSN: true}}},
		{"PKCS1 base64 as POST /sign", "tbsPackage=" + pkg(t, map[string]any{"tbs": b64(doc), "tbsEncoding": "base64", "hashAlgorithm": "SHA512", "signatureType": "PKCS1"}), "/sign", "",
			Request{Func: "MakeSignature", Op: "sign", Sign: &Sign{SignatureType: "PKCS1", HashAlgorithm: "SHA-512", Format: "raw", Data: b64(doc)}}},
		{"RAW digest, no hashAlgorithm (the CHT library's hashBase64)", pkg(t, map[string]any{"func": "MakeSignature", "tbs": b64(digest), "tbsEncoding": "base64", "signatureType": "RAW"}), "", "",
			Request{Func: "MakeSignature", Op: "sign", Sign: &Sign{SignatureType: "RAW", HashAlgorithm: "SHA-256", Format: "raw", Digest: b64(digest)}}},
		{"URI-encoded text", pkg(t, map[string]any{"func": "MakeSignature", "tbs": url.PathEscape(string(doc)), "signatureType": "PKCS1"}), "", "",
			Request{Func: "MakeSignature", Op: "sign", Sign: &Sign{SignatureType: "PKCS1", HashAlgorithm: "SHA-256", Format: "raw", Data: b64(doc), Text: string(doc)}}},
		{"DecryptData", pkg(t, map[string]any{"func": "DecryptData", "cipher": b64(make([]byte, 256)), "plainEncoding": "NONE"}), "", "",
			Request{Func: "DecryptData", Op: "decrypt", Decrypt: &Decrypt{Ciphertext: b64(make([]byte, 256)), PlainEncoding: "NONE"}}},
		{"POST /decrypt", "tbsPackage=" + pkg(t, map[string]any{"cipher": b64(make([]byte, 128))}), "/decrypt", "",
			Request{Func: "DecryptData", Op: "decrypt", Decrypt: &Decrypt{Ciphertext: b64(make([]byte, 128)), PlainEncoding: "base64"}}},
		{"booleans as JSON", `{"func":"MakeSignature","tbs":"abcd","withCardSN":true,"signatureType":"pkcs7"}`, "", "",
			Request{Func: "MakeSignature", Op: "sign", Sign: &Sign{SignatureType: "PKCS7", HashAlgorithm: "SHA-256", Format: "cms", Data: b64([]byte("abcd")), Text: "abcd", WithCardSN: true}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Decode(c.payload, c.path, c.query)
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
		})
	}
}

// What a page gets refused, with the ret_code errorcode.js gives it.
func TestDecodeRefused(t *testing.T) {
	for _, c := range []struct {
		name    string
		payload string
		path    string
		want    uint32
	}{
		{"not JSON", "hello", "", CodeJSON},
		{"JSON array", "[1,2]", "", CodeJSON},
		{"two objects", `{"func":"CheckEnvir"}{"func":"x"}`, "", CodeJSON},
		{"not UTF-8", "{\"func\":\"\xff\"}", "", CodeJSON},
		{"no func", `{"tbs":"x"}`, "", CodeBadParameter},
		{"unknown func", `{"func":"FormatDisk"}`, "", CodeUnsupported},
		{"no tbs", `{"func":"MakeSignature"}`, "", CodeNoTBS},
		{"SHA1", `{"func":"MakeSignature","tbs":"x","hashAlgorithm":"SHA1"}`, "", CodeBadParameter},
		{"MD5", `{"func":"MakeSignature","tbs":"x","hashAlgorithm":"MD5"}`, "", CodeBadParameter},
		{"signatureType", `{"func":"MakeSignature","tbs":"x","signatureType":"XMLDSIG"}`, "", CodeSignatureType},
		{"tbsEncoding", `{"func":"MakeSignature","tbs":"x","tbsEncoding":"hex"}`, "", CodeBadParameter},
		{"bad base64", `{"func":"MakeSignature","tbs":"!!!","tbsEncoding":"base64"}`, "", CodeBase64Decode},
		{"RAW SHA-1 digest", `{"func":"MakeSignature","tbs":"` + b64(make([]byte, 20)) + `","signatureType":"RAW"}`, "", CodeBadParameter},
		{"RAW digest not of its hash", `{"func":"MakeSignature","tbs":"` + b64(make([]byte, 32)) + `","signatureType":"RAW","hashAlgorithm":"SHA512"}`, "", CodeBadParameter},
		{"short nonce", `{"func":"MakeSignature","tbs":"x","nonce":"abc"}`, "", CodeBadParameter},
		{"no cipher", `{"func":"DecryptData"}`, "", CodeNoCipher},
		{"cipher not a block", `{"func":"DecryptData","cipher":"` + b64(make([]byte, 8)) + `"}`, "", CodeDecryptDER},
		{"cipherType OAEP", `{"func":"DecryptData","cipher":"` + b64(make([]byte, 256)) + `","cipherType":"OAEP"}`, "", CodeDecryptType},
		{"other endpoint", "", "/selfTest.htm", CodeUnsupported},
		{"oversize", strings.Repeat(" ", MaxPayload+1), "", CodeFileTooLarge},
		{"data over 4 MiB", `{"func":"MakeSignature","tbs":"` + b64(make([]byte, 4<<20+1)) + `","tbsEncoding":"base64"}`, "", CodeFileTooLarge},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(c.payload, c.path, "")
			require.Error(t, err)
			assert.Equal(t, c.want, code(t, err), "0x%08X", code(t, err))
		})
	}
}

// 開卡, 鎖卡解碼 and 重設PIN碼 are refused as 不支援的方法 with the
// reason that leads to the CA's tool; CHANGEUSERPIN to CardBridge's own.
func TestDecodeCardManagement(t *testing.T) {
	for _, f := range []string{"BUILDOPENCARDGETUSERPINREQ", "OPENCARD", "BUILDUNBLOCKCARDREQ", "UnblockCard", "RESETUSERPIN"} {
		_, err := Decode(`{"func":"`+f+`","readername":"r","sid":"x"}`, "", "")
		var e *Error
		require.True(t, errors.As(err, &e), f)
		assert.Equal(t, CodeUnsupported, e.Code, f)
		assert.True(t, e.CardManagement, f)
	}
	_, err := Decode(`{"func":"CHANGEUSERPIN","CARDID":"x"}`, "", "")
	var e *Error
	require.True(t, errors.As(err, &e))
	assert.True(t, e.ChangePIN)
}

// FuzzDecode: whatever a page sends, Decode refuses it with a ret_code
// or returns a request within the host's limits.
func FuzzDecode(f *testing.F) {
	f.Add(`{"func":"MakeSignature","tbs":"abc%2Bd","tbsEncoding":"NONE","hashAlgorithm":"SHA256","signatureType":"PKCS7","nonce":"abcd"}`, "")
	f.Add(`tbsPackage={"tbs":"AAAA","tbsEncoding":"base64","signatureType":"RAW"}`, "/sign")
	f.Add(`{"func":"DecryptData","cipher":"`+b64(make([]byte, 128))+`"}`, "")
	f.Add(`{"func":"GetUserCert"}`, "")
	f.Add("", "/pkcs11info")
	f.Fuzz(func(t *testing.T, payload, path string) {
		r, err := Decode(payload, path, "withcert=true")
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code == CodeOK {
				t.Fatalf("a refusal without a ret_code: %v", err)
			}
			return
		}
		switch r.Op {
		case "certificates":
		case "sign":
			s := r.Sign
			if s == nil || (s.Data == "") == (s.Digest == "") {
				t.Fatalf("sign without exactly one of data and digest: %+v", s)
			}
			if s.HashAlgorithm != "SHA-256" && s.HashAlgorithm != "SHA-384" && s.HashAlgorithm != "SHA-512" {
				t.Fatalf("hash %q", s.HashAlgorithm)
			}
			if d, _ := base64.StdEncoding.DecodeString(s.Data); len(d) > 4<<20 {
				t.Fatalf("data of %d bytes", len(d))
			}
			if s.Nonce != "" && (len(s.Nonce) < 4 || len(s.Nonce) > 128) {
				t.Fatalf("nonce %q", s.Nonce)
			}
		case "decrypt":
			if d, err := base64.StdEncoding.DecodeString(r.Decrypt.Ciphertext); err != nil || len(d) < 64 || len(d) > 512 {
				t.Fatalf("ciphertext %q", r.Decrypt.Ciphertext)
			}
		default:
			t.Fatalf("op %q", r.Op)
		}
	})
}

func TestBuiltinSite(t *testing.T) {
	for o, want := range map[string]bool{
		"https://moica.nat.gov.tw": true, "https://www.etax.nat.gov.tw": true, "https://edoc.example.gov.tw": true,
		"https://gov.tw": false, "http://moica.nat.gov.tw": false, "https://moica.nat.gov.tw:8443": false,
		"https://evil.gov.tw.example.com": false, "https://evilgov.tw": false, "https://a..gov.tw": false,
		"https://user@moica.nat.gov.tw": false, "https://moica.nat.gov.tw/x": false, "": false, "https://.gov.tw": false,
	} {
		assert.Equal(t, want, BuiltinSite(o), o)
	}
}
