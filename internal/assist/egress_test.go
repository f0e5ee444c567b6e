package assist

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestEgressGuard(t *testing.T) {
	var hits atomic.Int32
	allowed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) }))
	defer allowed.Close()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hits.Add(1) }))
	defer other.Close()
	base, _ := url.Parse(allowed.URL + "/v1")
	c := newHTTPClient(base, time.Second, 1<<10)
	au, _ := url.Parse(allowed.URL)
	tests := []struct {
		url string
		ok  bool
	}{
		{allowed.URL + "/v1/chat/completions", true},
		{allowed.URL + "/anything/else", true},
		{strings.ToUpper(au.Scheme) + "://" + au.Host + "/v1", true},
		{other.URL + "/v1/chat/completions", false},
		{"http://localhost:" + au.Port() + "/v1", false}, // same server, other name
		{"https://" + au.Host + "/v1", false},            // other scheme
		{"http://" + au.Hostname() + "/v1", false},       // other port
		{"http://api.openai.com/v1", false},
	}
	for _, tc := range tests {
		resp, err := c.Get(tc.url)
		if resp != nil {
			resp.Body.Close()
		}
		if tc.ok && err != nil {
			t.Errorf("%s: %v", tc.url, err)
		}
		if !tc.ok && !errors.Is(err, ErrEgressDenied) {
			t.Errorf("%s: err = %v, want ErrEgressDenied", tc.url, err)
		}
	}
	if hits.Load() != 0 {
		t.Errorf("other host reached %d times", hits.Load())
	}
}
