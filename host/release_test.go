package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cardbridge/cardbridge/internal/install"
	"github.com/cardbridge/cardbridge/internal/protocol"
)

// buildHost builds ./host with ldflags into a temporary directory.
func buildHost(t *testing.T, ldflags string) string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go command not found")
	}
	bin := filepath.Join(t.TempDir(), "cardbridge")
	out, err := exec.Command("go", "build", "-ldflags", ldflags, "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// session starts bin the way Chrome starts it for extension id, sends the
// requests (frames) and returns every message it wrote before exiting.
func session(t *testing.T, bin, id string, env []string, requests ...string) []map[string]any {
	t.Helper()
	var in bytes.Buffer
	for _, r := range requests {
		require.NoError(t, protocol.WriteFrame(&in, []byte(r)))
	}
	cmd := exec.Command(bin, "chrome-extension://"+id+"/")
	cmd.Env = env
	cmd.Stdin = &in
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	done := make(chan error, 1)
	require.NoError(t, cmd.Start())
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("host did not exit; stderr:\n%s", errb.String())
	}
	var msgs []map[string]any
	for out.Len() > 0 {
		b, err := protocol.ReadFrame(&out)
		require.NoError(t, err)
		var m map[string]any
		require.NoError(t, json.Unmarshal(b, &m))
		msgs = append(msgs, m)
	}
	t.Logf("stderr:\n%s", errb.String())
	return msgs
}

// hostEnv is an environment with a private home, a user configuration and,
// for development builds, a system configuration of the test's own.
func hostEnv(t *testing.T, user, system string) []string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.Chmod(dir, 0o755))
	env := []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH")}
	if user != "" {
		p := filepath.Join(dir, "user.json")
		require.NoError(t, os.WriteFile(p, []byte(user), 0o600))
		env = append(env, "CARDBRIDGE_CONFIG="+p)
	}
	if system != "" {
		p := filepath.Join(dir, "system.json")
		require.NoError(t, os.WriteFile(p, []byte(system), 0o644))
		env = append(env, "CARDBRIDGE_SYSTEM_CONFIG="+p)
	}
	return env
}

// A release build (make release) trusts no development extension, honours
// no virtual reader, serves no http://localhost page, and reads its system
// configuration only from the real system location; a development build
// does all of these. Each is a finding of the security review.
func TestReleaseBuild(t *testing.T) {
	store := strings.Repeat("c", 32)
	release := buildHost(t, "-X main.build=release -X main.storeExtensionIDs="+store)
	dev := buildHost(t, "")
	cfg := `{"virtualReader":"127.0.0.1:35999"}`
	system := `{"allowLoopbackOrigins":true}`
	const (
		config    = `{"id":1,"command":"config"}`
		localhost = `{"id":2,"command":"version","origin":"http://localhost:8080"}`
	)

	t.Run("release refuses the development extension", func(t *testing.T) {
		msgs := session(t, release, install.DevExtensionID, hostEnv(t, cfg, ""), config)
		require.Len(t, msgs, 1)
		assert.Equal(t, string(protocol.ErrCallerNotAllowed), msgs[0]["error"].(map[string]any)["code"])
	})

	t.Run("release serves its store extension, without virtual reader or localhost pages", func(t *testing.T) {
		msgs := session(t, release, store, hostEnv(t, cfg, system), config, localhost)
		require.Len(t, msgs, 3)
		assert.Equal(t, "hello", msgs[0]["event"])
		assert.Equal(t, protocol.BuildRelease, msgs[0]["data"].(map[string]any)["build"])
		byID := map[float64]map[string]any{}
		for _, m := range msgs[1:] {
			byID[m["id"].(float64)] = m
		}
		res := byID[1]["result"].(map[string]any)
		assert.Equal(t, false, res["virtualReader"], "a release build ignores virtualReader")
		assert.Equal(t, false, res["loopbackOrigins"], "CARDBRIDGE_SYSTEM_CONFIG is not read by a release build")
		assert.Equal(t, string(protocol.ErrBadOrigin), byID[2]["error"].(map[string]any)["code"])
	})

	t.Run("development build", func(t *testing.T) {
		msgs := session(t, dev, install.DevExtensionID, hostEnv(t, cfg, ""), config, localhost)
		require.Len(t, msgs, 3)
		assert.Equal(t, protocol.BuildDevelopment, msgs[0]["data"].(map[string]any)["build"])
		byID := map[float64]map[string]any{}
		for _, m := range msgs[1:] {
			byID[m["id"].(float64)] = m
		}
		res := byID[1]["result"].(map[string]any)
		assert.Equal(t, true, res["virtualReader"])
		assert.Equal(t, true, res["loopbackOrigins"])
		assert.Contains(t, byID[2], "result")
	})
}
