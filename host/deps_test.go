package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// What each binary must never link, checked over `go list -deps`: the
// shipped host carries no virtual card, fake card backend, TEST CA, test
// client or HTTP stack (softcard's own doc says it must never reach a
// user, and every package linked costs start-up time before the browser's
// hello); the exchange centre server runs on machines without smart-card
// readers, so no PC/SC and no cgo: it must build with CGO_ENABLED=0 (with
// cgo enabled, the standard library's net package itself would list
// runtime/cgo, so the listing is made without it).
func TestBinaryDependencies(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go command not found")
	}
	const mod = "github.com/cardbridge/cardbridge"
	for _, tc := range []struct {
		pkg       string
		forbidden []string
		noCgo     bool
	}{
		{"./host", []string{mod + "/internal/softcard", mod + "/internal/testca", mod + "/internal/cards/cardstest", mod + "/internal/nativeclient", "net/http", mod + "/internal/exchange/agent", "modernc.org/sqlite"}, false},
		{"./cmd/cardbridge-centre", []string{mod + "/internal/pcsc", "github.com/ebfe/scard", "github.com/miekg/pkcs11", mod + "/internal/card", mod + "/internal/cards", "runtime/cgo"}, true},
	} {
		t.Run(tc.pkg, func(t *testing.T) {
			dir := filepath.Join("..", filepath.FromSlash(strings.TrimPrefix(tc.pkg, "./")))
			if _, err := os.Stat(dir); os.IsNotExist(err) {
				t.Skipf("%s does not exist yet; the rule applies once it does", tc.pkg)
			}
			if tc.noCgo {
				build := exec.Command("go", "build", "-o", os.DevNull, tc.pkg)
				build.Dir = ".."
				build.Env = append(os.Environ(), "CGO_ENABLED=0")
				if out, err := build.CombinedOutput(); err != nil {
					t.Fatalf("CGO_ENABLED=0 go build %s: %v\n%s", tc.pkg, err, out)
				}
			}
			cmd := exec.Command("go", "list", "-deps", tc.pkg)
			cmd.Dir = ".."
			if tc.noCgo {
				cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			}
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("go list -deps %s: %v", tc.pkg, err)
			}
			deps := map[string]bool{}
			for _, d := range strings.Fields(string(out)) {
				deps[d] = true
			}
			if !deps[mod+"/internal/protocol"] && tc.pkg == "./host" {
				t.Fatalf("go list -deps %s lists no internal/protocol: the listing is wrong", tc.pkg)
			}
			for _, f := range tc.forbidden {
				if deps[f] {
					t.Errorf("%s links %s", tc.pkg, f)
				}
			}
		})
	}
}
