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

// ErrRecipientCert reports a directory entry's encryption certificate that
// a sender must not encrypt to.
var ErrRecipientCert = errors.New("the directory's encryption certificate is not the recipient's")

// CheckRecipient checks an encryption certificate the centre's directory
// gives for the agency code before a sender seals to it: it chains to t's
// roots and is valid at t.Now, speaks for code (AgencyCodeOf), and allows
// keyEncipherment. The centre carries envelopes it must not read; a sender
// that encrypted to whatever certificate the directory lists would let the
// centre (or an operator's mistake) substitute its own key.
func CheckRecipient(c *x509.Certificate, code string, t Trust) error {
	if c == nil {
		return fmt.Errorf("%w: none for %s", ErrRecipientCert, code)
	}
	if got := AgencyCodeOf(c); got != code {
		return fmt.Errorf("%w: it is %q's, not %s's", ErrRecipientCert, got, code)
	}
	if c.KeyUsage != 0 && c.KeyUsage&x509.KeyUsageKeyEncipherment == 0 {
		return fmt.Errorf("%w: %s's certificate is not for encryption", ErrRecipientCert, code)
	}
	if t.Roots == nil {
		return fmt.Errorf("%w: no roots configured", ErrUntrusted)
	}
	if t.Now.Before(c.NotBefore) || t.Now.After(c.NotAfter) {
		return fmt.Errorf("%w: %s's encryption certificate is valid %s to %s", ErrExpired, code, c.NotBefore.Format(time.DateOnly), c.NotAfter.Format(time.DateOnly))
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: t.Roots, Intermediates: t.Intermediates, CurrentTime: t.Now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return fmt.Errorf("%w: %s's encryption certificate: %v", ErrUntrusted, code, err)
	}
	return nil
}

// TrustOf sorts CA certificates into a Trust: the self-signed ones are the
// roots, the others issuing CAs that complete chains (Now left unset). The
// centre's --roots file and an agent's roots.pem are read this one way.
func TrustOf(cas []*x509.Certificate) Trust {
	t := Trust{Roots: x509.NewCertPool(), Intermediates: x509.NewCertPool()}
	for _, c := range cas {
		if c.CheckSignatureFrom(c) == nil {
			t.Roots.AddCert(c)
		} else {
			t.Intermediates.AddCert(c)
		}
	}
	return t
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
	if err := checkDirectory(inner); err != nil {
		return nil, err
	}
	z, err := zip.NewReader(bytes.NewReader(inner), int64(len(inner)))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(z.File) > MaxFiles+2 {
		return nil, fmt.Errorf("%w: %d entries", ErrTooLarge, len(z.File))
	}
	var mj, sig []byte
	type zipped struct {
		name string // as the zip names it, after files/
		data []byte
	}
	files := map[string]zipped{} // by lower-case name
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
			files[strings.ToLower(name)] = zipped{name, data}
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
	// The signed bytes are the manifest exactly as Build writes it: no
	// second value after it, no key twice or in another case, which Go
	// reads one way and other JSON readers another.
	if canon, err := json.MarshalIndent(m, "", "  "); err != nil || !bytes.Equal(canon, mj) {
		return nil, fmt.Errorf("%w: manifest.json is not in its canonical form", ErrMalformed)
	}
	if err := checkManifest(m); err != nil {
		return nil, err
	}
	if code := AgencyCodeOf(v.Signer); code == "" || code != m.Sender {
		return nil, fmt.Errorf("%w: signed by %q, manifest says %q", ErrSender, code, m.Sender)
	}
	out := &Opened{Manifest: m, Signer: v.Signer, SigningTime: v.SigningTime}
	sum := sha256.Sum256(mj)
	out.ManifestSHA256 = hex.EncodeToString(sum[:])
	dis := 0
	for _, e := range m.Files {
		z, ok := files[strings.ToLower(e.Name)]
		if !ok || z.name != e.Name {
			return nil, fmt.Errorf("%w: %s is missing", ErrDigest, e.Name)
		}
		data := z.data
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

// Letter parses the package's DI and checks that it says what the
// signature vouches for: its 發文機關/機關代碼 is the manifest's sender (or a
// unit of it: the sender's code and a 單位代碼), else ErrSender; the files
// it declares (attachments, the roster) are the package's other files,
// with those roles, no more and no fewer, else ErrMalformed. VerifyInner
// does not read the DI, so without this a registered agency could sign a
// package whose letter names another agency as its sender, or carry files
// the letter does not mention into the receiver's archive.
func (o *Opened) Letter() (*di.Letter, error) {
	var doc *File
	for i := range o.Files {
		if o.Files[i].Role == RoleDI {
			doc = &o.Files[i]
		}
	}
	if doc == nil {
		return nil, fmt.Errorf("%w: no DI", ErrNoDocument)
	}
	l, err := di.Parse(doc.Data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, doc.Name, err)
	}
	code, sender := l.Sender.Code, o.Manifest.Sender
	if code != sender && !(strings.HasPrefix(code, sender) && len(sender) == 10 && di.CheckAgencyCode(code) == nil) {
		return nil, fmt.Errorf("%w: the letter's 發文機關 is %q, the package is signed by %s", ErrSender, code, sender)
	}
	want := map[string]string{} // file name → role, as the letter declares
	for _, f := range l.Attachment.Files {
		want[f.Name] = RoleAttachment
	}
	if f := l.Recipient.RosterFile; f.Entity != "" {
		want[f.Name] = RoleRoster
	}
	for _, f := range o.Files {
		if f.Role == RoleDI {
			continue
		}
		if want[f.Name] != f.Role {
			return nil, fmt.Errorf("%w: %s (%s) is not declared by the letter", ErrMalformed, f.Name, f.Role)
		}
		delete(want, f.Name)
	}
	for name := range want {
		return nil, fmt.Errorf("%w: the letter declares %s, which the package does not hold", ErrMalformed, name)
	}
	return l, nil
}

// checkManifest refuses a signed manifest that Build would not have
// written: what checkDraft checks of a draft.
func checkManifest(m Manifest) error {
	bad := func(why string) error { return fmt.Errorf("%w: manifest: %s", ErrMalformed, why) }
	switch {
	case m.ID == "" || len(m.ID) > 128:
		return bad("the id must be 1 to 128 characters")
	case len(m.Recipients) == 0:
		return bad("no recipient")
	case len(m.Files) == 0 || len(m.Files) > MaxFiles:
		return bad(fmt.Sprintf("1 to %d files", MaxFiles))
	}
	for _, r := range m.Recipients {
		if err := di.CheckAgencyCode(r); err != nil {
			return bad("recipient: " + err.EN)
		}
	}
	for _, e := range m.Files {
		if err := di.CheckFileName(e.Name); err != nil {
			return fmt.Errorf("%w: %s", ErrBadName, err.EN)
		}
		if e.Role != RoleDI && e.Role != RoleRoster && e.Role != RoleAttachment {
			return bad("file " + e.Name + ": role " + e.Role)
		}
	}
	return nil
}

// maxDirectory bounds the zip's central directory: MaxFiles+2 headers of
// 46 bytes, a name of at most "files/" and MaxFileName bytes, and room for
// the extra fields a writer adds.
const maxDirectory = (MaxFiles + 2) * 1024

// checkDirectory reads the zip's end record before archive/zip does, and
// refuses a central directory larger than maxDirectory or a count above
// MaxFiles+2. archive/zip reads every central header there is (it checks
// only the low 16 bits of the count), allocating a File for each, so a
// package of a few hundred megabytes of 47-byte headers whose end record
// claims five would cost several times its size before the count could be
// checked. The end record must be the archive's last 22 bytes (no
// comment, no zip64: Build writes neither) and the directory must end
// where it begins, with nothing before the first entry.
func checkDirectory(inner []byte) error {
	const endLen = 22
	if len(inner) < endLen {
		return fmt.Errorf("%w: not a zip", ErrMalformed)
	}
	end := inner[len(inner)-endLen:]
	le16 := func(b []byte) uint64 { return uint64(b[0]) | uint64(b[1])<<8 }
	le32 := func(b []byte) uint64 { return le16(b) | le16(b[2:])<<16 }
	if le32(end) != 0x06054b50 || le16(end[20:]) != 0 || le16(end[4:]) != 0 || le16(end[6:]) != 0 {
		return fmt.Errorf("%w: the zip does not end with its end record (a comment, a split or another archive)", ErrMalformed)
	}
	onDisk, records, size, offset := le16(end[8:]), le16(end[10:]), le32(end[12:]), le32(end[16:])
	if records > MaxFiles+2 || onDisk != records || size > maxDirectory {
		return fmt.Errorf("%w: a zip directory of %d entries in %d bytes", ErrTooLarge, records, size)
	}
	if offset+size != uint64(len(inner)-endLen) || size == 0xffff {
		return fmt.Errorf("%w: the zip directory is not where its end record says", ErrMalformed)
	}
	return nil
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
