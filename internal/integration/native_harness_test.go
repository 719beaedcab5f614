package integration

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cardbridge/cardbridge/internal/install"
	"github.com/cardbridge/cardbridge/internal/nativeclient"
	"github.com/cardbridge/cardbridge/internal/protocol"
)

// chromeOrigin is how Chrome names the development extension to the host.
var chromeOrigin = nativeclient.ChromeArgs(install.DevExtensionID)[0]

// host is the real cardbridge binary started the way a browser starts it,
// talking native messaging over pipes (internal/nativeclient); its methods
// fail the test instead of returning errors.
type host struct {
	t *testing.T
	c *nativeclient.Host
}

// hostOptions configure startHost.
type hostOptions struct {
	args   []string // default: the Chrome development extension's origin
	config string   // config.json content; empty for none
	// system is the system configuration's content (a development build
	// reads it from CARDBRIDGE_SYSTEM_CONFIG). Empty means the tests'
	// default, which lets pageOrigin sign raw and decrypt, as an
	// administrator lists an exchange site; the policy tests set their own.
	system string
	// env is added to the host's environment (XDG_DATA_HOME: where the
	// exchange program finds its home).
	env []string
}

// defaultSystem is the system configuration of tests that do not set one.
var defaultSystem = `{"rawSignOrigins":["` + pageOrigin + `","https://edoc.example.gov.tw"],"decryptOrigins":["` + pageOrigin + `","https://edoc.example.gov.tw"]}`

// startHost starts the host with a private HOME and configuration and
// returns at once; tests read its first message (hello) themselves.
func startHost(t *testing.T, o hostOptions) *host {
	t.Helper()
	dir := t.TempDir()
	if o.args == nil {
		o.args = nativeclient.ChromeArgs(install.DevExtensionID)
	}
	cfg := filepath.Join(dir, "config.json")
	if o.config != "" {
		if err := os.WriteFile(cfg, []byte(o.config), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if o.system == "" {
		o.system = defaultSystem
	}
	sysDir := filepath.Join(dir, "etc")
	if err := os.Mkdir(sysDir, 0o755); err != nil {
		t.Fatal(err)
	}
	sys := filepath.Join(sysDir, "config.json")
	if err := os.WriteFile(sys, []byte(o.system), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := nativeclient.Start(binary, nativeclient.Options{
		Args: o.args,
		Env: append(append(os.Environ(), "HOME="+dir, "CARDBRIDGE_CONFIG="+cfg, "CARDBRIDGE_SYSTEM_CONFIG="+sys,
			"XDG_CONFIG_HOME="+filepath.Join(dir, ".config")), o.env...),
	})
	if err != nil {
		t.Fatal(err)
	}
	h := &host{t: t, c: c}
	t.Cleanup(func() {
		if _, err := c.Exit(10 * time.Second); err != nil {
			c.Kill()
			t.Errorf("host %v", err)
		}
		if t.Failed() {
			t.Logf("host stderr:\n%s", c.Stderr())
		}
	})
	return h
}

// fatal fails the test with err, adding the host's stderr when the host
// closed its stdout.
func (h *host) fatal(err error) {
	h.t.Helper()
	if errors.Is(err, nativeclient.ErrClosed) {
		h.t.Fatalf("%v; stderr:\n%s", err, h.c.Stderr())
	}
	h.t.Fatal(err)
}

// hello reads the first message and checks it is the hello event.
func (h *host) hello() map[string]any {
	h.t.Helper()
	m, err := h.c.Hello(5 * time.Second)
	if err != nil {
		h.fatal(err)
	}
	return m.Fields
}

// next returns the next message, failing after timeout.
func (h *host) next(timeout time.Duration) map[string]any {
	h.t.Helper()
	m, err := h.c.Next(timeout)
	if err != nil {
		h.fatal(err)
	}
	return m.Fields
}

// sendRaw writes bytes to the host's stdin as they are.
func (h *host) sendRaw(b []byte) {
	h.t.Helper()
	if err := h.c.WriteRaw(b); err != nil {
		h.t.Fatal(err)
	}
}

// frame returns body as a native-messaging frame.
func frame(body []byte) []byte { return nativeclient.Frame(body) }

// send writes one request and returns its id.
func (h *host) send(command, origin string, args any) float64 {
	h.t.Helper()
	id, err := h.c.Send(command, origin, args)
	if err != nil {
		h.t.Fatal(err)
	}
	return float64(id)
}

// request encodes one request; origin and args are left out when empty.
func request(t *testing.T, id any, command, origin string, args any) []byte {
	t.Helper()
	b, err := nativeclient.Request(id, command, origin, args)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// reply waits for the reply with id, keeping events that come first.
func (h *host) reply(id any, timeout time.Duration) map[string]any {
	h.t.Helper()
	m, err := h.c.Reply(id, timeout)
	if err != nil {
		h.fatal(err)
	}
	return m.Fields
}

// call sends a request and returns its result, failing on an error reply.
func (h *host) call(command, origin string, args any) map[string]any {
	h.t.Helper()
	m := h.reply(h.send(command, origin, args), 30*time.Second)
	res, ok := m["result"].(map[string]any)
	if !ok {
		h.t.Fatalf("%s: reply %v, want a result", command, m)
	}
	return res
}

// callErr sends a request and returns its error object, failing on a result.
func (h *host) callErr(command, origin string, args any) map[string]any {
	h.t.Helper()
	m := h.reply(h.send(command, origin, args), 30*time.Second)
	e, ok := m["error"].(map[string]any)
	if !ok {
		h.t.Fatalf("%s: reply %v, want an error", command, m)
	}
	return e
}

// wantCode checks an error object's code and that both messages are there.
func wantCode(t *testing.T, e map[string]any, code protocol.Code) {
	t.Helper()
	if e["code"] != string(code) {
		t.Fatalf("error = %v, want code %s", e, code)
	}
	if s, _ := e["message"].(string); s == "" {
		t.Errorf("error %s has no English message", code)
	}
	if s, _ := e["messageZh"].(string); s == "" {
		t.Errorf("error %s has no Chinese message", code)
	}
}

// waitEvent waits for an event with name (kept or new).
func (h *host) waitEvent(name string, timeout time.Duration) map[string]any {
	h.t.Helper()
	m, err := h.c.WaitEvent(name, timeout)
	if err != nil {
		h.fatal(err)
	}
	return m.Fields
}

// exit closes stdin and returns the exit status.
func (h *host) exit() int {
	h.t.Helper()
	st, err := h.c.Exit(10 * time.Second)
	if err != nil {
		h.t.Fatalf("host %v", err)
	}
	return st
}

// noPIN fails if the host's log contains any of the secrets.
func (h *host) noPIN(secrets ...string) {
	h.t.Helper()
	log := h.c.Stderr()
	for _, s := range secrets {
		if strings.Contains(log, s) {
			h.t.Errorf("host log contains a secret %q:\n%s", s, log)
		}
	}
}
