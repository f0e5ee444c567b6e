package assist

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// ErrEgressDenied is returned (wrapped) for any request to a host other than the
// configured endpoint's.
var ErrEgressDenied = errors.New("egress denied: not the configured endpoint")

// ErrResponseTooLarge is returned (wrapped) when a response body exceeds
// Config.MaxResponseBytes.
var ErrResponseTooLarge = errors.New("response body too large")

// origin is scheme://host:port with the default port filled in and the host
// folded to lower case.
func origin(u *url.URL) string {
	port := u.Port()
	if port == "" {
		switch strings.ToLower(u.Scheme) {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	return strings.ToLower(u.Scheme) + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// egressGuard is the only RoundTripper of the assistant's HTTP client: it lets a
// request through only to the endpoint's origin, and bounds the response body.
type egressGuard struct {
	allowed  string // origin of the base URL
	next     http.RoundTripper
	maxBytes int64
}

func (g *egressGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL == nil || origin(req.URL) != g.allowed {
		if req.Body != nil {
			req.Body.Close()
		}
		target := "<nil>"
		if req.URL != nil {
			target = origin(req.URL)
		}
		return nil, fmt.Errorf("%w: request to %s, only %s is allowed", ErrEgressDenied, target, g.allowed)
	}
	resp, err := g.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitedBody{rc: resp.Body, left: g.maxBytes}
	return resp, nil
}

// limitedBody fails the read past its limit instead of silently truncating.
type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One more byte tells a body of exactly the limit from a longer one.
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			return 0, ErrResponseTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// newHTTPClient builds the client the SDK uses: no proxy from the environment
// (a proxy is another host), the egress guard, redirects only to the endpoint
// (the guard would refuse the others anyway), and transport-level timeouts.
func newHTTPClient(base *url.URL, requestTimeout time.Duration, maxBody int64) *http.Client {
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: requestTimeout,
		ExpectContinueTimeout: time.Second,
	}
	guard := &egressGuard{allowed: origin(base), next: tr, maxBytes: maxBody}
	return &http.Client{
		Transport: guard,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 3 {
				return errors.New("stopped after 3 redirects")
			}
			if origin(req.URL) != guard.allowed {
				return fmt.Errorf("%w: redirect to %s", ErrEgressDenied, origin(req.URL))
			}
			return nil
		},
	}
}
