package integration

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"maps"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/protocol"
	"github.com/cardbridge/cardbridge/internal/softcard"
)

// Tests of the native-messaging host's commands: the real binary, started
// as a browser starts it, with the virtual card behind pcscd. Every
// signature and token is checked with the standard library (and openssl
// for CMS), never with the host's own code.

// pageOrigin is the origin of the page the requests come from.
const pageOrigin = "https://site.example"

// insGeneralAuthenticate is the PIV instruction that signs and decrypts.
const insGeneralAuthenticate = 0x87

func b64e(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// hostCert is one certificate the host lists.
type hostCert struct {
	id, reader, slot string
	info             map[string]any
	cert             *x509.Certificate
}

// onReader is the argument that picks the test's reader. Tests name it:
// a bench may run a second virtual card in "Virtual PCD 00 01".
var onReader = map[string]any{"reader": readerName}

// hostCerts lists the certificates of the card in reader through the host.
func hostCerts(t *testing.T, h *host, reader string) []hostCert {
	t.Helper()
	res := h.call("certificates", pageOrigin, map[string]any{"reader": reader})
	list, ok := res["certificates"].([]any)
	if !ok {
		t.Fatalf("certificates = %v, want a certificates array", res)
	}
	var out []hostCert
	for _, v := range list {
		m := v.(map[string]any)
		cert, err := x509.ParseCertificate(b64d(t, m["certificate"]))
		if err != nil {
			t.Fatalf("certificate %v does not parse: %v", m["id"], err)
		}
		info, _ := m["info"].(map[string]any)
		id, _ := m["id"].(string)
		reader, _ := m["reader"].(string)
		slot, _ := m["slot"].(string)
		out = append(out, hostCert{id: id, reader: reader, slot: slot, info: info, cert: cert})
	}
	return out
}

// hostCertFor returns the listed certificate with usage (signature or
// encryption).
func hostCertFor(t *testing.T, h *host, usage string) hostCert {
	t.Helper()
	for _, c := range hostCerts(t, h, readerName) {
		if c.info["usage"] == usage {
			return c
		}
	}
	t.Fatalf("no %s certificate listed", usage)
	return hostCert{}
}

// signDigest asks the host for a raw signature over digest.
func signDigest(h *host, id, pin, hashAlg string, digest []byte) map[string]any {
	h.t.Helper()
	return h.call("sign", pageOrigin, map[string]any{"certificateId": id, "pin": pin, "hashAlgorithm": hashAlg, "digest": b64e(digest)})
}

// verifyRSA checks a PKCS#1 v1.5 signature with the certificate's key.
func verifyRSA(t *testing.T, c *x509.Certificate, h crypto.Hash, digest, sig []byte) {
	t.Helper()
	if err := rsa.VerifyPKCS1v15(c.PublicKey.(*rsa.PublicKey), h, digest, sig); err != nil {
		t.Errorf("PKCS#1 v1.5 %v signature does not verify: %v", h, err)
	}
}

// replies waits for the replies to ids, keeping events aside, and returns
// them in the order they arrived.
func (h *host) replies(timeout time.Duration, ids ...float64) []map[string]any {
	h.t.Helper()
	want := make([]any, len(ids))
	for i, id := range ids {
		want[i] = id
	}
	ms, err := h.c.Replies(timeout, want...)
	if err != nil {
		h.fatal(err)
	}
	out := make([]map[string]any, len(ms))
	for i, m := range ms {
		out[i] = m.Fields
	}
	return out
}

// use makes h report failures to t, a subtest, until the returned
// function restores the test it reported to before.
func (h *host) use(t *testing.T) (restore func()) {
	old := h.t
	h.t = t
	return func() { h.t = old }
}

// readerEvent waits for event name about reader and returns its data;
// events about other readers are dropped.
func (h *host) readerEvent(name, reader string, timeout time.Duration) map[string]any {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ev := h.waitEvent(name, time.Until(deadline))
		if d, _ := ev["data"].(map[string]any); d["name"] == reader {
			return d
		}
	}
}

// sendMany writes n copies of one request in a single write, so the host
// reads them back to back, and returns their ids.
func (h *host) sendMany(n int, command, origin string, args any) []float64 {
	h.t.Helper()
	var buf bytes.Buffer
	var ids []float64
	for range n {
		id := h.c.NextID()
		req := map[string]any{"id": id, "command": command, "args": args}
		if origin != "" {
			req["origin"] = origin
		}
		b, err := json.Marshal(req)
		if err != nil {
			h.t.Fatal(err)
		}
		buf.Write(frame(b))
		ids = append(ids, float64(id))
	}
	h.sendRaw(buf.Bytes())
	return ids
}

func TestNativeVersion(t *testing.T) {
	needPCSC(t)
	h := startHost(t, hostOptions{})
	hello := h.hello()
	data, _ := hello["data"].(map[string]any)
	v := h.call("version", "", nil)
	if v["protocol"] != float64(protocol.Version) || v["version"] == "" || v["version"] != data["version"] {
		t.Errorf("version = %v, want protocol %d and the hello's version %v", v, protocol.Version, data["version"])
	}
	if v["os"] != "linux" || v["arch"] == "" {
		t.Errorf("version os/arch = %v/%v, want linux and an architecture", v["os"], v["arch"])
	}
	var cmds []string
	for _, c := range v["commands"].([]any) {
		cmds = append(cmds, c.(string))
	}
	want := []string{"version", "readers", "check", "certificates", "sign", "authenticate", "decrypt", "pinStatus", "changePin", "unblockPin", "config", "exchange", "hipki"}
	if !slices.Equal(cmds, want) {
		t.Errorf("version commands = %q, want %q", cmds, want)
	}
	// A page may ask too; the answer is the same.
	if v2 := h.call("version", pageOrigin, nil); v2["version"] != v["version"] {
		t.Errorf("version from a page = %v, want %v", v2, v)
	}
	if st := h.exit(); st != 0 {
		t.Errorf("exit status %d, want 0", st)
	}
}

// readerIn returns the reader named name from a readers result.
func readerIn(t *testing.T, res map[string]any, name string) map[string]any {
	t.Helper()
	list, _ := res["readers"].([]any)
	for _, r := range list {
		if m := r.(map[string]any); m["name"] == name {
			return m
		}
	}
	t.Fatalf("readers = %v, want reader %q", res, name)
	return nil
}

func TestNativeReaders(t *testing.T) {
	vc := insert(t, issued(t, "rsa", softcard.IssueOptions{}))
	h := startHost(t, hostOptions{})
	h.hello()
	r := readerIn(t, h.call("readers", pageOrigin, nil), readerName)
	wantATR := strings.ToUpper(hex.EncodeToString(vc.card.ATR()))
	if r["card"] != true || r["atr"] != wantATR {
		t.Errorf("reader = %v, want card true and ATR %s", r, wantATR)
	}
	vc.srv.Remove()
	waitPresent(t, false)
	r = readerIn(t, h.call("readers", pageOrigin, nil), readerName)
	if r["card"] != false || r["atr"] != nil {
		t.Errorf("reader after removal = %v, want card false and no ATR", r)
	}
}

func TestNativeCheck(t *testing.T) {
	insert(t, issued(t, "rsa", softcard.IssueOptions{}))
	h := startHost(t, hostOptions{})
	h.hello()
	res := h.call("check", "", map[string]any{"reader": readerName})
	items, _ := res["items"].([]any)
	var ids []string
	for _, it := range items {
		m := it.(map[string]any)
		ids = append(ids, m["id"].(string))
		// A TEST card is a warning by design (it cannot be used for real
		// business); everything else passes on a good card.
		want := "pass"
		if m["id"] == "issuer" {
			want = "warn"
		}
		if m["result"] != want {
			t.Errorf("check item %v = %v, want %s", m["id"], m["result"], want)
		}
	}
	wantIDs := []string{"service", "readers", "card", "connect", "application", "certificates", "validity", "issuer", "pin", "clock"}
	if !slices.Equal(ids, wantIDs) {
		t.Errorf("check item ids = %q, want %q", ids, wantIDs)
	}
	if res["overall"] != "warn" || res["reader"] != readerName || res["pinTriesLeft"] != float64(3) {
		t.Errorf("check = overall %v, reader %v, pinTriesLeft %v; want warn (TEST card only), %s, 3", res["overall"], res["reader"], res["pinTriesLeft"], readerName)
	}
}

func TestNativeCertificates(t *testing.T) {
	st := issued(t, "rsa", softcard.IssueOptions{})
	insert(t, st)
	h := startHost(t, hostOptions{})
	h.hello()
	certs := hostCerts(t, h, readerName)
	if len(certs) != 2 {
		t.Fatalf("certificates = %d, want 2", len(certs))
	}
	for i, want := range []struct {
		usage, slot string
		slotNum     softcard.Slot
		keyUsage    x509.KeyUsage
	}{
		{"signature", "9A", softcard.SlotAuthentication, x509.KeyUsageDigitalSignature},
		{"encryption", "9D", softcard.SlotKeyManagement, x509.KeyUsageKeyEncipherment},
	} {
		c := certs[i]
		sum := sha256.Sum256(c.cert.Raw)
		if c.id != hex.EncodeToString(sum[:]) {
			t.Errorf("certificate %d id = %s, want the SHA-256 of its DER %x", i, c.id, sum)
		}
		if !bytes.Equal(c.cert.Raw, st.Cert(want.slotNum)) {
			t.Errorf("certificate %d is not the card's certificate in slot %s", i, want.slot)
		}
		if c.info["usage"] != want.usage || c.slot != want.slot || c.reader != readerName {
			t.Errorf("certificate %d = usage %v slot %s reader %s, want %s in %s of %s", i, c.info["usage"], c.slot, c.reader, want.usage, want.slot, readerName)
		}
		if c.cert.KeyUsage&want.keyUsage == 0 {
			t.Errorf("certificate %d key usage %b lacks %b", i, c.cert.KeyUsage, want.keyUsage)
		}
		if c.info["holder"] != "測試幼兒園" || c.info["ubn"] != "04595252" || c.info["test"] != true {
			t.Errorf("certificate %d info = holder %v ubn %v test %v, want 測試幼兒園, 04595252, true", i, c.info["holder"], c.info["ubn"], c.info["test"])
		}
	}
}

func TestNativeSignRSA(t *testing.T) {
	insert(t, issued(t, "rsa", softcard.IssueOptions{}))
	h := startHost(t, hostOptions{})
	h.hello()
	c := hostCertFor(t, h, "signature")
	data := []byte("公文 2026 第 1 號")
	for _, tc := range []struct {
		name string
		h    crypto.Hash
		new  func() hash.Hash
	}{
		{"SHA-256", crypto.SHA256, sha256.New},
		{"SHA-384", crypto.SHA384, sha512.New384},
		{"SHA-512", crypto.SHA512, sha512.New},
	} {
		hh := tc.new()
		hh.Write(data)
		digest := hh.Sum(nil)
		t.Run(tc.name+"/digest", func(t *testing.T) {
			defer h.use(t)()
			res := signDigest(h, c.id, softcard.DefaultPIN, tc.name, digest)
			if want := "RS" + tc.name[4:]; res["algorithm"] != want {
				t.Errorf("algorithm = %v, want %s", res["algorithm"], want)
			}
			if !bytes.Equal(b64d(t, res["certificate"]), c.cert.Raw) {
				t.Errorf("result certificate is not the signing certificate")
			}
			verifyRSA(t, c.cert, tc.h, digest, b64d(t, res["signature"]))
		})
		t.Run(tc.name+"/data", func(t *testing.T) {
			defer h.use(t)()
			res := h.call("sign", pageOrigin, map[string]any{"certificateId": c.id, "pin": softcard.DefaultPIN, "hashAlgorithm": tc.name, "data": b64e(data)})
			verifyRSA(t, c.cert, tc.h, digest, b64d(t, res["signature"]))
		})
		// Raw signatures are PKCS#1 v1.5 only: PSS is what login tokens
		// use, so there is no padding argument to ask for it.
		t.Run(tc.name+"/PSS refused", func(t *testing.T) {
			defer h.use(t)()
			e := h.callErr("sign", pageOrigin, map[string]any{"certificateId": c.id, "pin": softcard.DefaultPIN, "hashAlgorithm": tc.name, "digest": b64e(digest), "padding": "PSS"})
			wantCode(t, e, protocol.ErrBadArgument)
			wantDetail(t, e, "argument", "padding")
		})
	}
	h.noPIN(softcard.DefaultPIN)
}

func TestNativeSignECDSA(t *testing.T) {
	insert(t, issued(t, "native-p256", softcard.IssueOptions{SignAlg: "p256"}))
	h := startHost(t, hostOptions{})
	h.hello()
	c := hostCertFor(t, h, "signature")
	pub, ok := c.cert.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		t.Fatalf("signature certificate key = %T, want ECDSA", c.cert.PublicKey)
	}
	data := []byte("公文")
	digest := sha256.Sum256(data)
	// ECDSA keys sign only in CMS: an ECDSA signature over a digest of
	// the page's choice would be an ES256 login token for any origin.
	for _, tc := range []struct {
		name string
		args map[string]any
	}{
		{"digest", map[string]any{"digest": b64e(digest[:])}},
		{"data", map[string]any{"data": b64e(data)}},
		{"data format raw", map[string]any{"data": b64e(data), "format": "raw"}},
		{"data SHA-512", map[string]any{"data": b64e(data), "hashAlgorithm": "SHA-512"}},
	} {
		t.Run(tc.name+" refused", func(t *testing.T) {
			defer h.use(t)()
			args := map[string]any{"certificateId": c.id, "pin": softcard.DefaultPIN, "hashAlgorithm": "SHA-256"}
			maps.Copy(args, tc.args)
			e := h.callErr("sign", pageOrigin, args)
			wantCode(t, e, protocol.ErrUnsupportedAlg)
			wantDetail(t, e, "hint", "format cms")
		})
	}
	// Refused before the PIN is presented: no try is used.
	if st := h.call("pinStatus", pageOrigin, onReader); st["triesLeft"] != float64(3) {
		t.Errorf("pinStatus after raw ECDSA refusals = %v, want 3 tries left", st)
	}
	t.Run("cms", func(t *testing.T) {
		defer h.use(t)()
		res := h.call("sign", pageOrigin, map[string]any{"certificateId": c.id, "pin": softcard.DefaultPIN, "hashAlgorithm": "SHA-256", "format": "cms", "data": b64e(data), "nonce": "n0nce"})
		// DER signatures in CMS: not ES256, which names r‖s.
		if res["algorithm"] != "ECDSA-SHA-256" {
			t.Errorf("algorithm = %v, want ECDSA-SHA-256", res["algorithm"])
		}
		if res["signature"] != nil {
			t.Errorf("cms result has a signature %v, want only cms", res["signature"])
		}
		der := b64d(t, res["cms"])
		opensslVerifyCMS(t, der, data)
		parseCMS(t, der, c.cert, data)
		if !ecdsa.VerifyASN1(pub, cmsSignedAttrsDigest(t, der), cmsSignature(t, der)) {
			t.Errorf("CMS ECDSA signature (ASN.1 DER) does not verify")
		}
	})
	for _, hashAlg := range []string{"SHA-384", "SHA-512"} {
		t.Run("cms "+hashAlg, func(t *testing.T) {
			defer h.use(t)()
			res := h.call("sign", pageOrigin, map[string]any{"certificateId": c.id, "pin": softcard.DefaultPIN, "hashAlgorithm": hashAlg, "format": "cms", "data": b64e(data)})
			if want := "ECDSA-" + hashAlg; res["algorithm"] != want {
				t.Errorf("algorithm = %v, want %s", res["algorithm"], want)
			}
			opensslVerifyCMS(t, b64d(t, res["cms"]), data)
		})
	}
	// There is no padding argument, for any key.
	e := h.callErr("sign", pageOrigin, map[string]any{"certificateId": c.id, "pin": softcard.DefaultPIN, "hashAlgorithm": "SHA-256", "digest": b64e(digest[:]), "padding": "PSS"})
	wantCode(t, e, protocol.ErrBadArgument)
	wantDetail(t, e, "argument", "padding")
	h.noPIN(softcard.DefaultPIN)
}

// CMS structures (RFC 5652 §5), as far as the tests read them.
type (
	cmsContentInfo struct {
		ContentType asn1.ObjectIdentifier
		Content     asn1.RawValue `asn1:"explicit,tag:0"`
	}
	cmsSignedData struct {
		Version          int
		DigestAlgorithms []pkix.AlgorithmIdentifier `asn1:"set"`
		EncapContent     cmsEncapContent
		Certificates     asn1.RawValue   `asn1:"optional,tag:0"`
		CRLs             asn1.RawValue   `asn1:"optional,tag:1"`
		SignerInfos      []cmsSignerInfo `asn1:"set"`
	}
	cmsEncapContent struct {
		ContentType asn1.ObjectIdentifier
		Content     asn1.RawValue `asn1:"optional,explicit,tag:0"`
	}
	cmsSignerInfo struct {
		Version         int
		SID             asn1.RawValue
		DigestAlgorithm pkix.AlgorithmIdentifier
		SignedAttrs     asn1.RawValue `asn1:"optional,tag:0"`
		SignatureAlg    pkix.AlgorithmIdentifier
		Signature       []byte
	}
	cmsAttribute struct {
		Type   asn1.ObjectIdentifier
		Values []asn1.RawValue `asn1:"set"`
	}
)

var (
	oidSignedData    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidData          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidContentType   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidMessageDigest = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidSigningTime   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
	oidRandomNonce   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 25, 3}
	oidCardSerial    = asn1.ObjectIdentifier{2, 16, 886, 1, 100, 2, 204}
	oidSHA256        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
)

// parseCMS decodes a detached SignedData with one signer, checks its
// signature over the signed attributes with cert and the message digest
// against data, and returns the signed attributes by OID.
func parseCMS(t *testing.T, der []byte, cert *x509.Certificate, data []byte) map[string]asn1.RawValue {
	t.Helper()
	var ci cmsContentInfo
	if rest, err := asn1.Unmarshal(der, &ci); err != nil || len(rest) > 0 || !ci.ContentType.Equal(oidSignedData) {
		t.Fatalf("CMS ContentInfo = %v (%d bytes left), %v; want SignedData", ci.ContentType, len(rest), err)
	}
	var sd cmsSignedData
	if _, err := asn1.Unmarshal(ci.Content.Bytes, &sd); err != nil {
		t.Fatalf("SignedData: %v", err)
	}
	if !sd.EncapContent.ContentType.Equal(oidData) || len(sd.EncapContent.Content.FullBytes) != 0 {
		t.Errorf("encapsulated content = %v with %d bytes, want detached id-data", sd.EncapContent.ContentType, len(sd.EncapContent.Content.FullBytes))
	}
	if len(sd.SignerInfos) != 1 {
		t.Fatalf("SignedData has %d signers, want 1", len(sd.SignerInfos))
	}
	si := sd.SignerInfos[0]
	if !si.DigestAlgorithm.Algorithm.Equal(oidSHA256) {
		t.Errorf("digest algorithm = %v, want SHA-256", si.DigestAlgorithm.Algorithm)
	}
	if len(si.SignedAttrs.FullBytes) == 0 {
		t.Fatalf("signer has no signed attributes")
	}
	var attrs []cmsAttribute
	if _, err := asn1.UnmarshalWithParams(si.SignedAttrs.FullBytes, &attrs, "set,tag:0"); err != nil {
		t.Fatalf("signed attributes: %v", err)
	}
	out := map[string]asn1.RawValue{}
	for _, a := range attrs {
		if len(a.Values) != 1 {
			t.Errorf("attribute %v has %d values, want 1", a.Type, len(a.Values))
			continue
		}
		out[a.Type.String()] = a.Values[0]
	}
	// The signature covers the attributes as a SET (RFC 5652 §5.4).
	signed := bytes.Clone(si.SignedAttrs.FullBytes)
	signed[0] = 0x31
	sum := sha256.Sum256(signed)
	switch pub := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		verifyRSA(t, cert, crypto.SHA256, sum[:], si.Signature)
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(pub, sum[:], si.Signature) {
			t.Errorf("CMS ECDSA signature over the signed attributes does not verify")
		}
	default:
		t.Fatalf("signer key %T", cert.PublicKey)
	}
	var md []byte
	if _, err := asn1.Unmarshal(out[oidMessageDigest.String()].FullBytes, &md); err != nil {
		t.Fatalf("messageDigest: %v", err)
	}
	if want := sha256.Sum256(data); !bytes.Equal(md, want[:]) {
		t.Errorf("messageDigest = %x, want %x", md, want)
	}
	var ct asn1.ObjectIdentifier
	if _, err := asn1.Unmarshal(out[oidContentType.String()].FullBytes, &ct); err != nil || !ct.Equal(oidData) {
		t.Errorf("contentType attribute = %v, %v, want id-data", ct, err)
	}
	return out
}

// cmsSigner returns the one SignerInfo of a SignedData.
func cmsSigner(t *testing.T, der []byte) cmsSignerInfo {
	t.Helper()
	var ci cmsContentInfo
	if _, err := asn1.Unmarshal(der, &ci); err != nil {
		t.Fatalf("CMS ContentInfo: %v", err)
	}
	var sd cmsSignedData
	if _, err := asn1.Unmarshal(ci.Content.Bytes, &sd); err != nil {
		t.Fatalf("SignedData: %v", err)
	}
	if len(sd.SignerInfos) != 1 {
		t.Fatalf("SignedData has %d signers, want 1", len(sd.SignerInfos))
	}
	return sd.SignerInfos[0]
}

// cmsSignature returns the signature of a SignedData's one signer.
func cmsSignature(t *testing.T, der []byte) []byte {
	t.Helper()
	return cmsSigner(t, der).Signature
}

// cmsSignedAttrsDigest returns the SHA-256 of the signed attributes as a
// SET, which is what the signer's signature covers (RFC 5652 §5.4).
func cmsSignedAttrsDigest(t *testing.T, der []byte) []byte {
	t.Helper()
	signed := bytes.Clone(cmsSigner(t, der).SignedAttrs.FullBytes)
	signed[0] = 0x31
	sum := sha256.Sum256(signed)
	return sum[:]
}

func TestNativeSignCMS(t *testing.T) {
	insert(t, issued(t, "rsa", softcard.IssueOptions{}))
	h := startHost(t, hostOptions{})
	h.hello()
	c := hostCertFor(t, h, "signature")
	data := []byte("<公文>第 1 號</公文>\n")
	nonce := "n0nce-2026-公文"
	res := h.call("sign", pageOrigin, map[string]any{"certificateId": c.id, "pin": softcard.DefaultPIN, "hashAlgorithm": "SHA-256", "format": "cms", "data": b64e(data), "nonce": nonce})
	if res["algorithm"] != "RS256" || res["cardSerial"] != "TEST000000000001" || res["signature"] != nil {
		t.Errorf("sign cms = algorithm %v, cardSerial %v, signature %v; want RS256, TEST000000000001, none", res["algorithm"], res["cardSerial"], res["signature"])
	}
	der := b64d(t, res["cms"])
	opensslVerifyCMS(t, der, data)
	attrs := parseCMS(t, der, c.cert, data)
	var signingTime time.Time
	if _, err := asn1.Unmarshal(attrs[oidSigningTime.String()].FullBytes, &signingTime); err != nil {
		t.Errorf("signingTime: %v", err)
	} else if d := time.Since(signingTime); d < -time.Minute || d > time.Minute {
		t.Errorf("signingTime = %v, want within a minute of now", signingTime)
	}
	if rt, err := time.Parse(time.RFC3339, fmt.Sprint(res["signingTime"])); err != nil || !rt.Equal(signingTime) {
		t.Errorf("result signingTime = %v, want the signed %v", res["signingTime"], signingTime)
	}
	var gotNonce []byte
	if _, err := asn1.Unmarshal(attrs[oidRandomNonce.String()].FullBytes, &gotNonce); err != nil || string(gotNonce) != nonce {
		t.Errorf("randomNonce = %q, %v, want OCTET STRING %q", gotNonce, err, nonce)
	}
	var serial string
	if _, err := asn1.Unmarshal(attrs[oidCardSerial.String()].FullBytes, &serial); err != nil || serial != "TEST000000000001" {
		t.Errorf("card serial attribute = %q, %v, want TEST000000000001", serial, err)
	}

	res = h.call("sign", pageOrigin, map[string]any{"certificateId": c.id, "pin": softcard.DefaultPIN, "hashAlgorithm": "SHA-256", "format": "cms", "data": b64e(data), "withCardSerial": false})
	if res["cardSerial"] != nil {
		t.Errorf("cardSerial with withCardSerial false = %v, want none", res["cardSerial"])
	}
	attrs = parseCMS(t, b64d(t, res["cms"]), c.cert, data)
	if _, ok := attrs[oidCardSerial.String()]; ok {
		t.Errorf("withCardSerial false: card serial attribute present")
	}
	if _, ok := attrs[oidRandomNonce.String()]; ok {
		t.Errorf("no nonce asked: randomNonce attribute present")
	}
	h.noPIN(softcard.DefaultPIN)
}

// opensslVerifyCMS checks a detached CMS signature over data with
// openssl (signature only: the TEST CA is not a trust anchor), and that
// it fails for altered data.
func opensslVerifyCMS(t *testing.T, der, data []byte) {
	t.Helper()
	dir := t.TempDir()
	cmsPath, dataPath := filepath.Join(dir, "sig.p7s"), filepath.Join(dir, "data.bin")
	if err := os.WriteFile(cmsPath, der, 0o600); err != nil {
		t.Fatal(err)
	}
	verify := func(content []byte) (string, error) {
		if err := os.WriteFile(dataPath, content, 0o600); err != nil {
			t.Fatal(err)
		}
		return tool(t, "openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", cmsPath, "-content", dataPath, "-noverify", "-out", os.DevNull)
	}
	if out, err := verify(data); err != nil || !strings.Contains(out, "Verification successful") {
		t.Errorf("openssl cms -verify = %v\n%s", err, out)
	}
	if out, err := verify(append(bytes.Clone(data), '!')); err == nil {
		t.Errorf("openssl cms -verify of altered data succeeded:\n%s", out)
	}
}

// authDigest is SHA-256(SHA-256(origin) ‖ SHA-256(challenge)), computed
// here independently of the authtoken package.
func authDigest(origin, challenge string) []byte {
	o := sha256.Sum256([]byte(origin))
	c := sha256.Sum256([]byte(challenge))
	d := sha256.Sum256(append(o[:], c[:]...))
	return d[:]
}

func TestNativeAuthenticate(t *testing.T) {
	for _, tc := range []struct {
		name, card string
		o          softcard.IssueOptions
		alg        string
	}{
		{"RSA", "rsa", softcard.IssueOptions{}, "PS256"},
		{"P-256", "native-p256", softcard.IssueOptions{SignAlg: "p256"}, "ES256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			insert(t, issued(t, tc.card, tc.o))
			h := startHost(t, hostOptions{})
			h.hello()
			c := hostCertFor(t, h, "signature")
			nonce := make([]byte, 32)
			rand.Read(nonce)
			challenge := b64e(nonce)
			tok := h.call("authenticate", pageOrigin, map[string]any{"certificateId": c.id, "pin": softcard.DefaultPIN, "challenge": challenge})
			if tok["format"] != "cardbridge:1" || tok["algorithm"] != tc.alg {
				t.Errorf("token format %v algorithm %v, want cardbridge:1 and %s", tok["format"], tok["algorithm"], tc.alg)
			}
			if !bytes.Equal(b64d(t, tok["certificate"]), c.cert.Raw) {
				t.Errorf("token certificate is not the signing certificate")
			}
			sig := b64d(t, tok["signature"])
			verifies := func(origin string) bool {
				d := authDigest(origin, challenge)
				switch pub := c.cert.PublicKey.(type) {
				case *rsa.PublicKey:
					// PS256: RSASSA-PSS, SHA-256 and MGF1-SHA-256, salt 32.
					if rsa.VerifyPKCS1v15(pub, crypto.SHA256, d, sig) == nil {
						t.Errorf("RSA token signature is PKCS#1 v1.5, which raw sign gives any page; want PSS")
					}
					return rsa.VerifyPSS(pub, crypto.SHA256, d, sig, &rsa.PSSOptions{SaltLength: 32, Hash: crypto.SHA256}) == nil
				case *ecdsa.PublicKey:
					if len(sig) != 64 {
						t.Fatalf("ES256 signature of %d bytes, want 64 (r‖s)", len(sig))
					}
					return ecdsa.Verify(pub, d, new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
				}
				t.Fatalf("key %T", c.cert.PublicKey)
				return false
			}
			if !verifies(pageOrigin) {
				t.Errorf("token signature does not verify for %s", pageOrigin)
			}
			if verifies("https://other.example") {
				t.Errorf("token signature verifies for another origin")
			}
			h.noPIN(softcard.DefaultPIN)
		})
	}
}

func TestNativeDecrypt(t *testing.T) {
	insert(t, issued(t, "rsa", softcard.IssueOptions{}))
	h := startHost(t, hostOptions{})
	h.hello()
	c := hostCertFor(t, h, "encryption")
	pub := c.cert.PublicKey.(*rsa.PublicKey)
	secret := []byte("公文 session key 0123456789abcdef")
	for _, tc := range []struct {
		name    string
		encrypt func() ([]byte, error)
		args    map[string]any
	}{
		{"PKCS1.5", func() ([]byte, error) { return rsa.EncryptPKCS1v15(rand.Reader, pub, secret) }, map[string]any{}},
		{"OAEP-SHA-256", func() ([]byte, error) { return rsa.EncryptOAEP(sha256.New(), rand.Reader, pub, secret, nil) }, map[string]any{"padding": "OAEP"}},
		{"OAEP-SHA-256-explicit", func() ([]byte, error) { return rsa.EncryptOAEP(sha256.New(), rand.Reader, pub, secret, nil) }, map[string]any{"padding": "OAEP", "oaepHash": "SHA-256"}},
		{"OAEP-SHA-1", func() ([]byte, error) { return rsa.EncryptOAEP(sha1.New(), rand.Reader, pub, secret, nil) }, map[string]any{"padding": "OAEP", "oaepHash": "SHA-1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer h.use(t)()
			ct, err := tc.encrypt()
			if err != nil {
				t.Fatal(err)
			}
			tc.args["certificateId"], tc.args["pin"], tc.args["ciphertext"] = c.id, softcard.DefaultPIN, b64e(ct)
			res := h.call("decrypt", pageOrigin, tc.args)
			if got := b64d(t, res["plaintext"]); !bytes.Equal(got, secret) {
				t.Errorf("plaintext = %q, want %q", got, secret)
			}
		})
	}
	h.noPIN(softcard.DefaultPIN)
}

func TestNativePINStatus(t *testing.T) {
	insert(t, issued(t, "rsa", softcard.IssueOptions{}))
	h := startHost(t, hostOptions{})
	h.hello()
	sig := hostCertFor(t, h, "signature")
	for _, args := range []map[string]any{{"reader": readerName}, {"certificateId": sig.id}} {
		st := h.call("pinStatus", pageOrigin, args)
		if st["triesLeft"] != float64(3) || st["blocked"] != false || st["minLength"] != float64(6) || st["maxLength"] != float64(8) || st["pukLength"] != float64(8) || st["reader"] != readerName {
			t.Errorf("pinStatus(%v) = %v, want 3 tries, not blocked, lengths 6/8/8 in %s", args, st, readerName)
		}
	}
}

// TestNativePINNotLeftVerified: after a signature the card must not stay
// PIN-verified. Otherwise pinStatus can no longer show the tries left
// before the user types (DESIGN, PIN), and any other program on the
// computer can use the key without the PIN until the card is reset.
func TestNativePINNotLeftVerified(t *testing.T) {
	insert(t, issued(t, "rsa", softcard.IssueOptions{}))
	h := startHost(t, hostOptions{})
	h.hello()
	c := hostCertFor(t, h, "signature")
	digest := sha256.Sum256([]byte("x"))
	signDigest(h, c.id, softcard.DefaultPIN, "SHA-256", digest[:])
	if st := h.call("pinStatus", pageOrigin, onReader); st["triesLeft"] != float64(3) {
		t.Errorf("pinStatus after a signature = %v, want 3 tries left (card not left verified)", st)
	}
}

func TestNativeChangePIN(t *testing.T) {
	insert(t, issued(t, "rsa", softcard.IssueOptions{}))
	h := startHost(t, hostOptions{})
	h.hello()
	c := hostCertFor(t, h, "signature")
	const newPIN = "Zx81q7"
	res := h.call("changePin", pageOrigin, map[string]any{"reader": readerName, "pin": softcard.DefaultPIN, "newPin": newPIN})
	if res["reader"] != readerName || res["triesLeft"] != float64(3) {
		t.Errorf("changePin = %v, want reader %s and 3 tries", res, readerName)
	}
	digest := sha256.Sum256([]byte("x"))
	verifyRSA(t, c.cert, crypto.SHA256, digest[:], b64d(t, signDigest(h, c.id, newPIN, "SHA-256", digest[:])["signature"]))
	e := h.callErr("sign", pageOrigin, map[string]any{"certificateId": c.id, "pin": softcard.DefaultPIN, "hashAlgorithm": "SHA-256", "digest": b64e(digest[:])})
	wantCode(t, e, protocol.ErrPINIncorrect)
	h.noPIN(softcard.DefaultPIN, newPIN)
}

// blockPIN enters three wrong PINs.
func blockPIN(t *testing.T, h *host, id string) {
	t.Helper()
	digest := sha256.Sum256([]byte("x"))
	for i := 0; i < 3; i++ {
		h.callErr("sign", pageOrigin, map[string]any{"certificateId": id, "pin": "000000", "hashAlgorithm": "SHA-256", "digest": b64e(digest[:])})
	}
	if st := h.call("pinStatus", pageOrigin, onReader); st["blocked"] != true || st["triesLeft"] != float64(0) {
		t.Fatalf("pinStatus after 3 wrong PINs = %v, want blocked", st)
	}
}

func TestNativeUnblockPIN(t *testing.T) {
	insert(t, issued(t, "rsa", softcard.IssueOptions{}))
	h := startHost(t, hostOptions{})
	h.hello()
	c := hostCertFor(t, h, "signature")
	blockPIN(t, h, c.id)
	const newPIN = "Qw5521"
	res := h.call("unblockPin", pageOrigin, map[string]any{"certificateId": c.id, "puk": softcard.DefaultPUK, "newPin": newPIN})
	if res["triesLeft"] != float64(3) || res["reader"] != readerName {
		t.Errorf("unblockPin = %v, want 3 tries in %s", res, readerName)
	}
	digest := sha256.Sum256([]byte("x"))
	verifyRSA(t, c.cert, crypto.SHA256, digest[:], b64d(t, signDigest(h, c.id, newPIN, "SHA-256", digest[:])["signature"]))
	h.noPIN(newPIN, softcard.DefaultPUK)
}

func TestNativeActivateNewCard(t *testing.T) {
	insert(t, issued(t, "new", softcard.IssueOptions{NotActivated: true}))
	h := startHost(t, hostOptions{})
	h.hello()
	c := hostCertFor(t, h, "signature")
	if st := h.call("pinStatus", pageOrigin, onReader); st["blocked"] != true {
		t.Errorf("pinStatus of a new card = %v, want blocked", st)
	}
	digest := sha256.Sum256([]byte("x"))
	e := h.callErr("sign", pageOrigin, map[string]any{"certificateId": c.id, "pin": softcard.DefaultPIN, "hashAlgorithm": "SHA-256", "digest": b64e(digest[:])})
	wantCode(t, e, protocol.ErrPINBlocked)
	const pin = "Acv812"
	if res := h.call("unblockPin", pageOrigin, map[string]any{"reader": readerName, "puk": softcard.DefaultPUK, "newPin": pin}); res["triesLeft"] != float64(3) {
		t.Errorf("unblockPin (activation) = %v, want 3 tries", res)
	}
	verifyRSA(t, c.cert, crypto.SHA256, digest[:], b64d(t, signDigest(h, c.id, pin, "SHA-256", digest[:])["signature"]))
	h.noPIN(pin, softcard.DefaultPUK)
}

func TestNativeManyRequests(t *testing.T) {
	insert(t, issued(t, "rsa", softcard.IssueOptions{}))
	h := startHost(t, hostOptions{})
	h.hello()
	c := hostCertFor(t, h, "signature")
	for i := range 20 {
		switch i % 4 {
		case 0:
			h.call("version", "", nil)
		case 1:
			readerIn(t, h.call("readers", pageOrigin, nil), readerName)
		case 2:
			if n := len(hostCerts(t, h, readerName)); n != 2 {
				t.Errorf("request %d: %d certificates, want 2", i, n)
			}
		case 3:
			digest := sha256.Sum256(fmt.Appendf(nil, "document %d", i))
			verifyRSA(t, c.cert, crypto.SHA256, digest[:], b64d(t, signDigest(h, c.id, softcard.DefaultPIN, "SHA-256", digest[:])["signature"]))
		}
	}
	if st := h.exit(); st != 0 {
		t.Errorf("exit status %d after 20 requests, want 0", st)
	}
}

func TestNativeEvents(t *testing.T) {
	vc := insert(t, issued(t, "rsa", softcard.IssueOptions{}))
	h := startHost(t, hostOptions{})
	h.hello()
	h.call("readers", "", nil)
	// The watcher starts after the hello; give it time to record the
	// present card, or the removal would look like the starting state.
	time.Sleep(300 * time.Millisecond)
	vc.srv.Remove()
	d := h.readerEvent("cardRemoved", readerName, 10*time.Second)
	if d["card"] != false || d["atr"] != nil {
		t.Errorf("cardRemoved data = %v, want no card", d)
	}
	vc.srv.Insert()
	d = h.readerEvent("cardInserted", readerName, 10*time.Second)
	if want := strings.ToUpper(hex.EncodeToString(vc.card.ATR())); d["card"] != true || d["atr"] != want {
		t.Errorf("cardInserted data = %v, want a card with ATR %s", d, want)
	}
}

func TestNativeConcurrentRequests(t *testing.T) {
	vc := insert(t, issued(t, "rsa", softcard.IssueOptions{}))
	h := startHost(t, hostOptions{})
	h.hello()
	c := hostCertFor(t, h, "signature")
	digest := sha256.Sum256([]byte("slow card"))
	signArgs := map[string]any{"certificateId": c.id, "pin": softcard.DefaultPIN, "hashAlgorithm": "SHA-256", "digest": b64e(digest[:])}

	// Each APDU of the signature (RSA-2048 needs two, chained) waits this.
	const slow = time.Second
	t.Run("others answer during a slow signature", func(t *testing.T) {
		defer h.use(t)()
		vc.srv.DelayOn(insGeneralAuthenticate, slow)
		defer vc.srv.DelayOn(insGeneralAuthenticate, 0)
		start := time.Now()
		signID := h.send("sign", pageOrigin, signArgs)
		verID := h.send("version", "", nil)
		readersID := h.send("readers", pageOrigin, nil)
		got := h.replies(30*time.Second, signID, verID, readersID)
		var order []float64
		for _, m := range got {
			order = append(order, m["id"].(float64))
		}
		if order[2] != signID {
			t.Errorf("reply order %v, want version (%v) and readers (%v) before sign (%v)", order, verID, readersID, signID)
		}
		for _, m := range got[:2] {
			if m["result"] == nil {
				t.Errorf("reply %v, want a result", m)
			}
		}
		sign := got[2]
		res, ok := sign["result"].(map[string]any)
		if !ok {
			t.Fatalf("sign reply = %v, want a result", sign)
		}
		if d := time.Since(start); d < slow {
			t.Errorf("sign took %v, want at least the card's delay %v (DelayOn not effective?)", d, slow)
		}
		verifyRSA(t, c.cert, crypto.SHA256, digest[:], b64d(t, res["signature"]))
	})

	t.Run("two signatures on one card", func(t *testing.T) {
		defer h.use(t)()
		vc.srv.DelayOn(insGeneralAuthenticate, 300*time.Millisecond)
		defer vc.srv.DelayOn(insGeneralAuthenticate, 0)
		d2 := sha256.Sum256([]byte("second"))
		a2 := maps.Clone(signArgs)
		a2["digest"] = b64e(d2[:])
		id1 := h.send("sign", pageOrigin, signArgs)
		id2 := h.send("sign", pageOrigin, a2)
		for _, m := range h.replies(30*time.Second, id1, id2) {
			res, ok := m["result"].(map[string]any)
			if !ok {
				t.Errorf("sign reply = %v, want a result", m)
				continue
			}
			want := digest[:]
			if m["id"] == id2 {
				want = d2[:]
			}
			verifyRSA(t, c.cert, crypto.SHA256, want, b64d(t, res["signature"]))
		}
	})

	t.Run("busy", func(t *testing.T) {
		defer h.use(t)()
		vc.srv.DelayOn(insGeneralAuthenticate, slow)
		defer vc.srv.DelayOn(insGeneralAuthenticate, 0)
		signID := h.send("sign", pageOrigin, signArgs)
		time.Sleep(300 * time.Millisecond) // the sign holds the card
		// Eight requests may be in flight; the sign holds one slot and the
		// pinStatus requests queue for the card, holding the others.
		ids := h.sendMany(9, "pinStatus", pageOrigin, map[string]any{"reader": readerName})
		busy := 0
		for _, m := range h.replies(30*time.Second, append(ids, signID)...) {
			if e, ok := m["error"].(map[string]any); ok {
				if e["code"] != string(protocol.ErrBusy) || m["id"] == signID {
					t.Errorf("reply %v, want a result or ERR_BUSY for a pinStatus", m)
				}
				busy++
			}
		}
		if busy != 2 {
			t.Errorf("%d requests refused as busy, want 2 (10 sent, 8 in flight at most)", busy)
		}
	})
	h.noPIN(softcard.DefaultPIN)
}

func TestNativeLogFile(t *testing.T) {
	const pin, puk = "Lg4Pq9", "Lk70Zx3w"
	insert(t, issued(t, "native-secrets", softcard.IssueOptions{PIN: pin, PUK: puk}))
	logPath := filepath.Join(t.TempDir(), "logs", "host.log")
	cfg, _ := json.Marshal(map[string]any{"logLevel": "debug", "logFile": logPath})
	h := startHost(t, hostOptions{config: string(cfg)})
	h.hello()
	c := hostCertFor(t, h, "signature")
	digest := sha256.Sum256([]byte("x"))
	signDigest(h, c.id, pin, "SHA-256", digest[:])
	wantCode(t, h.callErr("sign", pageOrigin, map[string]any{"certificateId": c.id, "pin": "Wr0ng9", "hashAlgorithm": "SHA-256", "digest": b64e(digest[:])}), protocol.ErrPINIncorrect)
	h.call("unblockPin", pageOrigin, map[string]any{"reader": readerName, "puk": puk, "newPin": pin})
	h.call("changePin", pageOrigin, map[string]any{"reader": readerName, "pin": pin, "newPin": "Nw7Pin"})
	if st := h.exit(); st != 0 {
		t.Errorf("exit status %d, want 0", st)
	}
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatalf("log file: %v", err)
	}
	log := string(b)
	for _, want := range []string{"msg=started", `msg="request done"`, "command=sign", "command=unblockPin", `msg="request failed"`, "code=ERR_PIN_INCORRECT", "msg=stopped"} {
		if !strings.Contains(log, want) {
			t.Errorf("log file lacks %q:\n%s", want, log)
		}
	}
	for _, s := range []string{pin, puk, "Wr0ng9", "Nw7Pin"} {
		if strings.Contains(log, s) {
			t.Errorf("log file contains a secret %q:\n%s", s, log)
		}
	}
	h.noPIN(pin, puk, "Wr0ng9", "Nw7Pin")
}

// serveVirtual runs `cardbridge-softcard serve --listen` on a free loopback
// port with a card in state st and returns its address and the address of
// its HTTP controls.
func serveVirtual(t *testing.T, st *softcard.State) (addr, control string) {
	t.Helper()
	dir := t.TempDir()
	path, controlFile := filepath.Join(dir, "card.json"), filepath.Join(dir, "control")
	if err := softcard.SaveState(path, st); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(softcardBinary, "serve", "--state", path, "--listen", "127.0.0.1:0", "--control", "127.0.0.1:0", "--control-file", controlFile)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	addrc := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`msg="virtual card listening" addr=(127\.0\.0\.1:\d+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addrc <- m[1]
			}
		}
	}()
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	select {
	case addr = <-addrc:
	case <-done:
		t.Fatal("softcard serve exited before listening")
	case <-time.After(10 * time.Second):
		t.Fatal("softcard serve did not report its address within 10 s")
	}
	b, err := os.ReadFile(controlFile) // written before the card listens
	if err != nil {
		t.Fatalf("control address: %v", err)
	}
	return addr, string(b)
}

// postControl posts to the virtual card's HTTP controls.
func postControl(t *testing.T, addr, path string) {
	t.Helper()
	resp, err := http.Post("http://"+addr+path, "", nil)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s = %s", path, resp.Status)
	}
}

func TestNativeVirtualReader(t *testing.T) {
	needPCSC(t)
	const virtualReader = "CardBridge Virtual Reader"
	st := issued(t, "rsa", softcard.IssueOptions{})
	addr, ctl := serveVirtual(t, st)
	cfg, _ := json.Marshal(map[string]any{"virtualReader": addr})
	h := startHost(t, hostOptions{config: string(cfg)})
	h.hello()
	if conf := h.call("config", "", nil); conf["virtualReader"] != true {
		t.Errorf("config = %v, want virtualReader true", conf)
	}
	r := readerIn(t, h.call("readers", pageOrigin, nil), virtualReader)
	if r["card"] != true || r["atr"] == nil {
		t.Errorf("virtual reader = %v, want a card with an ATR", r)
	}
	certs := hostCerts(t, h, virtualReader)
	if len(certs) != 2 {
		t.Fatalf("certificates = %d, want the virtual card's 2", len(certs))
	}
	for _, c := range certs {
		if c.reader != virtualReader {
			t.Errorf("certificate %s in reader %q, want %q", c.id[:8], c.reader, virtualReader)
		}
	}
	if !bytes.Equal(certs[0].cert.Raw, st.Cert(softcard.SlotAuthentication)) {
		t.Errorf("first certificate is not the virtual card's cert1")
	}
	digest := sha256.Sum256([]byte("demo"))
	verifyRSA(t, certs[0].cert, crypto.SHA256, digest[:], b64d(t, signDigest(h, certs[0].id, softcard.DefaultPIN, "SHA-256", digest[:])["signature"]))
	if st := h.call("pinStatus", pageOrigin, map[string]any{"reader": virtualReader}); st["reader"] != virtualReader || st["triesLeft"] != float64(3) {
		t.Errorf("pinStatus of the virtual reader = %v, want 3 tries", st)
	}

	// The virtual card serves one connection at a time; listing readers
	// must not wait for a slow operation to end, as with PC/SC.
	postControl(t, ctl, fmt.Sprintf("/delay-on?ins=%02x&ms=1000", insGeneralAuthenticate))
	signID := h.send("sign", pageOrigin, map[string]any{"certificateId": certs[0].id, "pin": softcard.DefaultPIN, "hashAlgorithm": "SHA-256", "digest": b64e(digest[:])})
	time.Sleep(200 * time.Millisecond)
	readersID := h.send("readers", pageOrigin, nil)
	got := h.replies(30*time.Second, signID, readersID)
	if got[0]["id"] != readersID {
		t.Errorf("readers answered after the slow signature on the virtual card, want before")
	}
	for _, m := range got {
		if m["result"] == nil {
			t.Errorf("reply %v, want a result", m)
		}
	}
	if res, ok := got[0]["result"].(map[string]any); ok && got[0]["id"] == readersID {
		if r := readerIn(t, res, virtualReader); r["card"] != true {
			t.Errorf("virtual reader during a signature = %v, want its card present", r)
		}
	}
	h.noPIN(softcard.DefaultPIN)
}
