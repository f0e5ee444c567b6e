package web

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, path string, hdr map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func TestHandlerFiles(t *testing.T) {
	h := Handler()
	index, err := staticFS.ReadFile("static/index.html")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path, method string
		status       int
		ctype        string
		bodyHas      string
	}{
		{"/", "GET", 200, "text/html; charset=utf-8", `<script type="module" src="app.js">`},
		{"/index.html", "GET", 200, "text/html; charset=utf-8", "<title>Vigil console</title>"},
		{"/app.js", "GET", 200, "text/javascript; charset=utf-8", "import * as api from './api.js'"},
		{"/app.css", "GET", 200, "text/css; charset=utf-8", "prefers-color-scheme: dark"},
		{"/favicon.svg", "GET", 200, "image/svg+xml", "<svg"},
		{"/incidents", "GET", 200, "text/html; charset=utf-8", "<title>Vigil console</title>"}, // deep link without extension
		{"/./app.js", "GET", 200, "text/javascript; charset=utf-8", "import"},
		{"/../../etc/passwd", "GET", 200, "text/html; charset=utf-8", "<title>Vigil console</title>"}, // cleaned: never outside the embedded files
		{"/../app.js", "GET", 200, "text/javascript; charset=utf-8", "import"},
		{"/missing.js", "GET", 404, "", ""},
		{"/api/v1/incidents", "GET", 404, "", ""},
		{"/api", "GET", 404, "", ""},
		{"/", "POST", 405, "", ""},
		{"/app.js", "HEAD", 200, "text/javascript; charset=utf-8", ""},
	}
	for _, tc := range tests {
		t.Run(tc.method+tc.path, func(t *testing.T) {
			res := get(t, h, tc.method, tc.path, nil)
			defer res.Body.Close()
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", res.StatusCode, tc.status)
			}
			if tc.status != 200 {
				if strings.Contains(string(body), "<title>Vigil console</title>") {
					t.Errorf("error answer is the console's index.html")
				}
				return
			}
			if got := res.Header.Get("Content-Type"); got != tc.ctype {
				t.Errorf("Content-Type %q, want %q", got, tc.ctype)
			}
			if !strings.Contains(string(body), tc.bodyHas) {
				t.Errorf("body lacks %q", tc.bodyHas)
			}
			if tc.method == "HEAD" && len(body) != 0 {
				t.Errorf("HEAD answered %d bytes of body", len(body))
			}
			for k, want := range map[string]string{
				"Cache-Control":           "no-cache",
				"X-Content-Type-Options":  "nosniff",
				"Content-Security-Policy": ContentSecurityPolicy,
			} {
				if got := res.Header.Get(k); got != want {
					t.Errorf("%s %q, want %q", k, got, want)
				}
			}
			if tc.path == "/" && string(body) != string(index) {
				t.Errorf("/ is not index.html")
			}
		})
	}
}

func TestHandlerETag(t *testing.T) {
	h := Handler()
	res := get(t, h, "GET", "/app.js", nil)
	res.Body.Close()
	etag := res.Header.Get("ETag")
	if !regexp.MustCompile(`^"[0-9a-f]{24}"$`).MatchString(etag) {
		t.Fatalf("ETag %q is not a strong hash tag", etag)
	}
	other := get(t, h, "GET", "/app.css", nil)
	other.Body.Close()
	if other.Header.Get("ETag") == etag {
		t.Errorf("two files share the ETag %s", etag)
	}
	res = get(t, h, "GET", "/app.js", map[string]string{"If-None-Match": etag})
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusNotModified || len(body) != 0 {
		t.Errorf("If-None-Match with the current tag: status %d, %d bytes; want 304, none", res.StatusCode, len(body))
	}
	res = get(t, h, "GET", "/app.js", map[string]string{"If-None-Match": `"stale"`})
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("If-None-Match with a stale tag: status %d, want 200", res.StatusCode)
	}
}

// TestCSPCompatible checks the rule the console's Content-Security-Policy
// ("default-src 'self'") imposes: no inline script, no inline event handler, no
// style element or attribute, nothing loaded from another origin, no eval.
func TestCSPCompatible(t *testing.T) {
	inlineScript := regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script>`)
	checks := []struct {
		name string
		re   *regexp.Regexp
		in   string // file extension the check applies to
	}{
		{"inline event handler attribute", regexp.MustCompile(`(?i)<[^>]+\son[a-z]+\s*=`), ".html"},
		{"style element", regexp.MustCompile(`(?i)<style\b`), ".html"},
		{"style attribute", regexp.MustCompile(`(?i)<[^>]+\sstyle\s*=`), ".html"},
		{"javascript: URL", regexp.MustCompile(`(?i)javascript:`), ".html"},
		{"external URL", regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//`), ".html"},
		{"external import", regexp.MustCompile(`(?m)^\s*import\b[^'"]*['"](https?:)?//`), ".js"},
		{"eval", regexp.MustCompile(`\beval\s*\(|new Function\s*\(`), ".js"},
		{"innerHTML", regexp.MustCompile(`\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML`), ".js"},
		{"style attribute set from script", regexp.MustCompile(`setAttribute\(\s*['"]style['"]`), ".js"},
		{"CSS from another origin", regexp.MustCompile(`(?i)(@import|url\()\s*['"]?(https?:)?//`), ".css"},
	}
	files := 0
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		src := string(b)
		if strings.HasSuffix(p, ".html") {
			for _, m := range inlineScript.FindAllStringSubmatch(src, -1) {
				if !strings.Contains(m[1], "src=") || strings.TrimSpace(m[2]) != "" {
					t.Errorf("%s: inline script %q", p, m[0])
				}
			}
		}
		for _, c := range checks {
			if !strings.HasSuffix(p, c.in) {
				continue
			}
			if loc := c.re.FindStringIndex(src); loc != nil {
				t.Errorf("%s: %s at byte %d: %q", p, c.name, loc[0], src[loc[0]:min(len(src), loc[1]+20)])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 8 {
		t.Errorf("checked %d files, want the whole console", files)
	}
}

// FuzzHandler: any request path answers 200 with an embedded file (index.html
// for paths without an extension), or 404; never a panic, never another body.
func FuzzHandler(f *testing.F) {
	for _, p := range []string{"/", "/app.js", "/../app.js", "/api/v1/x", "/a/b.css", "//x", "/%2e%2e/app.js", "/index.html/", "/\x00"} {
		f.Add(p)
	}
	h := Handler()
	bodies := map[string]bool{}
	if err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(p)
		bodies[string(b)] = true
		return err
	}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, p string) {
		req, err := http.NewRequest(http.MethodGet, "http://vigil.test/", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.URL.Path = p
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK:
			if !bodies[rec.Body.String()] {
				t.Fatalf("path %q answered a body that is no embedded file", p)
			}
		case http.StatusNotFound:
		default:
			t.Fatalf("path %q: status %d", p, rec.Code)
		}
	})
}
