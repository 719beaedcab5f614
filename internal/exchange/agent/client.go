package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cardbridge/cardbridge/authtoken"
	"github.com/cardbridge/cardbridge/internal/centre/api"
)

// Client speaks the centre's API (internal/centre/api) for one agency.
type Client struct {
	base    string // the centre's origin, e.g. https://centre.example.tw
	http    *http.Client
	session string
}

// NewClient returns a client of the centre at origin.
func NewClient(origin string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Path != "" && u.Path != "/" {
		return nil, fmt.Errorf("centre %q: an origin such as https://centre.example.tw", origin)
	}
	if hc == nil {
		hc = &http.Client{Timeout: 5 * time.Minute}
	}
	return &Client{base: strings.TrimSuffix(origin, "/"), http: hc}, nil
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
	return fmt.Sprintf("centre: %s (%d): %s", e.Code, e.Status, e.Message)
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

func (c *Client) do(ctx context.Context, method, path string, body io.Reader, hdr map[string]string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if c.session != "" {
		req.Header.Set("Authorization", "Bearer "+c.session)
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
func (c *Client) Login(ctx context.Context, sign func(origin, challenge string) (authtoken.Token, error)) (string, error) {
	var ch struct{ Challenge string }
	if err := c.do(ctx, "POST", "/v1/login/challenge", nil, nil, &ch); err != nil {
		return "", err
	}
	tok, err := sign(c.base, ch.Challenge)
	if err != nil {
		return "", err
	}
	b, _ := json.Marshal(api.LoginRequest{Challenge: ch.Challenge, Token: tok})
	var out struct{ Session, Agency string }
	if err := c.do(ctx, "POST", "/v1/login", bytes.NewReader(b), nil, &out); err != nil {
		return "", err
	}
	c.session = out.Session
	return out.Agency, nil
}

// Logout ends the session.
func (c *Client) Logout(ctx context.Context) error {
	if c.session == "" {
		return nil
	}
	err := c.do(ctx, "POST", "/v1/logout", nil, nil, nil)
	c.session = ""
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
	err := c.do(ctx, "POST", "/v1/packages", bytes.NewReader(envelope),
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
	return c.do(ctx, "POST", pkgPath(id)+"/report", bytes.NewReader(b), nil, nil)
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
