//go:build !windows && !darwin

package register

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseSpec(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want map[string]string
	}{
		{"bare and quoted", `library="/usr/lib/a b.so" name="CardBridge: HiCOS"`,
			map[string]string{"library": "/usr/lib/a b.so", "name": "CardBridge: HiCOS"}},
		{"empty library", `library= name="NSS Internal PKCS #11 Module"`,
			map[string]string{"library": "", "name": "NSS Internal PKCS #11 Module"}},
		{"escaped quote", `name="say \"hi\"" library=/x.so`,
			map[string]string{"name": `say "hi"`, "library": "/x.so"}},
		{"other brackets", `name={a b} parameters=(c "d") NSS=[e] x='f g' y=<h>`,
			map[string]string{"name": "a b", "parameters": `c "d"`, "NSS": "e", "x": "f g", "y": "h"}},
		{"nested quotes of NSS", `NSS="Flags=internal slotParams=(1={slotFlags=[RSA] askpw=any})" name=n`,
			map[string]string{"NSS": "Flags=internal slotParams=(1={slotFlags=[RSA] askpw=any})", "name": "n"}},
		{"tag without value", `junk name=n`, map[string]string{"name": "n"}},
		{"unterminated", `name="open`, map[string]string{"name": "open"}},
		{"blank", "  \t", map[string]string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, parseSpec(tc.in))
		})
	}
}

func TestParseRawlist(t *testing.T) {
	// The output of Debian 12's modutil -rawlist (NSS 3.87), shortened.
	out := `library= name="NSS Internal PKCS #11 Module" NSS="Flags=internal,critical trustOrder=75 slotParams=(1={slotFlags=[ECC,RSA] askpw=any timeout=30})" parameters="configdir=sql:db certPrefix= keyPrefix= secmod=secmod.db flags=readOnly "

library="/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so" name="CardBridge: libsofthsm2"

library="/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so" name="Foreign OpenSC"
`
	assert.Equal(t, []entry{
		{Name: "NSS Internal PKCS #11 Module"},
		{Name: "CardBridge: libsofthsm2", Library: "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"},
		{Name: "Foreign OpenSC", Library: "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"},
	}, parseRawlist([]byte(out)))
}

func TestModuleName(t *testing.T) {
	tests := []struct{ vendor, path, want string }{
		{"HiCOS", "/usr/lib/anything.so", "CardBridge: HiCOS"},
		{"OpenSC", "/usr/lib/opensc-pkcs11.so", "CardBridge: OpenSC"},
		{"", "/usr/lib/x86_64-linux-gnu/libHicos_p11.so", "CardBridge: HiCOS"},
		{"", "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so", "CardBridge: OpenSC"},
		{"", "/usr/lib/softhsm/libsofthsm2.so", "CardBridge: libsofthsm2"},
		{"", "/opt/vendor/libtoken.so.1.2", "CardBridge: libtoken"},
		{"", "/opt/vendor/p11", "CardBridge: p11"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			got := moduleName(tc.vendor, tc.path)
			assert.Equal(t, tc.want, got)
			assert.True(t, ours(got))
		})
	}
	assert.False(t, ours("CardBridge HiCOS"), "the prefix includes the colon and space")
	assert.False(t, ours("HiCOS PKCS#11"))
}

func TestFirefoxProfiles(t *testing.T) {
	outside := t.TempDir()
	tests := []struct {
		name    string
		ini     string
		setup   func(t *testing.T, base string)
		want    []profile // Dir relative to the ini's folder unless absolute
		wantErr error
	}{
		{
			name: "relative and absolute",
			ini:  "[General]\nStartWithLastProfile=1\n\n[Profile1]\nName=work\nIsRelative=0\nPath=" + outside + "/work\n\n[Profile0]\nName=default-release\nIsRelative=1\nPath=ab12.default-release\nDefault=1\n\n[Install4F96D1932A9F858E]\nDefault=ab12.default-release\n",
			want: []profile{{Name: "work", Dir: outside + "/work"}, {Name: "default-release", Dir: "ab12.default-release"}},
		},
		{
			name: "comments, BOM, spaces, no IsRelative",
			ini:  "\ufeff; written by hand\n# another comment\n[Profile0]\n Name = a \nPath = sub/dir \n[Profile1]\nName=b\nPath=" + outside + "\n",
			want: []profile{{Name: "a", Dir: "sub/dir"}, {Name: "b", Dir: outside}},
		},
		{
			name: "section without a path is ignored",
			ini:  "[Profile0]\nName=broken\n[BackgroundTasksProfiles]\nPath=x\n",
		},
		{
			name:    "traversal",
			ini:     "[Profile0]\nName=evil\nIsRelative=1\nPath=../../etc\n",
			wantErr: ErrProfilePath,
		},
		{
			name:    "traversal in the middle",
			ini:     "[Profile0]\nName=evil\nIsRelative=1\nPath=a/../../b\n",
			wantErr: ErrProfilePath,
		},
		{
			name:    "absolute path marked relative",
			ini:     "[Profile0]\nName=evil\nIsRelative=1\nPath=/etc\n",
			wantErr: ErrProfilePath,
		},
		{
			name:    "relative path marked absolute",
			ini:     "[Profile0]\nName=odd\nIsRelative=0\nPath=x.default\n",
			wantErr: ErrProfilePath,
		},
		{
			name: "symbolic link out of the folder",
			ini:  "[Profile0]\nName=link\nIsRelative=1\nPath=escape\n",
			setup: func(t *testing.T, base string) {
				require.NoError(t, os.Symlink(outside, filepath.Join(base, "escape")))
			},
			wantErr: ErrProfilePath,
		},
		{
			name: "symbolic link inside the folder",
			ini:  "[Profile0]\nName=link\nIsRelative=1\nPath=alias\n",
			setup: func(t *testing.T, base string) {
				require.NoError(t, os.Mkdir(filepath.Join(base, "real"), 0o700))
				require.NoError(t, os.Symlink("real", filepath.Join(base, "alias")))
			},
			want: []profile{{Name: "link", Dir: "alias"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			ini := filepath.Join(base, "profiles.ini")
			require.NoError(t, os.WriteFile(ini, []byte(tc.ini), 0o644))
			if tc.setup != nil {
				tc.setup(t, base)
			}
			got, err := firefoxProfiles(ini)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				assert.Nil(t, got)
				return
			}
			require.NoError(t, err)
			var want []profile
			for _, p := range tc.want {
				if !filepath.IsAbs(p.Dir) {
					p.Dir = filepath.Join(base, p.Dir)
				}
				want = append(want, p)
			}
			assert.Equal(t, want, got)
		})
	}
}

func TestFirefoxProfilesMissing(t *testing.T) {
	got, err := firefoxProfiles(filepath.Join(t.TempDir(), "profiles.ini"))
	require.NoError(t, err, "no Firefox is not an error")
	assert.Empty(t, got)

	dir := t.TempDir()
	_, err = firefoxProfiles(dir) // a folder where the file should be
	require.Error(t, err)
	assert.False(t, errors.Is(err, ErrProfilePath))
}
