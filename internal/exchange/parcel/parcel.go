// Package parcel builds and opens the package one agency sends another in
// the 公文 exchange: the DI, its roster and attachments, with a manifest of
// their SHA-256 digests signed by the sender's card (cert1, a detached CMS
// SignedData with signingTime), all zipped and then encrypted to every
// recipient's registered encryption certificate (cert2) and the sender's
// own (CMS EnvelopedData, internal/cms), so the centre carries it without
// ever reading it.
//
// The format is CardBridge's own (the official exchange format is not
// public; docs/exchange.md). Inside the envelope, a zip:
//
//	manifest.json   Manifest, the bytes that are signed
//	manifest.p7s    the sender's detached signature over manifest.json
//	files/NAME      each file the manifest lists, byte for byte
//
// Opening checks everything before handing anything out: the envelope, the
// zip (size, count, names, no bombs), the signature and the chain, and each
// file against its digest. Each refusal wraps one of the Err values, which
// the agent reports to the receiver as the reason of a 收文異常.
package parcel

import (
	"archive/zip"
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/cardbridge/cardbridge/internal/certinfo"
	"github.com/cardbridge/cardbridge/internal/cms"
	"github.com/cardbridge/cardbridge/internal/exchange/di"
)

// Format names this package format in every manifest.
const Format = "cardbridge-exchange/1"

// Limits on what Open accepts (the centre caps uploads first).
const (
	MaxFiles = 200
	// MaxTotal bounds the uncompressed size of all files together.
	MaxTotal = 256 << 20
	// MaxManifest bounds manifest.json and manifest.p7s.
	MaxManifest = 1 << 20
)

// Roles of the files in a package.
const (
	RoleDI         = "di"
	RoleRoster     = "sw"
	RoleAttachment = "attachment"
)

// Manifest says what the sender sent and to whom; it is what is signed.
type Manifest struct {
	Format string `json:"format"`
	// ID is the sender's id for this send, kept by every retry so that a
	// receiver stores a redelivery once.
	ID         string    `json:"id"`
	Sender     string    `json:"sender"`     // 機關代碼
	Recipients []string  `json:"recipients"` // 機關代碼
	Subject    string    `json:"subject"`
	Number     string    `json:"number,omitempty"` // 發文字號 as printed
	Created    time.Time `json:"created"`
	Files      []Entry   `json:"files"`
}

// Entry is one file of the package.
type Entry struct {
	Name   string `json:"name"`
	Role   string `json:"role"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// File is a file to send or one received.
type File struct {
	Name string
	Role string
	Data []byte
}

// Draft is what the sender builds a package from.
type Draft struct {
	ID         string
	Sender     string
	Recipients []string
	Subject    string
	Number     string
	Created    time.Time
	Files      []File
}

// Signer signs the manifest: the sender's signature certificate and its
// key (a card key, internal/card.Key).
type Signer struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// Why a package is refused.
var (
	ErrMalformed    = errors.New("the package is malformed")
	ErrTooLarge     = errors.New("the package is too large")
	ErrDigest       = errors.New("a file does not match the signed manifest")
	ErrSender       = errors.New("the signer is not the sender the manifest names")
	ErrBadName      = errors.New("a file name is not safe to write")
	ErrNoDocument   = errors.New("the package has no DI")
	ErrNotForUs     = cms.ErrNotForUs
	ErrDecrypt      = cms.ErrDecrypt
	ErrSignature    = cms.ErrBadSignature
	ErrUntrusted    = cms.ErrUntrusted
	ErrExpired      = cms.ErrExpired
	errInvalidDraft = errors.New("invalid draft")
)

// Build makes the signed inner zip of d (Seal encrypts it).
func Build(d Draft, s Signer) ([]byte, error) {
	m := Manifest{Format: Format, ID: d.ID, Sender: d.Sender, Recipients: slices.Clone(d.Recipients),
		Subject: d.Subject, Number: d.Number, Created: d.Created.UTC().Truncate(time.Second)}
	if err := checkDraft(d); err != nil {
		return nil, err
	}
	for _, f := range d.Files {
		sum := sha256.Sum256(f.Data)
		m.Files = append(m.Files, Entry{Name: f.Name, Role: f.Role, Size: int64(len(f.Data)), SHA256: hex.EncodeToString(sum[:])})
	}
	mj, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	sig, err := cms.SignDetached(mj, s.Cert, s.Key, cms.Options{Hash: crypto.SHA256})
	if err != nil {
		return nil, fmt.Errorf("sign the manifest: %w", err)
	}
	var b bytes.Buffer
	z := zip.NewWriter(&b)
	put := func(name string, data []byte, method uint16) error {
		w, err := z.CreateHeader(&zip.FileHeader{Name: name, Method: method, Modified: m.Created})
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	}
	if err := put("manifest.json", mj, zip.Store); err != nil {
		return nil, err
	}
	if err := put("manifest.p7s", sig.DER, zip.Store); err != nil {
		return nil, err
	}
	for _, f := range d.Files {
		if err := put("files/"+f.Name, f.Data, zip.Deflate); err != nil {
			return nil, err
		}
	}
	if err := z.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// checkDraft refuses what Open would refuse, so a sender learns it before
// the package leaves.
func checkDraft(d Draft) error {
	bad := func(why string) error { return fmt.Errorf("%w: %s", errInvalidDraft, why) }
	switch {
	case d.ID == "" || len(d.ID) > 128:
		return bad("the id must be 1 to 128 characters")
	case len(d.Recipients) == 0:
		return bad("no recipient")
	case len(d.Files) == 0 || len(d.Files) > MaxFiles:
		return bad(fmt.Sprintf("1 to %d files", MaxFiles))
	}
	if err := di.CheckAgencyCode(d.Sender); err != nil {
		return bad("sender: " + err.EN)
	}
	for _, r := range d.Recipients {
		if err := di.CheckAgencyCode(r); err != nil {
			return bad("recipient: " + err.EN)
		}
	}
	seen := map[string]bool{}
	dis := 0
	var total int64
	for _, f := range d.Files {
		if err := di.CheckFileName(f.Name); err != nil {
			return fmt.Errorf("%w: %s", ErrBadName, err.EN)
		}
		if seen[strings.ToLower(f.Name)] {
			return bad("file " + f.Name + " twice")
		}
		seen[strings.ToLower(f.Name)] = true
		switch f.Role {
		case RoleDI:
			dis++
		case RoleRoster, RoleAttachment:
		default:
			return bad("file " + f.Name + ": role " + f.Role)
		}
		total += int64(len(f.Data))
	}
	if dis != 1 {
		return bad("exactly one DI is needed")
	}
	if total > MaxTotal {
		return fmt.Errorf("%w: %d bytes", ErrTooLarge, total)
	}
	return nil
}

// Seal encrypts the inner zip to each recipient's encryption certificate
// and the sender's own (so its copy stays readable).
func Seal(inner []byte, recipients []*x509.Certificate) ([]byte, error) {
	return cms.Encrypt(inner, recipients)
}

// Trust is what a receiver checks signatures against.
type Trust struct {
	// Roots are the CA certificates agencies' certificates chain to.
	Roots *x509.CertPool
	// Intermediates may complete a chain (issuing CAs).
	Intermediates *x509.CertPool
	// Now is when the signer's certificate must be valid.
	Now time.Time
}

// Opened is a verified package.
type Opened struct {
	Manifest    Manifest
	Files       []File
	Signer      *x509.Certificate
	SigningTime time.Time
	// ManifestSHA256 is the digest of the signed manifest, which a receipt
	// binds.
	ManifestSHA256 string
}

// Open decrypts envelope with the receiver's encryption certificate and
// key, then verifies the inner package (see VerifyInner).
func Open(envelope []byte, cert *x509.Certificate, key crypto.Decrypter, t Trust) (*Opened, error) {
	inner, err := cms.Open(envelope, cert, key)
	if err != nil {
		return nil, err
	}
	return VerifyInner(inner, t)
}

// VerifyInner reads a decrypted package: at most MaxFiles entries and
// MaxTotal bytes uncompressed (counted while reading, whatever the zip's
// headers claim), only manifest.json, manifest.p7s and files/NAME with safe
// names; the manifest's signature and chain; the signer's 機關代碼 equal to
// the manifest's sender; every listed file present, once, with its digest
// and size, and nothing unlisted.
func VerifyInner(inner []byte, t Trust) (*Opened, error) {
	z, err := zip.NewReader(bytes.NewReader(inner), int64(len(inner)))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(z.File) > MaxFiles+2 {
		return nil, fmt.Errorf("%w: %d entries", ErrTooLarge, len(z.File))
	}
	var mj, sig []byte
	files := map[string][]byte{}
	var total int64
	for _, f := range z.File {
		limit := int64(MaxTotal) - total
		if f.Name == "manifest.json" || f.Name == "manifest.p7s" {
			limit = MaxManifest
		}
		data, err := readLimited(f, limit)
		if err != nil {
			return nil, err
		}
		switch {
		case f.Name == "manifest.json" && mj == nil:
			mj = data
		case f.Name == "manifest.p7s" && sig == nil:
			sig = data
		case strings.HasPrefix(f.Name, "files/"):
			name := strings.TrimPrefix(f.Name, "files/")
			if err := di.CheckFileName(name); err != nil {
				return nil, fmt.Errorf("%w: %s", ErrBadName, err.EN)
			}
			if _, dup := files[strings.ToLower(name)]; dup {
				return nil, fmt.Errorf("%w: %s twice", ErrMalformed, name)
			}
			files[strings.ToLower(name)] = data
			total += int64(len(data))
		default:
			return nil, fmt.Errorf("%w: unexpected entry %q", ErrMalformed, path.Clean(f.Name))
		}
	}
	if mj == nil || sig == nil {
		return nil, fmt.Errorf("%w: no signed manifest", ErrMalformed)
	}
	v, err := cms.VerifyDetached(sig, mj, t.Roots, t.Intermediates, t.Now)
	if err != nil {
		return nil, err
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(mj))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil || m.Format != Format {
		return nil, fmt.Errorf("%w: manifest: %v (format %q)", ErrMalformed, err, m.Format)
	}
	if code := AgencyCodeOf(v.Signer); code == "" || code != m.Sender {
		return nil, fmt.Errorf("%w: signed by %q, manifest says %q", ErrSender, code, m.Sender)
	}
	out := &Opened{Manifest: m, Signer: v.Signer, SigningTime: v.SigningTime}
	sum := sha256.Sum256(mj)
	out.ManifestSHA256 = hex.EncodeToString(sum[:])
	dis := 0
	for _, e := range m.Files {
		data, ok := files[strings.ToLower(e.Name)]
		if !ok {
			return nil, fmt.Errorf("%w: %s is missing", ErrDigest, e.Name)
		}
		delete(files, strings.ToLower(e.Name))
		got := sha256.Sum256(data)
		if hex.EncodeToString(got[:]) != e.SHA256 || int64(len(data)) != e.Size {
			return nil, fmt.Errorf("%w: %s", ErrDigest, e.Name)
		}
		if e.Role == RoleDI {
			dis++
		}
		out.Files = append(out.Files, File{Name: e.Name, Role: e.Role, Data: data})
	}
	if len(files) > 0 {
		return nil, fmt.Errorf("%w: files the manifest does not list", ErrDigest)
	}
	if dis != 1 {
		return nil, fmt.Errorf("%w: %d DI files", ErrNoDocument, dis)
	}
	return out, nil
}

// readLimited reads a zip entry, refusing more than limit bytes however
// small its header says it is (a zip bomb lies there).
func readLimited(f *zip.File, limit int64) ([]byte, error) {
	if f.UncompressedSize64 > uint64(max(limit, 0)) {
		return nil, fmt.Errorf("%w: %s", ErrTooLarge, f.Name)
	}
	r, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, f.Name, err)
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, f.Name, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: %s", ErrTooLarge, f.Name)
	}
	return data, nil
}

// AgencyCodeOf is the 機關代碼 a certificate speaks for: the organisation
// code of a GCA or XCA certificate when it is a 機關代碼, else "XC" and the
// 統一編號 of an organisation's or business's certificate; "" for none.
func AgencyCodeOf(c *x509.Certificate) string {
	info := certinfo.Describe(c, time.Now())
	if info.OrgCode != "" && di.CheckAgencyCode(info.OrgCode) == nil {
		return info.OrgCode
	}
	if info.UBN != "" {
		return di.AgencyCodeOf(info.UBN)
	}
	return ""
}
