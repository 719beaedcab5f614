// Package hipki reads the requests that today's government pages send to
// Chunghwa Telecom's "HiPKI Local Sign Server" (http://localhost:61161:
// the popupForm postMessage protocol and the /pkcs11info, /sign and
// /decrypt endpoints), so that CardBridge can answer them with its own
// PIN window and card stack, and names the ret_code values those pages
// understand. It decodes and checks; it never touches a card.
//
// The field names, the functions and the ret_code values are the public
// ones: the pages' own scripts, and the copies of CHT's errorcode.js that
// government systems publish with them. The package is the one parser of
// what a page sends this way: whatever it returns is within the host's
// own limits (protocol.SignArgs, protocol.DecryptArgs).
package hipki

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/cardbridge/cardbridge/internal/protocol"
)

// MaxPayload caps a request as the page sends it (the extension's own cap
// on a page's request is 6 MiB): a document of about 4 MiB, in base64.
const MaxPayload = 6 << 20

// ServerVersion is the serverVersion CardBridge reports. Pages compare it
// with the minimum HiPKI versions they need (1.3.4.103328 on Windows,
// 1.3.4.13 on macOS, 1.3.4.3 on Linux), some as strings and some as
// numbers; this one passes both ways on every system.
const ServerVersion = "1.3.4.999999"

// Request is what a page asked for, in the host's terms.
type Request struct {
	// Func is the function as the page named it (MakeSignature,
	// GetUserCert, CheckEnvir, DecryptData).
	Func string `json:"func"`
	// Op is what CardBridge does: "sign", "certificates" or "decrypt".
	Op string `json:"op"`
	// WithCert: certificates with their DER (GetUserCert,
	// /pkcs11info?withcert=true).
	WithCert bool `json:"withCert,omitempty"`
	// Slot is the page's slotDescription: a reader's name, or its index.
	Slot string `json:"slot,omitempty"`
	// Sign is the host's sign arguments (without certificate and PIN).
	Sign *Sign `json:"sign,omitempty"`
	// Decrypt is the host's decrypt arguments (without certificate and PIN).
	Decrypt *Decrypt `json:"decrypt,omitempty"`
}

// Sign is a MakeSignature request as the host's sign command takes it.
type Sign struct {
	// SignatureType is the page's: PKCS7, PKCS1 or RAW.
	SignatureType string `json:"signatureType"`
	// HashAlgorithm, Format, Data, Digest, Nonce: protocol.SignArgs.
	HashAlgorithm string `json:"hashAlgorithm"`
	Format        string `json:"format"`
	Data          string `json:"data,omitempty"`   // base64
	Digest        string `json:"digest,omitempty"` // base64 (RAW)
	Nonce         string `json:"nonce,omitempty"`
	// Text is the data as the page gave it, when it is text
	// (tbsEncoding NONE): the PIN window shows it.
	Text string `json:"text,omitempty"`
	// WithCardSN: the answer carries the card serial (cardSN).
	WithCardSN bool `json:"withCardSN,omitempty"`
}

// Decrypt is a DecryptData request.
type Decrypt struct {
	Ciphertext string `json:"ciphertext"` // base64
	// PlainEncoding is how the answer's plain is written: "base64"
	// (default) or "NONE" (the text itself, when it is UTF-8).
	PlainEncoding string `json:"plainEncoding"`
}

// Decode reads one request: payload is what the page posted to the
// popup, or the body of its POST to /sign or /decrypt (tbsPackage=…), or
// "" for a GET of /pkcs11info (then query is its query string). The popup
// sends the message on as a form field, so the page's text is
// form-decoded as the server decodes it (pages write "+" as %2B for that
// reason). A refusal is an *Error with the ret_code a page expects.
func Decode(payload, path, query string) (Request, error) {
	if len(payload) > MaxPayload {
		return Request{}, refuse(CodeFileTooLarge, "the request is larger than %d bytes", MaxPayload)
	}
	switch strings.TrimSuffix(path, "/") {
	case "/pkcs11info":
		if payload == "" {
			q, _ := url.ParseQuery(query)
			return Request{Func: "pkcs11info", Op: "certificates", WithCert: strings.EqualFold(q.Get("withcert"), "true"), Slot: q.Get("slotDescription")}, nil
		}
	case "", "/sign", "/decrypt", "/popupForm", "/ChtPopupForm":
	default:
		return Request{}, refuse(CodeUnsupported, "%q is not a HiPKI endpoint", path)
	}
	fields, err := parsePackage(payload)
	if err != nil {
		return Request{}, err
	}
	f := fields.get("func")
	r := Request{Func: f, Slot: fields.get("slotDescription")}
	switch {
	case f == "MakeSignature" || (f == "" && path == "/sign"):
		r.Func, r.Op = "MakeSignature", "sign"
		r.Sign, err = decodeSign(fields)
	case f == "GetUserCert" || f == "pkcs11info":
		r.Op, r.WithCert = "certificates", true
	case f == "CheckEnvir":
		r.Op = "certificates"
	case f == "DecryptData" || (f == "" && path == "/decrypt"):
		r.Func, r.Op = "DecryptData", "decrypt"
		r.Decrypt, err = decodeDecrypt(fields)
	case cardManagement[strings.ToUpper(f)]:
		err = &Error{Code: CodeUnsupported, CardManagement: true, Err: fmt.Errorf("%s needs the certificate authority's card management tool", f)}
	case strings.ToUpper(f) == "CHANGEUSERPIN":
		err = &Error{Code: CodeUnsupported, ChangePIN: true, Err: errors.New("change the PIN in CardBridge's own window")}
	case f == "":
		err = refuse(CodeBadParameter, "the request has no func")
	default:
		err = refuse(CodeUnsupported, "unknown func %q", truncate(f, 64))
	}
	if err != nil {
		return Request{}, err
	}
	return r, nil
}

// cardManagement are the card management functions of CHT's console
// (errorcode.js names them in its 0x773010xx messages): activation,
// unblocking and PIN reset go through the issuing CA's online service and
// the vendor's secret-keyed commands, which CardBridge does not have.
var cardManagement = map[string]bool{
	"BUILDUNBLOCKCARDREQ": true, "UNBLOCKCARD": true, "BUILDRESETUSERPINREQ": true, "BUILDREASETUSERPINREQ": true,
	"RESETUSERPIN": true, "BUILDOPENCARDGETUSERPINREQ": true, "BUILDOPENCARDVALIDATEUSERREQ": true, "OPENCARD": true,
}

// fields are the request fields pages send; anything else is skipped
// while decoding (never held: a large unknown value costs no memory).
// Values are strings, or booleans and numbers where pages write them so.
type fields struct {
	Func, Tbs, TbsEncoding, HashAlgorithm, SignatureType, Nonce, WithCardSN, SlotDescription any
	Cipher, CipherType, PlainEncoding                                                        any
}

// get returns a field by its JSON name: strings as they are, booleans
// and numbers as JSON writes them (pages send "true" and true alike).
func (f *fields) get(k string) string {
	var v any
	switch k {
	case "func":
		v = f.Func
	case "tbs":
		v = f.Tbs
	case "tbsEncoding":
		v = f.TbsEncoding
	case "hashAlgorithm":
		v = f.HashAlgorithm
	case "signatureType":
		v = f.SignatureType
	case "nonce":
		v = f.Nonce
	case "withCardSN":
		v = f.WithCardSN
	case "slotDescription":
		v = f.SlotDescription
	case "cipher":
		v = f.Cipher
	case "cipherType":
		v = f.CipherType
	case "plainEncoding":
		v = f.PlainEncoding
	}
	switch v := v.(type) {
	case string:
		return v
	case bool, float64:
		b, _ := json.Marshal(v)
		return string(b)
	}
	return ""
}

// parsePackage reads the JSON object of a request (a body "tbsPackage=…"
// or the bare package). JSON as it is comes first, its string values
// percent-decoded one by one where they are used (tbs, cipher): decoding
// the whole text first would let an escaped quote inside a value (%22)
// end it and add fields the page never wrote. A package that is not JSON
// as it is, is form-decoded whole (a fully encoded tbsPackage=%7B…%7D).
func parsePackage(payload string) (*fields, error) {
	p := strings.TrimSpace(payload)
	if v, ok := strings.CutPrefix(p, "tbsPackage="); ok {
		p = v
	}
	if !utf8.ValidString(p) {
		return nil, refuse(CodeJSON, "the request is not UTF-8")
	}
	f, err := decodeObject(p)
	if err == nil {
		return f, nil
	}
	if d := percentDecode(p, true); d != p && utf8.ValidString(d) {
		if f, err2 := decodeObject(d); err2 == nil {
			return f, nil
		}
	}
	return nil, refuse(CodeJSON, "the request is not a JSON object: %v", err)
}

// decodeObject reads exactly one JSON object of the known fields.
func decodeObject(s string) (*fields, error) {
	if !strings.HasPrefix(strings.TrimLeft(s, " \t\r\n"), "{") {
		return nil, errors.New("not a JSON object")
	}
	var f fields
	dec := json.NewDecoder(strings.NewReader(s))
	if err := dec.Decode(&f); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("more than one JSON value")
	}
	return &f, nil
}

// hashes maps the page's names to the host's.
var hashes = map[string]string{
	"SHA256": "SHA-256", "SHA-256": "SHA-256", "SHA384": "SHA-384", "SHA-384": "SHA-384", "SHA512": "SHA-512", "SHA-512": "SHA-512",
}

// digestHash is the hash a RAW digest's length says.
var digestHash = map[int]string{32: "SHA-256", 48: "SHA-384", 64: "SHA-512"}

func decodeSign(m *fields) (*Sign, error) {
	tbs := m.get("tbs")
	if tbs == "" {
		return nil, refuse(CodeNoTBS, "tbs is empty")
	}
	s := &Sign{SignatureType: strings.ToUpper(m.get("signatureType")), WithCardSN: strings.EqualFold(m.get("withCardSN"), "true")}
	if s.SignatureType == "" {
		s.SignatureType = "PKCS7"
	}
	enc := strings.ToUpper(m.get("tbsEncoding"))
	if s.SignatureType == "RAW" && enc == "" {
		enc = "BASE64"
	}
	var data []byte
	switch enc {
	case "", "NONE":
		t, err := unescape(tbs)
		if err != nil {
			return nil, err
		}
		data, s.Text = []byte(t), t
	case "BASE64":
		b, err := decodeBase64(tbs)
		if err != nil {
			return nil, err
		}
		data = b
	default:
		return nil, refuse(CodeBadParameter, "tbsEncoding %q is not NONE or base64", truncate(enc, 16))
	}
	h := strings.ToUpper(m.get("hashAlgorithm"))
	switch s.SignatureType {
	case "RAW":
		s.Format, s.HashAlgorithm = "raw", digestHash[len(data)]
		if want, ok := hashes[h]; ok && want != s.HashAlgorithm {
			return nil, refuse(CodeBadParameter, "a %d-byte digest is not %s", len(data), h)
		}
		if s.HashAlgorithm == "" {
			return nil, refuse(CodeBadParameter, "a RAW digest of %d bytes: SHA-256, SHA-384 or SHA-512 digests only (32, 48 or 64 bytes)", len(data))
		}
		s.Digest, s.Text = base64.StdEncoding.EncodeToString(data), ""
		return s, nil
	case "PKCS1":
		s.Format = "raw"
	case "PKCS7":
		s.Format = "cms"
		s.Nonce = m.get("nonce")
		if s.Nonce != "" && (len(s.Nonce) < 4 || len(s.Nonce) > 128) {
			return nil, refuse(CodeBadParameter, "nonce: 4 to 128 bytes")
		}
	default:
		return nil, refuse(CodeSignatureType, "signatureType %q is not PKCS7, PKCS1 or RAW", truncate(s.SignatureType, 16))
	}
	if h == "" {
		h = "SHA256"
	}
	s.HashAlgorithm = hashes[h]
	if s.HashAlgorithm == "" {
		return nil, refuse(CodeBadParameter, "hashAlgorithm %q: SHA256, SHA384 or SHA512 (SHA1 is no longer safe for signatures)", truncate(h, 16))
	}
	if len(data) > protocol.MaxDataSize {
		return nil, refuse(CodeFileTooLarge, "more than %d bytes to sign", protocol.MaxDataSize)
	}
	s.Data = base64.StdEncoding.EncodeToString(data)
	return s, nil
}

func decodeDecrypt(m *fields) (*Decrypt, error) {
	c := m.get("cipher")
	if c == "" {
		return nil, refuse(CodeNoCipher, "cipher is empty")
	}
	switch t := strings.ToUpper(m.get("cipherType")); t {
	case "", "PKCS1", "RSA", "BASE64":
	default:
		return nil, refuse(CodeDecryptType, "cipherType %q: RSA PKCS#1 v1.5 only", truncate(t, 16))
	}
	b, err := decodeBase64(c)
	if err != nil {
		return nil, err
	}
	if len(b) < 64 || len(b) > 512 {
		return nil, refuse(CodeDecryptDER, "a ciphertext of %d bytes is not one RSA block", len(b))
	}
	d := &Decrypt{Ciphertext: base64.StdEncoding.EncodeToString(b), PlainEncoding: "base64"}
	if strings.EqualFold(m.get("plainEncoding"), "NONE") {
		d.PlainEncoding = "NONE"
	}
	return d, nil
}

// unescape undoes what pages do to text before sending it: tbs is
// "URI-encoded". Text that is not (a bare "%") is taken as it is.
func unescape(s string) (string, error) {
	s = percentDecode(s, false)
	if !utf8.ValidString(s) {
		return "", refuse(CodeBadParameter, "tbs is not UTF-8 text: send it as base64")
	}
	return s, nil
}

// decodeBase64 reads standard or URL-safe base64, with or without
// padding, percent-encoded or not, with line breaks; anything else is the
// page's Base64 error.
func decodeBase64(s string) ([]byte, error) {
	s = percentDecode(s, false)
	s = strings.NewReplacer("\r", "", "\n", "", " ", "+").Replace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, refuse(CodeBase64Decode, "not base64")
}

// percentDecode decodes each %XX of s (and "+" as a space when form):
// a "%" that does not start one stays as it is, as a page that did not
// encode its text meant it.
func percentDecode(s string, form bool) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
		case c == '+' && form:
			b.WriteByte(' ')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// BuiltinSites describes the sites answered without configuration: the
// government's own (https, a host under gov.tw, the default port), the
// sites CHT's own server trusts out of the box. Others an administrator
// lists in legacySites.
const BuiltinSites = "https://*.gov.tw"

// BuiltinSite reports whether origin is one of BuiltinSites.
func BuiltinSite(origin string) bool {
	host, ok := strings.CutPrefix(origin, "https://")
	if !ok || strings.ContainsAny(host, ":/@?#") {
		return false
	}
	host = strings.ToLower(host)
	return strings.HasSuffix(host, ".gov.tw") && len(host) > len(".gov.tw") && !strings.HasPrefix(host, ".") && !strings.Contains(host, "..")
}
