package agent_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardbridge/cardbridge/internal/cms"
	"github.com/cardbridge/cardbridge/internal/exchange/agent"
	"github.com/cardbridge/cardbridge/internal/exchange/di"
	"github.com/cardbridge/cardbridge/internal/exchange/exchangetest"
	"github.com/cardbridge/cardbridge/internal/exchange/parcel"
	"github.com/cardbridge/cardbridge/internal/testca"
)

// What a hostile or broken sender can put in the kindergarten's way: each
// package is uploaded by a registered agency (evil, logged in with its own
// card, so the centre carries it as any other), and the kindergarten's
// Sync must end it in 收文異常 with the reason the sender and the clerk read,
// write nothing of it to the archive folder, and go on to take the good
// document the bureau sent after it.

var (
	badOnce       sync.Once
	strangerCA    *testca.Hierarchy
	evilElsewhere *exchangetest.Agency // evil's 統一編號, a CA the kindergarten does not trust
	evilExpired   *exchangetest.Agency // evil's 統一編號, a certificate that expired yesterday
	zeros300MiB   = int64(300 << 20)
	bombSum       string
	bombSumOnce   sync.Once
)

// badSetup makes the signers of another CA and with past validity.
func badSetup(t *testing.T) {
	startCentre(t) // the package's four agencies and their CA
	badOnce.Do(func() {
		var err error
		strangerCA, err = testca.New(nil, time.Now())
		require.NoError(t, err)
		evilElsewhere = exchangetest.Valid(t, strangerCA, "冒名機關", "10458575")
		evilExpired = exchangetest.NewAgency(t, ca, "冒名機關", "10458575", time.Now().AddDate(-2, 0, 0), time.Now().AddDate(0, 0, -1))
	})
}

// zent is one entry of a crafted inner zip.
type zent struct {
	name   string
	data   []byte
	method uint16
	// zeros, when set, is the entry's content instead of data: that many
	// zero bytes, streamed (a bomb that is never held in memory here).
	zeros int64
}

// signedAs is what signs a crafted manifest: cert1 and its key.
type signedAs struct {
	cert *x509.Certificate
	key  crypto.Signer
}

func as(a *exchangetest.Agency) signedAs { return signedAs{a.Sign, a.SignKey} }

// craftManifest is m as Build writes it (canonical, the form Open accepts).
func craftManifest(t *testing.T, m parcel.Manifest) []byte {
	t.Helper()
	m.Format = parcel.Format
	if m.Created.IsZero() {
		m.Created = time.Now().UTC().Truncate(time.Second)
	}
	b, err := json.MarshalIndent(m, "", "  ")
	require.NoError(t, err)
	return b
}

// craftInner zips a hand-written manifest, its detached signature by s,
// and the entries as given: what parcel.Build would refuse to write.
func craftInner(t *testing.T, s signedAs, mj []byte, entries ...zent) []byte {
	t.Helper()
	sig, err := cms.SignDetached(mj, s.cert, s.key, cms.Options{Hash: crypto.SHA256})
	require.NoError(t, err)
	var b bytes.Buffer
	z := zip.NewWriter(&b)
	all := append([]zent{{name: "manifest.json", data: mj}, {name: "manifest.p7s", data: sig.DER}}, entries...)
	for _, e := range all {
		w, err := z.CreateHeader(&zip.FileHeader{Name: e.name, Method: e.method})
		require.NoError(t, err)
		if e.zeros > 0 {
			_, err = io.CopyN(w, zeroReader{}, e.zeros)
		} else {
			_, err = w.Write(e.data)
		}
		require.NoError(t, err)
	}
	require.NoError(t, z.Close())
	return b.Bytes()
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func listed(name, role string, data []byte) parcel.Entry {
	sum := sha256.Sum256(data)
	return parcel.Entry{Name: name, Role: role, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
}

// files are a package's DI and attachments for crafting: the manifest
// entries and the zip entries, both in order.
func files(fs ...parcel.File) ([]parcel.Entry, []zent) {
	var es []parcel.Entry
	var zs []zent
	for _, f := range fs {
		es = append(es, listed(f.Name, f.Role, f.Data))
		zs = append(zs, zent{name: "files/" + f.Name, data: f.Data, method: zip.Deflate})
	}
	return es, zs
}

// evilManifest is a manifest of evil's, for the kindergarten, under id.
func evilManifest(id string, entries []parcel.Entry) parcel.Manifest {
	return parcel.Manifest{ID: id, Sender: evil.Code, Recipients: []string{kindergarten.Code}, Subject: "惡意來文", Files: entries}
}

// crafted is evil's package of the DI and attachments given, signed by s
// with the manifest as change leaves it, zipped as given.
func crafted(t *testing.T, id string, s signedAs, change func(m *parcel.Manifest, zs []zent) []zent, fs ...parcel.File) []byte {
	t.Helper()
	es, zs := files(fs...)
	m := evilManifest(id, es)
	if change != nil {
		zs = change(&m, zs)
	}
	return craftInner(t, s, craftManifest(t, m), zs...)
}

func diFile(data []byte) parcel.File {
	return parcel.File{Name: "1150012345.di", Role: parcel.RoleDI, Data: data}
}

func attachment(name string) parcel.File {
	return parcel.File{Name: name, Role: parcel.RoleAttachment, Data: []byte("%PDF-1.7 " + name)}
}

// sealKG seals an inner package to the kindergarten (and evil, as a
// sender does to itself).
func sealKG(t *testing.T, inner []byte, to ...*x509.Certificate) []byte {
	t.Helper()
	if len(to) == 0 {
		to = []*x509.Certificate{kindergarten.Enc, evil.Enc}
	}
	env, err := parcel.Seal(inner, to)
	require.NoError(t, err)
	return env
}

// build is a well-formed package of evil's through parcel.Build.
func build(t *testing.T, id string, s signedAs, recipients []string, fs ...parcel.File) []byte {
	t.Helper()
	inner, err := parcel.Build(parcel.Draft{ID: id, Sender: evil.Code, Recipients: recipients, Subject: "惡意來文", Created: time.Now(), Files: fs},
		parcel.Signer{Cert: s.cert, Key: s.key})
	require.NoError(t, err)
	return inner
}

// rezipped is inner with change applied to each entry's content.
func rezipped(t *testing.T, inner []byte, change func(name string, data []byte) []byte) []byte {
	t.Helper()
	z, err := zip.NewReader(bytes.NewReader(inner), int64(len(inner)))
	require.NoError(t, err)
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	for _, f := range z.File {
		r, err := f.Open()
		require.NoError(t, err)
		data, err := io.ReadAll(r)
		require.NoError(t, err)
		fw, err := w.CreateHeader(&zip.FileHeader{Name: f.Name, Method: f.Method})
		require.NoError(t, err)
		_, err = fw.Write(change(f.Name, data))
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())
	return b.Bytes()
}

func flipLast(b []byte) []byte {
	b = bytes.Clone(b)
	b[len(b)-1] ^= 0x01
	return b
}

// bombDigest is the SHA-256 of zeros300MiB zero bytes.
func bombDigest() string {
	bombSumOnce.Do(func() {
		h := sha256.New()
		_, _ = io.CopyN(h, zeroReader{}, zeros300MiB)
		bombSum = hex.EncodeToString(h.Sum(nil))
	})
	return bombSum
}

// lieAboutSize patches the central directory's uncompressed size of the
// entry name to claim n bytes.
func lieAboutSize(t *testing.T, inner []byte, name string, n uint32) []byte {
	t.Helper()
	inner = bytes.Clone(inner)
	i := bytes.LastIndex(inner, []byte(name))
	require.Positive(t, i)
	hdr := i - 46
	require.Equal(t, uint32(0x02014b50), binary.LittleEndian.Uint32(inner[hdr:]), "the central header of %s", name)
	binary.LittleEndian.PutUint32(inner[hdr+24:], n)
	return inner
}

type badPackage struct {
	name   string
	reason string // the prefix of the 收文異常 reason
	// envelope is the sealed package evil uploads under id.
	envelope func(t *testing.T, id string) []byte
}

func badPackages() []badPackage {
	good := func(t *testing.T, id string) []byte {
		return build(t, id, as(evil), []string{kindergarten.Code}, diFile(letter(t, evil, "a.pdf").Data), attachment("a.pdf"))
	}
	reservedName := func(name string) badPackage {
		return badPackage{"an attachment named " + name, "unsafe-name", func(t *testing.T, id string) []byte {
			return sealKG(t, crafted(t, id, as(evil), nil, diFile(letter(t, evil, name).Data), attachment(name)))
		}}
	}
	return []badPackage{
		{"tampered ciphertext", "cannot-decrypt", func(t *testing.T, id string) []byte {
			return flipLast(sealKG(t, good(t, id)))
		}},
		{"tampered ciphertext, inside", "cannot-decrypt", func(t *testing.T, id string) []byte {
			env := sealKG(t, good(t, id))
			env[len(env)-200] ^= 0x80
			return env
		}},
		{"tampered signature", "bad-signature", func(t *testing.T, id string) []byte {
			return sealKG(t, rezipped(t, good(t, id), func(name string, data []byte) []byte {
				if name == "manifest.p7s" {
					return flipLast(data)
				}
				return data
			}))
		}},
		{"tampered file", "tampered", func(t *testing.T, id string) []byte {
			return sealKG(t, rezipped(t, good(t, id), func(name string, data []byte) []byte {
				if name == "files/a.pdf" {
					return append(data, " and more"...)
				}
				return data
			}))
		}},
		{"signed under another CA", "untrusted-signer", func(t *testing.T, id string) []byte {
			return sealKG(t, build(t, id, as(evilElsewhere), []string{kindergarten.Code}, diFile(letter(t, evil).Data)))
		}},
		{"an expired sender certificate", "certificate-expired", func(t *testing.T, id string) []byte {
			return sealKG(t, build(t, id, as(evilExpired), []string{kindergarten.Code}, diFile(letter(t, evil).Data)))
		}},
		{"for another agency (the manifest)", "not-for-us", func(t *testing.T, id string) []byte {
			return sealKG(t, build(t, id, as(evil), []string{school.Code}, diFile(letter(t, evil).Data)))
		}},
		{"for another agency (the envelope)", "not-for-us", func(t *testing.T, id string) []byte {
			return sealKG(t, build(t, id, as(evil), []string{kindergarten.Code}, diFile(letter(t, evil).Data)), school.Enc)
		}},
		{"a zip bomb", "too-large", func(t *testing.T, id string) []byte {
			return sealKG(t, crafted(t, id, as(evil), func(m *parcel.Manifest, zs []zent) []zent {
				m.Files = append(m.Files, parcel.Entry{Name: "bomb.pdf", Role: parcel.RoleAttachment, Size: zeros300MiB, SHA256: bombDigest()})
				return append(zs, zent{name: "files/bomb.pdf", zeros: zeros300MiB, method: zip.Deflate})
			}, diFile(letter(t, evil, "bomb.pdf").Data)))
		}},
		{"a zip bomb that lies about its size", "malformed", func(t *testing.T, id string) []byte {
			inner := crafted(t, id, as(evil), func(m *parcel.Manifest, zs []zent) []zent {
				m.Files = append(m.Files, parcel.Entry{Name: "bomb.pdf", Role: parcel.RoleAttachment, Size: zeros300MiB, SHA256: bombDigest()})
				return append(zs, zent{name: "files/bomb.pdf", zeros: zeros300MiB, method: zip.Deflate})
			}, diFile(letter(t, evil, "bomb.pdf").Data))
			return sealKG(t, lieAboutSize(t, inner, "files/bomb.pdf", 1000))
		}},
		{"an oversize manifest", "too-large", func(t *testing.T, id string) []byte {
			return sealKG(t, crafted(t, id, as(evil), func(m *parcel.Manifest, zs []zent) []zent {
				m.Subject = strings.Repeat("長", parcel.MaxManifest/3+1)
				return zs
			}, diFile(letter(t, evil).Data)))
		}},
		{"too many files", "too-large", func(t *testing.T, id string) []byte {
			return sealKG(t, crafted(t, id, as(evil), func(m *parcel.Manifest, zs []zent) []zent {
				for i := range parcel.MaxFiles + 1 {
					zs = append(zs, zent{name: "files/" + strings.Repeat("x", 1+i%50) + string(rune('a'+i/50)) + ".txt", data: []byte("x")})
				}
				return zs
			}, diFile(letter(t, evil).Data)))
		}},
		{"a DI nested thousands deep", "malformed", func(t *testing.T, id string) []byte {
			deep := []byte(`<?xml version="1.0" encoding="utf-8"?>` + "\n<函>" + strings.Repeat("<段落>", 5000) + strings.Repeat("</段落>", 5000) + "</函>")
			return sealKG(t, build(t, id, as(evil), []string{kindergarten.Code}, diFile(deep)))
		}},
		{"a DI over its size", "malformed", func(t *testing.T, id string) []byte {
			big := append(letter(t, evil).Data, bytes.Repeat([]byte("<!-- padding -->\n"), di.MaxSize/16)...)
			return sealKG(t, build(t, id, as(evil), []string{kindergarten.Code}, diFile(big)))
		}},
		{"an attachment named ../", "unsafe-name", func(t *testing.T, id string) []byte {
			return sealKG(t, crafted(t, id, as(evil), nil, diFile(letter(t, evil, "../../evil.pdf").Data), attachment("../../evil.pdf")))
		}},
		{"a DI declaring ../ for a package's safe name", "malformed", func(t *testing.T, id string) []byte {
			return sealKG(t, crafted(t, id, as(evil), nil, diFile(letter(t, evil, "../evil.pdf").Data), attachment("evil.pdf")))
		}},
		{"an absolute attachment name", "unsafe-name", func(t *testing.T, id string) []byte {
			return sealKG(t, crafted(t, id, as(evil), nil, diFile(letter(t, evil, "/etc/evil.pdf").Data), attachment("/etc/evil.pdf")))
		}},
		reservedName("CON"),
		reservedName("NUL.txt"),
		reservedName("COM1"),
		reservedName("lpt9.tar.gz"),
		reservedName("AUX .pdf"),
		reservedName("a.pdf."),
		reservedName("a.pdf "),
		reservedName("研習計畫\u202efdp.exe"),
		reservedName("a\x1b[2J.pdf"),
		{"an attachment the DI does not declare", "malformed", func(t *testing.T, id string) []byte {
			return sealKG(t, build(t, id, as(evil), []string{kindergarten.Code}, diFile(letter(t, evil).Data), attachment("extra.exe")))
		}},
		{"an attachment the DI declares but the package lacks", "malformed", func(t *testing.T, id string) []byte {
			return sealKG(t, build(t, id, as(evil), []string{kindergarten.Code}, diFile(letter(t, evil, "a.pdf", "b.pdf").Data), attachment("a.pdf")))
		}},
		{"an attachment under another name", "malformed", func(t *testing.T, id string) []byte {
			return sealKG(t, build(t, id, as(evil), []string{kindergarten.Code}, diFile(letter(t, evil, "a.pdf").Data), attachment("b.pdf")))
		}},
		{"no DI", "malformed", func(t *testing.T, id string) []byte {
			return sealKG(t, crafted(t, id, as(evil), nil, attachment("a.pdf")))
		}},
		{"a DI that is not XML", "malformed", func(t *testing.T, id string) []byte {
			return sealKG(t, build(t, id, as(evil), []string{kindergarten.Code}, diFile([]byte("MZ\x90\x00 not a letter"))))
		}},
		{"a DI with an external entity", "malformed", func(t *testing.T, id string) []byte {
			xxe := []byte(`<?xml version="1.0" encoding="utf-8"?><!DOCTYPE 函 [<!ENTITY x SYSTEM "file:///etc/passwd">]><函><主旨>&x;</主旨></函>`)
			return sealKG(t, build(t, id, as(evil), []string{kindergarten.Code}, diFile(xxe)))
		}},
		{"not an envelope", "cannot-decrypt", func(t *testing.T, id string) []byte {
			return []byte("PK\x03\x04 not CMS at all")
		}},
		{"an inner package that is not a zip", "malformed", func(t *testing.T, id string) []byte {
			return sealKG(t, []byte("this is not a zip file, though it decrypts"))
		}},
		{"a letter in another agency's name", "wrong-sender", func(t *testing.T, id string) []byte {
			return sealKG(t, build(t, id, as(evil), []string{kindergarten.Code}, diFile(letter(t, bureau).Data)))
		}},
	}
}

// archived lists every file under the archive folder.
func archived(t *testing.T, archive string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(archive, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) && p == archive {
				return nil
			}
			return err
		}
		if !d.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	require.NoError(t, err)
	return out
}

func TestBadInputEndsIn收文異常(t *testing.T) {
	badSetup(t)
	for i, tc := range badPackages() {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			c := startCentre(t)
			clk := &clock{t: time.Now()}
			ab, _ := openAgent(t, c, bureau, clk)
			ak, archive := openAgent(t, c, kindergarten, clk)

			cl, err := agent.NewClient(c.URL, nil)
			require.NoError(t, err)
			_, err = cl.Login(ctx, evil.Token)
			require.NoError(t, err)
			sendID := fmt.Sprintf("bad-%02d", i)
			_, err = cl.Upload(ctx, sendID, []string{kindergarten.Code}, tc.envelope(t, sendID))
			require.NoError(t, err)

			// A good document queued after it.
			pdf := []byte("%PDF-1.7 正常的附件")
			goodID, err := ab.Queue(ctx, bureau, agent.Draft{To: []string{kindergarten.Code}, Subject: "正常來文",
				DI: letter(t, bureau, "附件.pdf"), Files: []parcel.File{{Name: "附件.pdf", Role: parcel.RoleAttachment, Data: pdf}}})
			require.NoError(t, err)
			_, err = ab.Sync(ctx, bureau)
			require.NoError(t, err)

			rep, err := ak.Sync(ctx, kindergarten)
			require.NoError(t, err)
			bad := evil.Code + "/" + sendID
			assert.Equal(t, []string{bad}, rep.Refused)
			assert.Equal(t, []string{bureau.Code + "/" + goodID}, rep.Received, "the good document after it is taken")

			in, err := ak.Inbox(ctx, clk.now().Add(-time.Hour), clk.now().Add(time.Hour))
			require.NoError(t, err)
			var goodFolder string
			for _, i := range in {
				switch i.PackageID {
				case bad:
					assert.Equal(t, "failed", i.State)
					assert.Equal(t, "收文異常", i.Label)
					assert.True(t, strings.HasPrefix(i.Reason, tc.reason+":"), "reason %q, want %s", i.Reason, tc.reason)
					assert.Empty(t, i.Folder)
				default:
					assert.Equal(t, "completed", i.State)
					goodFolder = i.Folder
				}
			}
			require.NotEmpty(t, goodFolder)
			for _, f := range archived(t, archive) {
				assert.True(t, strings.HasPrefix(f, goodFolder+string(filepath.Separator)), "%s is not the good document's", f)
			}
			got, err := os.ReadFile(filepath.Join(goodFolder, "附件.pdf"))
			require.NoError(t, err)
			assert.Equal(t, pdf, got)

			// The sender learns it: 使用者退文 with the reason.
			p, err := cl.Package(ctx, bad)
			require.NoError(t, err)
			require.Len(t, p.Recipients, 1)
			assert.Equal(t, "user-returned", p.Recipients[0].SenderView)
			assert.True(t, strings.HasPrefix(p.Recipients[0].Reason, tc.reason+":"), p.Recipients[0].Reason)

			// And a second sync changes nothing.
			rep, err = ak.Sync(ctx, kindergarten)
			require.NoError(t, err)
			assert.True(t, rep.Empty(), "%+v", rep)
		})
	}
}

// The crafting above is not what is refused: a package crafted by hand
// the way Build writes it, with the names checked, is received.
func TestCraftedBaselineIsReceived(t *testing.T) {
	badSetup(t)
	ctx := context.Background()
	c := startCentre(t)
	clk := &clock{t: time.Now()}
	ak, _ := openAgent(t, c, kindergarten, clk)
	cl, err := agent.NewClient(c.URL, nil)
	require.NoError(t, err)
	_, err = cl.Login(ctx, evil.Token)
	require.NoError(t, err)
	_, err = cl.Upload(ctx, "baseline", []string{kindergarten.Code}, sealKG(t, crafted(t, "baseline", as(evil), nil, diFile(letter(t, evil, "a.pdf").Data), attachment("a.pdf"))))
	require.NoError(t, err)
	rep, err := ak.Sync(ctx, kindergarten)
	require.NoError(t, err)
	assert.Equal(t, []string{evil.Code + "/baseline"}, rep.Received)
}

// A DI in Big5 (the 99 DTD, code page 950) and one in UTF-8 (the 104 DTD)
// are received and archived byte for byte: the DI is never re-encoded.
func TestBig5AndUTF8DIsArchivedByteForByte(t *testing.T) {
	for _, enc := range []di.Encoding{di.Big5, di.UTF8} {
		t.Run(string(enc), func(t *testing.T) {
			ctx := context.Background()
			c := startCentre(t)
			clk := &clock{t: time.Now()}
			ab, _ := openAgent(t, c, bureau, clk)
			ak, _ := openAgent(t, c, kindergarten, clk)
			b, err := os.ReadFile("../di/testdata/letter-104.di")
			require.NoError(t, err)
			l, err := di.Parse(b)
			require.NoError(t, err)
			l.Sender.Code = bureau.Code
			l.Attachment.Files = []di.File{{Entity: "ATTCH1", Name: "研習計畫.pdf", Notation: "DI"}}
			l.Unknown = nil
			l.Encoding, l.DTD = enc, ""
			doc, err := di.Marshal(l)
			require.NoError(t, err)
			if enc == di.Big5 {
				require.Contains(t, string(doc[:60]), "Big5")
				require.NotContains(t, string(doc), "研習計畫", "written in Big5, not UTF-8")
			}
			pdf := bytes.Repeat([]byte{0, 1, 2, 0xff, '\r', '\n'}, 10000)
			_, err = ab.Queue(ctx, bureau, agent.Draft{To: []string{kindergarten.Code}, Subject: l.Subject, Number: l.Number.String(),
				DI: parcel.File{Name: "1150012345.di", Data: doc}, Files: []parcel.File{{Name: "研習計畫.pdf", Role: parcel.RoleAttachment, Data: pdf}}})
			require.NoError(t, err)
			_, err = ab.Sync(ctx, bureau)
			require.NoError(t, err)
			rep, err := ak.Sync(ctx, kindergarten)
			require.NoError(t, err)
			require.Len(t, rep.Received, 1, "%+v", rep)
			in, err := ak.Inbox(ctx, clk.now().Add(-time.Hour), clk.now().Add(time.Hour))
			require.NoError(t, err)
			require.Len(t, in, 1)
			assert.Equal(t, l.Subject, in[0].Subject)
			got, err := os.ReadFile(filepath.Join(in[0].Folder, "1150012345.di"))
			require.NoError(t, err)
			assert.Equal(t, doc, got, "the DI byte for byte")
			got, err = os.ReadFile(filepath.Join(in[0].Folder, "研習計畫.pdf"))
			require.NoError(t, err)
			assert.Equal(t, pdf, got, "the attachment byte for byte")
		})
	}
}
