package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var staticFS embed.FS

// ContentSecurityPolicy is the policy the console is written for; Handler sends
// it with every file.
const ContentSecurityPolicy = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// asset is one embedded file with what its response needs.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// contentTypes are the console's file types; the table is explicit so the
// answer does not depend on the host's mime database.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".mjs":  "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
	".json": "application/json",
	".txt":  "text/plain; charset=utf-8",
}

// static serves the embedded console.
type static struct {
	files    map[string]asset // by path without the leading slash
	modified time.Time
}

// Handler serves the console's static files: "/" and "/index.html" answer
// index.html, other paths their embedded file with its content type, a strong
// ETag (conditional requests answer 304) and "Cache-Control: no-cache" (the
// files are not fingerprinted, so browsers revalidate; a 304 costs one round
// trip). A path without an extension that names no file answers index.html
// too, so a reloaded deep link still opens the console; paths under /api/ and
// missing files with an extension answer 404. Only GET and HEAD are allowed.
// Mount it at "/" beside the API routes.
func Handler() http.Handler {
	h := &static{files: map[string]asset{}, modified: time.Now().UTC().Truncate(time.Second)}
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(fmt.Sprintf("web: opening embedded files: %v", err)) // the embed pattern guarantees the directory
	}
	walkErr := fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(sub, p)
		if err != nil {
			return fmt.Errorf("reading %s: %w", p, err)
		}
		sum := sha256.Sum256(body)
		ct, ok := contentTypes[path.Ext(p)]
		if !ok {
			ct = mime.TypeByExtension(path.Ext(p))
		}
		if ct == "" {
			ct = "application/octet-stream"
		}
		h.files[p] = asset{body: body, contentType: ct, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	if walkErr != nil {
		panic(fmt.Sprintf("web: reading embedded files: %v", walkErr))
	}
	return h
}

func (h *static) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
	if p == "api" || strings.HasPrefix(p, "api/") {
		http.NotFound(w, r)
		return
	}
	a, ok := h.files[p]
	if !ok {
		if p != "" && path.Ext(p) != "" {
			http.NotFound(w, r)
			return
		}
		a = h.files["index.html"]
	}
	hd := w.Header()
	hd.Set("Content-Type", a.contentType)
	hd.Set("ETag", a.etag)
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Content-Security-Policy", ContentSecurityPolicy)
	// ServeContent answers If-None-Match with 304, ranges and HEAD.
	http.ServeContent(w, r, "", h.modified, bytes.NewReader(a.body))
}

var _ http.Handler = (*static)(nil)
