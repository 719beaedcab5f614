package api

import (
	"bufio"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Attack: a network peer without a login announces a login body and sends
// it a byte at a time, or not at all. The centre's server has a header
// timeout only, so the connection and its goroutine were held for ever;
// a few thousand such peers exhaust the centre. The login's body must
// arrive within loginBodyTimeout.
func TestAttackSlowLoginBody(t *testing.T) {
	defer func(d time.Duration) { loginBodyTimeout = d }(loginBodyTimeout)
	loginBodyTimeout = 300 * time.Millisecond
	srv := &Server{}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.Write([]byte("POST /v1/login HTTP/1.1\r\nHost: centre\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"challenge\":"))
	require.NoError(t, err)
	start := time.Now()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err, "the centre still waits for the body")
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Less(t, time.Since(start), 3*time.Second)
}
