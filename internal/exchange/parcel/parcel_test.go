package parcel_test

import (
	"archive/zip"
	"bytes"
	"crypto/x509"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/exchange/exchangetest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardbridge/cardbridge/internal/exchange/parcel"
	"github.com/cardbridge/cardbridge/internal/testca"
)

// agency is a TEST organisation with software keys for its cert1 and cert2.
type agency = *exchangetest.Agency

var (
	once                                    sync.Once
	ca, otherCA                             *testca.Hierarchy
	kindergarten, bureau, stranger, expired agency
)

func issue(t *testing.T, h *testca.Hierarchy, name, ubn string, nb, na time.Time) agency {
	return exchangetest.NewAgency(t, h, name, ubn, nb, na)
}

func setup(t *testing.T) {
	once.Do(func() {
		var err error
		ca, err = testca.New(nil, time.Now())
		require.NoError(t, err)
		otherCA, err = testca.New(nil, time.Now())
		require.NoError(t, err)
		now := time.Now()
		kindergarten = issue(t, ca, "測試幼兒園", "04595252", now.Add(-time.Hour), now.AddDate(1, 0, 0))
		bureau = issue(t, ca, "測試市教育局", "10458570", now.Add(-time.Hour), now.AddDate(1, 0, 0))
		stranger = issue(t, otherCA, "他處幼兒園", "22099131", now.Add(-time.Hour), now.AddDate(1, 0, 0))
		expired = issue(t, ca, "過期幼兒園", "10458575", now.AddDate(-2, 0, 0), now.AddDate(0, 0, -1))
	})
}

func trust() parcel.Trust {
	roots := x509.NewCertPool()
	roots.AddCert(ca.Root.Cert)
	inter := x509.NewCertPool()
	inter.AddCert(ca.Issuing.Cert)
	return parcel.Trust{Roots: roots, Intermediates: inter, Now: time.Now()}
}

func draft(t *testing.T, from agency, to ...agency) parcel.Draft {
	t.Helper()
	letter, err := os.ReadFile("../di/testdata/letter-104.di")
	require.NoError(t, err)
	d := parcel.Draft{ID: "0f6b1c1e-5c55-4c38-9a2c-3b8d2f2f7e01", Sender: from.Code, Subject: "研習計畫", Number: "測教幼字第1150012345號", Created: time.Now(),
		Files: []parcel.File{
			{Name: "1150012345.di", Role: parcel.RoleDI, Data: letter},
			{Name: "研習計畫.pdf", Role: parcel.RoleAttachment, Data: bytes.Repeat([]byte("%PDF-1.7 "), 5000)},
		}}
	for _, a := range to {
		d.Recipients = append(d.Recipients, a.Code)
	}
	return d
}

func seal(t *testing.T, d parcel.Draft, from agency, to ...*x509.Certificate) []byte {
	t.Helper()
	inner, err := parcel.Build(d, parcel.Signer{Cert: from.Sign, Key: from.SignKey})
	require.NoError(t, err)
	env, err := parcel.Seal(inner, to)
	require.NoError(t, err)
	return env
}

func TestSendAndOpen(t *testing.T) {
	setup(t)
	d := draft(t, bureau, kindergarten)
	env := seal(t, d, bureau, kindergarten.Enc, bureau.Enc)
	assert.False(t, bytes.Contains(env, []byte("研習計畫")), "plaintext in what the centre carries")
	for _, who := range []agency{kindergarten, bureau} { // the receiver, and the sender's own copy
		o, err := parcel.Open(env, who.Enc, who.EncKey, trust())
		require.NoError(t, err)
		assert.Equal(t, bureau.Code, o.Manifest.Sender)
		assert.Equal(t, []string{kindergarten.Code}, o.Manifest.Recipients)
		assert.Equal(t, d.ID, o.Manifest.ID)
		require.Len(t, o.Files, 2)
		assert.Equal(t, d.Files[0].Data, o.Files[0].Data, "archive bytes identical")
		assert.Equal(t, d.Files[1].Data, o.Files[1].Data)
		assert.Equal(t, bureau.Sign.Raw, o.Signer.Raw)
		assert.WithinDuration(t, time.Now(), o.SigningTime, time.Minute)
		assert.Len(t, o.ManifestSHA256, 64)
	}
	_, err := parcel.Open(env, stranger.Enc, stranger.EncKey, trust())
	assert.ErrorIs(t, err, parcel.ErrNotForUs)
}

// rezip rebuilds inner with change applied to each entry (nil drops it).
func rezip(t *testing.T, inner []byte, change func(name string, data []byte) (string, []byte)) []byte {
	t.Helper()
	z, err := zip.NewReader(bytes.NewReader(inner), int64(len(inner)))
	require.NoError(t, err)
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	for _, f := range z.File {
		r, err := f.Open()
		require.NoError(t, err)
		var data bytes.Buffer
		_, err = data.ReadFrom(r)
		require.NoError(t, err)
		name, out := change(f.Name, data.Bytes())
		if out == nil {
			continue
		}
		fw, err := w.Create(name)
		require.NoError(t, err)
		_, err = fw.Write(out)
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())
	return b.Bytes()
}

func TestRefusals(t *testing.T) {
	setup(t)
	good, err := parcel.Build(draft(t, bureau, kindergarten), parcel.Signer{Cert: bureau.Sign, Key: bureau.SignKey})
	require.NoError(t, err)
	for _, tc := range []struct {
		name  string
		inner func() []byte
		want  error
	}{
		{"a file changed after signing", func() []byte {
			return rezip(t, good, func(n string, d []byte) (string, []byte) {
				if strings.HasSuffix(n, ".pdf") {
					d = append(bytes.Clone(d), 'x')
				}
				return n, d
			})
		}, parcel.ErrDigest},
		{"the manifest changed after signing", func() []byte {
			return rezip(t, good, func(n string, d []byte) (string, []byte) {
				if n == "manifest.json" {
					d = bytes.Replace(d, []byte(kindergarten.Code), []byte(stranger.Code), 1)
				}
				return n, d
			})
		}, parcel.ErrSignature},
		{"a file added", func() []byte {
			z := rezip(t, good, func(n string, d []byte) (string, []byte) { return n, d })
			return appendEntry(t, z, "files/extra.exe", []byte("MZ"))
		}, parcel.ErrDigest},
		{"a file dropped", func() []byte {
			return rezip(t, good, func(n string, d []byte) (string, []byte) {
				if strings.HasSuffix(n, ".pdf") {
					return n, nil
				}
				return n, d
			})
		}, parcel.ErrDigest},
		{"a name with ../", func() []byte { return appendEntry(t, good, "files/../../evil.di", []byte("x")) }, parcel.ErrBadName},
		{"a Windows device name", func() []byte { return appendEntry(t, good, "files/CON.pdf", []byte("x")) }, parcel.ErrBadName},
		{"an entry outside files/", func() []byte { return appendEntry(t, good, "../../etc/cron.d/x", []byte("x")) }, parcel.ErrMalformed},
		{"not a zip", func() []byte { return []byte("not a zip") }, parcel.ErrMalformed},
		{"a zip bomb", func() []byte { return appendBomb(t, good) }, parcel.ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parcel.VerifyInner(tc.inner(), trust())
			require.Error(t, err)
			assert.ErrorIs(t, err, tc.want)
		})
	}
}

func TestSignerRefusals(t *testing.T) {
	setup(t)
	// Signed by a certificate of another CA.
	inner, err := parcel.Build(draft(t, stranger, kindergarten), parcel.Signer{Cert: stranger.Sign, Key: stranger.SignKey})
	require.NoError(t, err)
	_, err = parcel.VerifyInner(inner, trust())
	assert.ErrorIs(t, err, parcel.ErrUntrusted)

	// Signed by an expired certificate (its signingTime is outside it too).
	inner, err = parcel.Build(draft(t, expired, kindergarten), parcel.Signer{Cert: expired.Sign, Key: expired.SignKey})
	require.NoError(t, err)
	_, err = parcel.VerifyInner(inner, trust())
	assert.ErrorIs(t, err, parcel.ErrExpired)

	// Signed by one agency in another's name.
	d := draft(t, bureau, kindergarten)
	inner, err = parcel.Build(d, parcel.Signer{Cert: kindergarten.Sign, Key: kindergarten.SignKey})
	require.NoError(t, err)
	_, err = parcel.VerifyInner(inner, trust())
	assert.ErrorIs(t, err, parcel.ErrSender)

	// A signature by a key that is not the certificate's.
	inner, err = parcel.Build(d, parcel.Signer{Cert: bureau.Sign, Key: kindergarten.SignKey})
	if err == nil {
		_, err = parcel.VerifyInner(inner, trust())
	}
	assert.Error(t, err)
}

func TestDraftRefusals(t *testing.T) {
	setup(t)
	s := parcel.Signer{Cert: bureau.Sign, Key: bureau.SignKey}
	for name, change := range map[string]func(d *parcel.Draft){
		"no id":               func(d *parcel.Draft) { d.ID = "" },
		"no recipient":        func(d *parcel.Draft) { d.Recipients = nil },
		"a bad recipient":     func(d *parcel.Draft) { d.Recipients = []string{"XC04595251"} },
		"no DI":               func(d *parcel.Draft) { d.Files = d.Files[1:] },
		"two DIs":             func(d *parcel.Draft) { d.Files[1].Role = parcel.RoleDI },
		"a traversing name":   func(d *parcel.Draft) { d.Files[1].Name = "../x.pdf" },
		"the same name twice": func(d *parcel.Draft) { d.Files[1].Name = "1150012345.DI" },
		"an unknown role":     func(d *parcel.Draft) { d.Files[1].Role = "script" },
	} {
		d := draft(t, bureau, kindergarten)
		change(&d)
		_, err := parcel.Build(d, s)
		assert.Error(t, err, name)
	}
}

func appendEntry(t *testing.T, inner []byte, name string, data []byte) []byte {
	t.Helper()
	return rezipPlus(t, inner, name, data, zip.Store)
}

// appendBomb adds an entry that inflates to more than MaxTotal from a few
// hundred kilobytes.
func appendBomb(t *testing.T, inner []byte) []byte {
	t.Helper()
	return rezipPlus(t, inner, "files/bomb.pdf", make([]byte, parcel.MaxTotal+1), zip.Deflate)
}

func rezipPlus(t *testing.T, inner []byte, name string, data []byte, method uint16) []byte {
	t.Helper()
	z, err := zip.NewReader(bytes.NewReader(inner), int64(len(inner)))
	require.NoError(t, err)
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	for _, f := range z.File {
		require.NoError(t, w.Copy(f))
	}
	fw, err := w.CreateHeader(&zip.FileHeader{Name: name, Method: method})
	require.NoError(t, err)
	_, err = fw.Write(data)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return b.Bytes()
}

func FuzzVerifyInner(f *testing.F) {
	f.Add([]byte("PK\x03\x04"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		roots := x509.NewCertPool()
		_, err := parcel.VerifyInner(data, parcel.Trust{Roots: roots, Now: time.Now()})
		if err == nil {
			t.Fatal("an unsigned package was accepted")
		}
		if !errors.Is(err, parcel.ErrMalformed) && !errors.Is(err, parcel.ErrTooLarge) && !errors.Is(err, parcel.ErrBadName) &&
			!errors.Is(err, parcel.ErrSignature) && !errors.Is(err, parcel.ErrUntrusted) && !errors.Is(err, parcel.ErrExpired) {
			t.Fatalf("untyped refusal: %v", err)
		}
	})
}
