package parcel_test

import (
	"archive/zip"
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardbridge/cardbridge/internal/cms"
	"github.com/cardbridge/cardbridge/internal/exchange/parcel"
)

// craft zips a manifest the attacker wrote by hand, signed with the
// attacker's own (valid) card, and files as given, in order.
func craft(t *testing.T, mj []byte, signer agency, files ...[2]string) []byte {
	t.Helper()
	sig, err := cms.SignDetached(mj, signer.Sign, signer.SignKey, cms.Options{Hash: crypto.SHA256})
	require.NoError(t, err)
	var b bytes.Buffer
	z := zip.NewWriter(&b)
	for _, e := range append([][2]string{{"manifest.json", string(mj)}, {"manifest.p7s", string(sig.DER)}}, files...) {
		w, err := z.CreateHeader(&zip.FileHeader{Name: e[0], Method: zip.Store})
		require.NoError(t, err)
		if strings.HasSuffix(e[0], "/") {
			continue // a folder entry holds nothing
		}
		_, err = w.Write([]byte(e[1]))
		require.NoError(t, err)
	}
	require.NoError(t, z.Close())
	return b.Bytes()
}

func entry(name, role, data string) parcel.Entry {
	sum := sha256.Sum256([]byte(data))
	return parcel.Entry{Name: name, Role: role, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
}

// manifest is m in the form Build writes, with change applied first.
func manifest(t *testing.T, sender string, change func(m *parcel.Manifest), entries ...parcel.Entry) []byte {
	t.Helper()
	m := parcel.Manifest{Format: parcel.Format, ID: "x-1", Sender: sender, Recipients: []string{kindergarten.Code}, Subject: "研習計畫",
		Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Files: entries}
	if change != nil {
		change(&m)
	}
	b, err := json.MarshalIndent(m, "", "  ")
	require.NoError(t, err)
	return b
}

var zdi = [2]string{"files/a.di", "<函/>"}

func diEntry() parcel.Entry { return entry("a.di", "di", "<函/>") }

// The hand-made manifest is accepted when it is well formed (so the
// refusals below are for what each attack changes).
func TestAttackCraftedBaseline(t *testing.T) {
	setup(t)
	inner := craft(t, manifest(t, bureau.Code, nil, diEntry(), entry("研習計畫.pdf", "attachment", "%PDF")), bureau, zdi, [2]string{"files/研習計畫.pdf", "%PDF"})
	o, err := parcel.VerifyInner(inner, trust())
	require.NoError(t, err)
	assert.Equal(t, bureau.Code, o.Manifest.Sender)
	assert.Equal(t, "研習計畫.pdf", o.Files[1].Name)
}

// Attack: a manifest that means one thing to Go and another to any other
// JSON reader. Go's decoder keeps the last of two equal keys, matches keys
// without regard to case and stops after the first value; a hostile
// agency signs {"sender": <another agency>, …, "Sender": <itself>}, which
// passes the signer check here while a viewer, a log or a script (jq,
// JavaScript) reads the other agency as the sender. The signed bytes must
// be the manifest in the one form Build writes.
func TestAttackManifestParserDifferential(t *testing.T) {
	setup(t)
	good := manifest(t, bureau.Code, nil, diEntry())
	spoof := bytes.Replace(good, []byte(`"sender": "`+bureau.Code+`"`), []byte(`"sender": "`+kindergarten.Code+`"`), 1)
	before := func(b []byte, extra string) []byte {
		i := bytes.LastIndexByte(b, '}')
		return append(append(bytes.Clone(b[:i]), extra...), b[i:]...)
	}
	for name, mj := range map[string][]byte{
		"a second sender key, other case": before(spoof, `,"Sender":"`+bureau.Code+`"`),
		"the same key twice":              before(spoof, `,"sender":"`+bureau.Code+`"`),
		"a second JSON value after it":    append(bytes.Clone(good), []byte(`{"sender":"`+kindergarten.Code+`"}`)...),
		"compact instead of indented":     []byte(strings.Join(strings.Fields(string(good)), "")),
	} {
		inner := craft(t, mj, bureau, zdi)
		_, err := parcel.VerifyInner(inner, trust())
		assert.ErrorIs(t, err, parcel.ErrMalformed, name)
	}
}

// Attack: what the signed manifest lists was not checked as a draft is:
// a file name that is not what the zip holds (the Kelvin sign K lowers to
// k, so the entry "files/k.pdf" matched the listed name "\u212a.pdf", and
// the name handed to the archive was not the one checked), a name
// CheckFileName refuses, an unknown role, no recipients, an empty id.
func TestAttackManifestFields(t *testing.T) {
	setup(t)
	for name, tc := range map[string]struct {
		change func(m *parcel.Manifest)
		files  [][2]string
	}{
		"a listed name other than the entry's": {func(m *parcel.Manifest) { m.Files = append(m.Files, entry("\u212a.pdf", "attachment", "x")) }, [][2]string{zdi, {"files/k.pdf", "x"}}},
		"a listed name in another case":        {func(m *parcel.Manifest) { m.Files = append(m.Files, entry("A.pdf", "attachment", "x")) }, [][2]string{zdi, {"files/a.pdf", "x"}}},
		"an unknown role":                      {func(m *parcel.Manifest) { m.Files = append(m.Files, entry("b.exe", "script", "x")) }, [][2]string{zdi, {"files/b.exe", "x"}}},
		"no recipients":                        {func(m *parcel.Manifest) { m.Recipients = nil }, [][2]string{zdi}},
		"an empty id":                          {func(m *parcel.Manifest) { m.ID = "" }, [][2]string{zdi}},
		"a bad recipient code":                 {func(m *parcel.Manifest) { m.Recipients = []string{"../../x"} }, [][2]string{zdi}},
	} {
		inner := craft(t, manifest(t, bureau.Code, tc.change, diEntry()), bureau, tc.files...)
		_, err := parcel.VerifyInner(inner, trust())
		assert.Error(t, err, name)
	}
}

// Entry names: folders, names holding folders, and names that display as
// something else (a right-to-left override makes an executable read as
// "研習計畫exe.pdf"; a zero-width space makes two names look alike).
func TestAttackEntryNames(t *testing.T) {
	setup(t)
	for _, name := range []string{"", "a/", "a/b", "..", "研習計畫\u202efdp.exe", "a\u200b.pdf", "\ufeffa.pdf", "a\u2066.pdf"} {
		inner := craft(t, manifest(t, bureau.Code, nil, diEntry(), entry(name, "attachment", "MZ")), bureau, zdi, [2]string{"files/" + name, "MZ"})
		_, err := parcel.VerifyInner(inner, trust())
		assert.ErrorIs(t, err, parcel.ErrBadName, "%q", name)
	}
	inner := craft(t, manifest(t, bureau.Code, nil, diEntry()), bureau, zdi, [2]string{"files\\a.di", "x"})
	_, err := parcel.VerifyInner(inner, trust())
	assert.Error(t, err, "a backslash")
	inner = craft(t, manifest(t, bureau.Code, nil, diEntry()), bureau, zdi, [2]string{"files/A.DI", "<函/>"})
	_, err = parcel.VerifyInner(inner, trust())
	assert.ErrorIs(t, err, parcel.ErrMalformed, "the DI in two cases")
}

// dirBomb is a zip whose central directory holds n one-byte-named entries
// while its end record says n mod 65536: archive/zip reads every header
// (it compares only the low 16 bits of the count) before VerifyInner
// counted them.
func dirBomb(n int) []byte {
	var b bytes.Buffer
	for range n {
		h := make([]byte, 46)
		binary.LittleEndian.PutUint32(h[0:], 0x02014b50)
		binary.LittleEndian.PutUint16(h[28:], 1)
		b.Write(h)
		b.WriteByte('x')
	}
	size := b.Len()
	e := make([]byte, 22)
	binary.LittleEndian.PutUint32(e[0:], 0x06054b50)
	binary.LittleEndian.PutUint16(e[8:], uint16(n))
	binary.LittleEndian.PutUint16(e[10:], uint16(n))
	binary.LittleEndian.PutUint32(e[12:], uint32(size))
	b.Write(e)
	return b.Bytes()
}

// Attack: a central directory bomb. A 6 MB inner package with 131077
// entries whose end record claims 5 made archive/zip allocate about six
// times its size (a File per header) before the entry limit was checked:
// a 256 MB envelope, the most the centre carries, costs a receiver some
// 1.5 GB. The directory is measured from its end record first.
func TestAttackCentralDirectoryBomb(t *testing.T) {
	inner := dirBomb(2*65536 + 5)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := parcel.VerifyInner(inner, parcel.Trust{})
	runtime.ReadMemStats(&after)
	require.Error(t, err)
	assert.ErrorIs(t, err, parcel.ErrTooLarge)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(len(inner)), "bytes allocated for a %d-byte package", len(inner))
}

// Regression: a zip whose headers lie about sizes: a stored entry that
// says 10 bytes and holds more is refused, whatever the header claims.
func TestAttackLyingSizes(t *testing.T) {
	setup(t)
	inner := craft(t, manifest(t, bureau.Code, nil, diEntry()), bureau, zdi)
	// Patch the uncompressed size of files/a.di in its central header to
	// a smaller value: archive/zip then reports a checksum or size error.
	i := bytes.LastIndex(inner, []byte("files/a.di"))
	require.Positive(t, i)
	hdr := i - 46
	require.Equal(t, uint32(0x02014b50), binary.LittleEndian.Uint32(inner[hdr:]))
	binary.LittleEndian.PutUint32(inner[hdr+24:], 1)
	_, err := parcel.VerifyInner(inner, trust())
	assert.Error(t, err)
}

// letterFrom is the sample letter with its 發文機關/機關代碼 set to code.
func letterFrom(t *testing.T, code string) []byte {
	t.Helper()
	letter, err := os.ReadFile("../di/testdata/letter-104.di")
	require.NoError(t, err)
	return bytes.Replace(letter, []byte("<機關代碼>379000000A</機關代碼>"), []byte("<機關代碼>"+code+"</機關代碼>"), 1)
}

// Attack: a registered agency signs, as itself, a package whose letter
// names another agency as 發文機關 (測試市政府教育局 379000000A, signed by
// XC10458570). Every check of VerifyInner passes, since it does not read
// the DI; the clerk reads a letter from an agency that never sent it.
// Opened.Letter ties the letter to the signature, and the letter's
// attachments to the package's files.
func TestAttackLetterOfAnotherAgency(t *testing.T) {
	setup(t)
	pdf, odt := []byte("%PDF-1.7"), []byte("PK odt")
	build := func(letter []byte, files ...parcel.File) *parcel.Opened {
		d := draft(t, bureau, kindergarten)
		d.Files = append([]parcel.File{{Name: "1150012345.di", Role: parcel.RoleDI, Data: letter}}, files...)
		inner, err := parcel.Build(d, parcel.Signer{Cert: bureau.Sign, Key: bureau.SignKey})
		require.NoError(t, err)
		o, err := parcel.VerifyInner(inner, trust())
		require.NoError(t, err, "VerifyInner does not read the letter")
		return o
	}
	both := []parcel.File{{Name: "研習計畫.pdf", Role: parcel.RoleAttachment, Data: pdf}, {Name: "報名表.odt", Role: parcel.RoleAttachment, Data: odt}}

	_, err := build(letterFrom(t, "379000000A"), both...).Letter()
	assert.ErrorIs(t, err, parcel.ErrSender, "another agency's letter")
	_, err = build(letterFrom(t, "XC1045857"), both...).Letter()
	assert.ErrorIs(t, err, parcel.ErrSender, "a prefix of the sender's code")

	l, err := build(letterFrom(t, bureau.Code), both...).Letter()
	require.NoError(t, err)
	assert.Equal(t, bureau.Code, l.Sender.Code)
	_, err = build(letterFrom(t, bureau.Code+"0001"), both...).Letter()
	assert.NoError(t, err, "a unit of the sender (單位代碼)")

	_, err = build(letterFrom(t, bureau.Code), both[0]).Letter()
	assert.ErrorIs(t, err, parcel.ErrMalformed, "an attachment the letter declares is missing")
	_, err = build(letterFrom(t, bureau.Code), append(both, parcel.File{Name: "readme.exe", Role: parcel.RoleAttachment, Data: []byte("MZ")})...).Letter()
	assert.ErrorIs(t, err, parcel.ErrMalformed, "a file the letter does not mention")
	_, err = build([]byte("<函>"), both...).Letter()
	assert.ErrorIs(t, err, parcel.ErrMalformed, "a DI that does not parse")
}

// Attack: the centre (or an operator's mistake) lists another key as an
// agency's encryption certificate; a sender that seals to whatever the
// directory says lets the centre read the documents it only carries. The
// agent encrypts to the directory's certificates as they come
// (agent.Queue); CheckRecipient is what it should ask first.
func TestAttackDirectoryCertificateSubstitution(t *testing.T) {
	setup(t)
	tr := trust()
	require.NoError(t, parcel.CheckRecipient(kindergarten.Enc, kindergarten.Code, tr))
	for name, tc := range map[string]struct {
		cert *x509.Certificate
		code string
		want error
	}{
		"a CA the sender does not trust": {stranger.Enc, stranger.Code, parcel.ErrUntrusted},
		"another agency's":               {bureau.Enc, kindergarten.Code, parcel.ErrRecipientCert},
		"the signature certificate":      {kindergarten.Sign, kindergarten.Code, parcel.ErrRecipientCert},
		"expired":                        {expired.Enc, expired.Code, parcel.ErrExpired},
		"none":                           {nil, kindergarten.Code, parcel.ErrRecipientCert},
	} {
		assert.ErrorIs(t, parcel.CheckRecipient(tc.cert, tc.code, tr), tc.want, name)
	}
}
