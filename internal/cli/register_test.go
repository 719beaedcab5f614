package cli

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// openscModule is registered by these tests: modutil loads it to check it,
// and OpenSC's module loads without a configuration or a card service —
// needNSSTools takes the card service away, so that a card another test
// package holds in a transaction cannot keep modutil waiting.
const openscModule = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"

// needNSSTools skips the test without the NSS tools and OpenSC.
func needNSSTools(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("register changes NSS databases on Linux only")
	}
	for _, tool := range []string{"modutil", "certutil"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (Debian package libnss3-tools; scripts/deps.sh installs it)", tool)
		}
	}
	if _, err := os.Stat(openscModule); err != nil {
		t.Fatalf("OpenSC's module is missing (Debian package opensc; scripts/deps.sh installs it): %v", err)
	}
	t.Setenv("PCSCLITE_CSOCK_NAME", filepath.Join(t.TempDir(), "no-pcscd.comm"))
}

func TestRegisterUsage(t *testing.T) {
	for _, args := range [][]string{
		{"register", "extra"},
		{"register", "--undo", "--pkcs11", openscModule},
		{"register", "--no-such-flag"},
	} {
		code, _, stderr := runCLI(t, args...)
		assert.Equal(t, 2, code, "%q\n%s", args, stderr)
	}
}

func TestRegisterCommand(t *testing.T) {
	needNSSTools(t)
	home := tempHome(t)
	shared := filepath.Join(home, ".pki", "nssdb")
	const name = "CardBridge: OpenSC"
	tests := []struct {
		name       string
		args       []string
		wantOut    []string
		wantErr    string
		wantListed bool
	}{
		{"dry run", []string{"register", "--dry-run", "--pkcs11", openscModule},
			[]string{"Chrome/Chromium 共用資料庫 / shared database: " + shared, "將建立資料庫 / would create the database", "將加入 / would add: " + name},
			"試執行：沒有變更任何資料庫 / dry run: no database was changed", false},
		{"register", []string{"register", "--pkcs11", openscModule},
			[]string{"已建立資料庫 / created the database", "已加入 / added: " + name + "  (" + openscModule + ")"},
			"請重新啟動 Chrome、Chromium 與 Firefox", true},
		{"again", []string{"register", "--pkcs11", openscModule},
			[]string{"未變更 / unchanged: " + name}, "", true},
		{"undo dry run", []string{"register", "--undo", "--dry-run"},
			[]string{"將移除 / would remove: " + name}, "dry run", true},
		{"undo", []string{"register", "--undo"},
			[]string{"已移除 / removed: " + name}, "restart", false},
		{"undo again", []string{"register", "--undo"},
			[]string{"沒有要移除的模組 / nothing to remove"}, "", false},
	}
	for _, tc := range tests {
		code, stdout, stderr := runCLI(t, tc.args...)
		require.Equal(t, 0, code, "%s: %s", tc.name, stderr)
		for _, want := range tc.wantOut {
			assert.Contains(t, stdout, want, tc.name)
		}
		if tc.wantErr == "" {
			assert.Empty(t, stderr, tc.name)
		} else {
			assert.Contains(t, stderr, tc.wantErr, tc.name)
		}
		out, _ := exec.Command("modutil", "-rawlist", "-dbdir", "sql:"+shared).CombinedOutput()
		assert.Equal(t, tc.wantListed, strings.Contains(string(out), `name="`+name+`"`), "%s: %s", tc.name, out)
	}
}

func TestRegisterJSON(t *testing.T) {
	needNSSTools(t)
	home := tempHome(t)
	code, stdout, stderr := runCLI(t, "register", "--json", "--dry-run", "--pkcs11", openscModule)
	require.Equal(t, 0, code, stderr)
	var got struct {
		Undo    bool `json:"undo"`
		DryRun  bool `json:"dryRun"`
		Changes []struct {
			DB, Browser, Action, Module, Library string
		} `json:"changes"`
		Error string `json:"error"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &got), stdout)
	assert.True(t, got.DryRun)
	assert.False(t, got.Undo)
	assert.Empty(t, got.Error)
	require.Len(t, got.Changes, 2)
	assert.Equal(t, "create-db", got.Changes[0].Action)
	assert.Equal(t, "add", got.Changes[1].Action)
	assert.Equal(t, filepath.Join(home, ".pki", "nssdb"), got.Changes[1].DB)
	assert.Equal(t, "Chrome/Chromium", got.Changes[1].Browser)
	assert.Equal(t, "CardBridge: OpenSC", got.Changes[1].Module)
	assert.Equal(t, openscModule, got.Changes[1].Library)
	assert.NoDirExists(t, filepath.Join(home, ".pki"))
}

// TestRegisterRefused checks that a refusal exits 1 with the register
// package's bilingual message, and writes nothing.
func TestRegisterRefused(t *testing.T) {
	needNSSTools(t)
	unsafe := filepath.Join(t.TempDir(), "opensc-pkcs11.so")
	b, err := os.ReadFile(openscModule)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(unsafe, b, 0o644))
	require.NoError(t, os.Chmod(unsafe, 0o666))
	tests := []struct {
		name   string
		args   []string
		ini    string
		want   []string
		reason string
	}{
		{"writable module", []string{"register", "--pkcs11", unsafe}, "",
			[]string{"錯誤 / Error: PKCS#11 模組無法使用", "writable by others"}, "unsafe-module"},
		{"relative module", []string{"register", "--pkcs11", "opensc-pkcs11.so"}, "",
			[]string{"須為存在的絕對路徑", "must be absolute"}, "unsafe-module"},
		{"profile traversal", []string{"register", "--pkcs11", openscModule}, "[Profile0]\nName=x\nIsRelative=1\nPath=../../etc\n",
			[]string{"Firefox 設定檔路徑不安全", "unsafe Firefox profile path", "../../etc"}, "unsafe-profile"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			home := tempHome(t)
			if tc.ini != "" {
				ff := filepath.Join(home, ".mozilla", "firefox")
				require.NoError(t, os.MkdirAll(ff, 0o700))
				require.NoError(t, os.WriteFile(filepath.Join(ff, "profiles.ini"), []byte(tc.ini), 0o644))
			}
			code, stdout, stderr := runCLI(t, tc.args...)
			assert.Equal(t, 1, code)
			assert.Empty(t, stdout)
			for _, want := range tc.want {
				assert.Contains(t, stderr, want)
			}
			assert.NoDirExists(t, filepath.Join(home, ".pki"))

			code, stdout, _ = runCLI(t, append(tc.args, "--json")...)
			assert.Equal(t, 1, code)
			var got struct {
				Changes []any `json:"changes"`
				Error   struct{ Reason, Message string }
			}
			require.NoError(t, json.Unmarshal([]byte(stdout), &got), stdout)
			assert.Empty(t, got.Changes)
			assert.Equal(t, tc.reason, got.Error.Reason)
			assert.Contains(t, got.Error.Message, tc.want[len(tc.want)-1])
		})
	}
}
