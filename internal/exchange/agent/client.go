package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/cardbridge/cardbridge/authtoken"
	"github.com/cardbridge/cardbridge/internal/centre/api"
)

// Client speaks the centre's API (internal/centre/api) for one agency.
type Client struct {
	base string // the centre's origin, e.g. https://centre.example.tw
	http *http.Client

	mu      sync.Mutex // the push channel and Sync share the session
	session string
	// sign is the card's login, kept from Login so that a session the
	// centre forgot (it restarted, or the session went idle) is opened
	// again once, without the caller's help.
	sign SignFunc
}

// SignFunc has the card sign the centre's login challenge for origin.
type SignFunc func(ctx context.Context, origin, challenge string) (authtoken.Token, error)

// NewClient returns a client of the centre at origin.
func NewClient(origin string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Path != "" && u.Path != "/" {
		return nil, fmt.Errorf("centre %q: an origin such as https://centre.example.tw", origin)
	}
	// Plain HTTP only to this machine (a centre behind a local proxy, the
	// tests), as the centre itself serves it: elsewhere the session token
	// and the receipts would cross the network in clear.
	if ip := net.ParseIP(u.Hostname()); u.Scheme == "http" && u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("centre %q: 交換中心須以 https 連線 / the centre must be reached over https (http only on this computer)", origin)
	}
	if hc == nil {
		hc = &http.Client{Timeout: 5 * time.Minute}
	}
	// The centre's API never redirects. Followed, a redirect would repeat
	// a POST's body (the login token, a receipt, an envelope) to another
	// host, and the session to another port or scheme of the centre's.
	own := *hc
	own.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Client{base: strings.TrimSuffix(origin, "/"), http: &own}, nil
}

// Origin is the centre's origin, which the login token binds.
func (c *Client) Origin() string { return c.base }

// CentreError is an error answer of the centre.
type CentreError struct {
	Status    int
	Code      string `json:"code"`
	Message   string `json:"message"`
	MessageZh string `json:"messageZh"`
}

func (e *CentreError) Error() string {
	return fmt.Sprintf("centre: %s (%d): %s", printable(e.Code), e.Status, printable(e.Message)) // the centre's text, printed
}

// ErrUnreachable wraps a transport failure: the centre may be down or the
// network cut; the caller retries later.
var ErrUnreachable = errors.New("the exchange centre cannot be reached")

// Temporary reports whether err is worth retrying (transport failures and
// the centre's 5xx answers), as opposed to a refusal that will not change.
func Temporary(err error) bool {
	var ce *CentreError
	if errors.As(err, &ce) {
		return ce.Status >= 500 || ce.Status == http.StatusTooManyRequests
	}
	return errors.Is(err, ErrUnreachable) || errors.Is(err, context.DeadlineExceeded)
}

// do makes one request; when the centre no longer knows our session, it
// logs in again with the card and repeats the request once.
func (c *Client) do(ctx context.Context, method, path string, body []byte, hdr map[string]string, out any) error {
	err := c.once(ctx, method, path, body, hdr, out)
	var ce *CentreError
	if errors.As(err, &ce) && ce.Code == "NOT_LOGGED_IN" {
		if !c.relogin(ctx) {
			return err
		}
		err = c.once(ctx, method, path, body, hdr, out)
	}
	return err
}

// relogin logs in again with the card that logged in before, if any.
func (c *Client) relogin(ctx context.Context) bool {
	c.mu.Lock()
	sign := c.sign
	c.mu.Unlock()
	if sign == nil {
		return false
	}
	_, err := c.Login(ctx, sign)
	return err == nil
}

func (c *Client) bearer() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.session
}

func (c *Client) once(ctx context.Context, method, path string, body []byte, hdr map[string]string, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	if s := c.bearer(); s != "" {
		req.Header.Set("Authorization", "Bearer "+s)
	}
	if body != nil && hdr["Content-Type"] == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error CentreError `json:"error"`
		}
		_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&e)
		e.Error.Status = resp.StatusCode
		if e.Error.Code == "" {
			e.Error.Code = http.StatusText(resp.StatusCode)
		}
		return &e.Error
	}
	if b, ok := out.(*[]byte); ok {
		*b, err = io.ReadAll(io.LimitReader(resp.Body, api.MaxUpload+1))
		if err == nil && len(*b) > api.MaxUpload {
			return fmt.Errorf("centre: an envelope over %d bytes", api.MaxUpload)
		}
		if err != nil {
			return fmt.Errorf("%w: %w", ErrUnreachable, err)
		}
		return nil
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(out); err != nil {
		return fmt.Errorf("%w: answer: %w", ErrUnreachable, err)
	}
	return nil
}

// Login gets a challenge, has sign make the card's token over the centre's
// origin and it, and opens a session. It returns the agency the centre
// recognised.
func (c *Client) Login(ctx context.Context, sign SignFunc) (string, error) {
	agency, err := c.login(ctx, sign)
	var ce *CentreError
	if errors.As(err, &ce) && ce.Code == "CHALLENGE_EXPIRED" {
		// The challenge went stale while the card signed (a slow card, a
		// busy centre): once more with a fresh one.
		agency, err = c.login(ctx, sign)
	}
	return agency, err
}

func (c *Client) login(ctx context.Context, sign SignFunc) (string, error) {
	var ch struct{ Challenge string }
	if err := c.once(ctx, "POST", "/v1/login/challenge", nil, nil, &ch); err != nil {
		return "", err
	}
	tok, err := sign(ctx, c.base, ch.Challenge)
	if err != nil {
		return "", err
	}
	b, _ := json.Marshal(api.LoginRequest{Challenge: ch.Challenge, Token: tok})
	var out struct{ Session, Agency string }
	if err := c.once(ctx, "POST", "/v1/login", b, nil, &out); err != nil {
		return "", err
	}
	c.mu.Lock()
	c.session, c.sign = out.Session, sign
	c.mu.Unlock()
	return out.Agency, nil
}

// Logout ends the session.
func (c *Client) Logout(ctx context.Context) error {
	if c.bearer() == "" {
		return nil
	}
	err := c.once(ctx, "POST", "/v1/logout", nil, nil, nil)
	c.mu.Lock()
	c.session, c.sign = "", nil
	c.mu.Unlock()
	return err
}

// Directory lists the agencies with their encryption certificates.
func (c *Client) Directory(ctx context.Context) ([]api.DirectoryEntry, error) {
	var out struct{ Agencies []api.DirectoryEntry }
	err := c.do(ctx, "GET", "/v1/directory", nil, nil, &out)
	return out.Agencies, err
}

// Upload sends a sealed package under the sender's send id.
func (c *Client) Upload(ctx context.Context, sendID string, recipients []string, envelope []byte) (api.PackageView, error) {
	var out api.PackageView
	err := c.do(ctx, "POST", "/v1/packages", envelope,
		map[string]string{"X-Send-Id": sendID, "X-Recipients": strings.Join(recipients, ","), "Content-Type": "application/pkcs7-mime"}, &out)
	return out, err
}

func pkgPath(id string) string {
	sender, rest, _ := strings.Cut(id, "/")
	return "/v1/packages/" + url.PathEscape(sender) + "/" + url.PathEscape(rest)
}

// Package returns a package's states.
func (c *Client) Package(ctx context.Context, id string) (api.PackageView, error) {
	var out api.PackageView
	err := c.do(ctx, "GET", pkgPath(id), nil, nil, &out)
	return out, err
}

// Fetch downloads an envelope addressed to us.
func (c *Client) Fetch(ctx context.Context, id string) ([]byte, error) {
	var b []byte
	err := c.do(ctx, "GET", pkgPath(id)+"/envelope", nil, nil, &b)
	return b, err
}

// Report tells the centre the outcome for us.
func (c *Client) Report(ctx context.Context, id string, r api.ReportRequest) error {
	b, _ := json.Marshal(r)
	return c.do(ctx, "POST", pkgPath(id)+"/report", b, nil, nil)
}

// Events returns our events after the cursor.
func (c *Client) Events(ctx context.Context, after int64) ([]api.EventView, error) {
	var out struct{ Events []api.EventView }
	err := c.do(ctx, "GET", "/v1/events?after="+strconv.FormatInt(after, 10), nil, nil, &out)
	return out.Events, err
}

// Announcement is an announcement of the centre.
type Announcement struct {
	Seq  int64     `json:"seq"`
	Text string    `json:"text"`
	At   time.Time `json:"at"`
}

// Announcements returns announcements after the cursor.
func (c *Client) Announcements(ctx context.Context, after int64) ([]Announcement, error) {
	var out struct{ Announcements []Announcement }
	err := c.do(ctx, "GET", "/v1/announcements?after="+strconv.FormatInt(after, 10), nil, nil, &out)
	return out.Announcements, err
}

// pushWait bounds the silence on the push channel: the centre pings every
// 30 s, so a connection quiet for longer is gone (NAT, sleep, cable).
const pushWait = 90 * time.Second

// Push holds the centre's push channel open from the cursor after and
// calls f with the events of each message, until the connection ends (the
// error says why) or ctx is done.
func (c *Client) Push(ctx context.Context, after int64, f func([]api.EventView)) error {
	u := "ws" + strings.TrimPrefix(c.base, "http") + "/v1/push?after=" + strconv.FormatInt(after, 10)
	d := websocket.Dialer{HandshakeTimeout: 30 * time.Second, Proxy: http.ProxyFromEnvironment}
	if t, ok := c.http.Transport.(*http.Transport); ok && t != nil {
		d.TLSClientConfig = t.TLSClientConfig
	}
	dial := func() (*websocket.Conn, *http.Response, error) {
		return d.DialContext(ctx, u, http.Header{"Authorization": {"Bearer " + c.bearer()}})
	}
	conn, resp, err := dial()
	if resp != nil && resp.StatusCode == http.StatusUnauthorized && c.relogin(ctx) {
		conn, resp, err = dial()
	}
	if err != nil {
		if resp != nil {
			return &CentreError{Status: resp.StatusCode, Code: http.StatusText(resp.StatusCode), Message: "push channel refused"}
		}
		return fmt.Errorf("%w: push: %w", ErrUnreachable, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	conn.SetReadLimit(16 << 20)
	_ = conn.SetReadDeadline(time.Now().Add(pushWait))
	conn.SetPingHandler(func(data string) error {
		_ = conn.SetReadDeadline(time.Now().Add(pushWait))
		return conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(10*time.Second))
	})
	for {
		var m struct{ Events []api.EventView }
		if err := conn.ReadJSON(&m); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("%w: push: %w", ErrUnreachable, err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(pushWait))
		f(m.Events)
	}
}
