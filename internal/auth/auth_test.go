package auth

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// cheap are argon2 parameters that keep the tests fast.
var cheap = Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type auditRec struct {
	Actor, Action, Target string
	Details               string
}

type fixture struct {
	t     *testing.T
	svc   *Service
	mux   *http.ServeMux
	clock *clock
	dir   string
	logs  *bytes.Buffer
	reg   *prometheus.Registry

	mu     sync.Mutex
	audits []auditRec
}

const pw = "correct horse battery"

func newFixture(t *testing.T, mod ...func(*Options)) *fixture {
	t.Helper()
	f := &fixture{t: t, clock: &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}, dir: filepath.Join(t.TempDir(), "auth"),
		logs: &bytes.Buffer{}, reg: prometheus.NewRegistry()}
	var logMu sync.Mutex
	opts := Options{
		Dir: f.dir, Now: f.clock.Now, Argon2: cheap, Registerer: f.reg,
		Logger: slog.New(slog.NewTextHandler(lockedWriter{&logMu, f.logs}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Audit: func(_ context.Context, actor, action, target string, details any) {
			d, err := json.Marshal(details)
			if err != nil {
				t.Errorf("audit details do not encode: %v", err)
			}
			f.mu.Lock()
			f.audits = append(f.audits, auditRec{actor, action, target, string(d)})
			f.mu.Unlock()
		},
	}
	for _, m := range mod {
		m(&opts)
	}
	svc, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	f.svc = svc
	f.mux = http.NewServeMux()
	svc.Routes(f.mux)
	ok := func(w http.ResponseWriter, r *http.Request) {
		p, _ := PrincipalFrom(r.Context())
		writeJSON(w, http.StatusOK, map[string]string{"name": p.Name, "role": p.Role.String(), "method": p.Method})
	}
	f.mux.Handle("GET /api/v1/incidents", svc.Require(RoleViewer)(http.HandlerFunc(ok)))
	f.mux.Handle("PATCH /api/v1/incidents/{id}", svc.Require(RoleAnalyst)(http.HandlerFunc(ok)))
	f.mux.Handle("GET /api/v1/audit", svc.Require(RoleAdmin)(http.HandlerFunc(ok)))
	return f
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (f *fixture) addUser(name string, role Role) {
	f.t.Helper()
	ctx := WithPrincipal(context.Background(), Principal{Name: "cli:test"})
	if _, err := f.svc.AddUser(ctx, name, pw, role); err != nil {
		f.t.Fatal(err)
	}
}

// req is one request to the fixture's mux.
type req struct {
	method, path, body string
	cookie, csrf       string
	bearer             string
	remote             string
	header             map[string]string
	tls                bool
}

func (f *fixture) do(q req) *httptest.ResponseRecorder {
	f.t.Helper()
	r := httptest.NewRequest(q.method, "http://vigil.test"+q.path, strings.NewReader(q.body))
	if q.remote != "" {
		r.RemoteAddr = q.remote
	}
	if q.cookie != "" {
		r.AddCookie(&http.Cookie{Name: SessionCookie, Value: q.cookie})
	}
	if q.csrf != "" {
		r.Header.Set(CSRFHeader, q.csrf)
	}
	if q.bearer != "" {
		r.Header.Set("Authorization", "Bearer "+q.bearer)
	}
	for k, v := range q.header {
		r.Header.Set(k, v)
	}
	if q.tls {
		r.TLS = &tls.ConnectionState{}
	}
	w := httptest.NewRecorder()
	f.mux.ServeHTTP(w, r)
	return w
}

type loginResult struct {
	cookie *http.Cookie
	info   sessionInfo
}

func (f *fixture) login(user, password string) loginResult {
	f.t.Helper()
	w := f.do(req{method: "POST", path: "/api/v1/login", body: `{"username":"` + user + `","password":"` + password + `"}`})
	if w.Code != http.StatusOK {
		f.t.Fatalf("login %s: %d %s", user, w.Code, w.Body)
	}
	var res loginResult
	if err := json.Unmarshal(w.Body.Bytes(), &res.info); err != nil {
		f.t.Fatal(err)
	}
	for _, c := range w.Result().Cookies() {
		if c.Name == SessionCookie {
			res.cookie = c
		}
	}
	if res.cookie == nil {
		f.t.Fatal("login set no session cookie")
	}
	return res
}

func errorCode(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	var b errorBody
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
		t.Fatalf("error body %q: %v", w.Body, err)
	}
	return b.Error.Code
}

func TestRoleEnforcement(t *testing.T) {
	f := newFixture(t)
	for _, u := range []struct {
		n string
		r Role
	}{{"vera", RoleViewer}, {"ana", RoleAnalyst}, {"adam", RoleAdmin}} {
		f.addUser(u.n, u.r)
	}
	routes := []struct {
		method, path, body string
		min                Role
	}{
		{"GET", "/api/v1/incidents", "", RoleViewer},
		{"PATCH", "/api/v1/incidents/inc-1", `{}`, RoleAnalyst},
		{"GET", "/api/v1/audit", "", RoleAdmin},
		{"GET", "/api/v1/users", "", RoleAdmin},
		{"GET", "/api/v1/tokens", "", RoleAdmin},
		{"DELETE", "/api/v1/tokens/tok_none", "", RoleAdmin},
	}
	for _, user := range []struct {
		name string
		role Role
	}{{"vera", RoleViewer}, {"ana", RoleAnalyst}, {"adam", RoleAdmin}} {
		l := f.login(user.name, pw)
		for _, rt := range routes {
			t.Run(user.name+" "+rt.method+" "+rt.path, func(t *testing.T) {
				w := f.do(req{method: rt.method, path: rt.path, body: rt.body, cookie: l.cookie.Value, csrf: l.info.CSRFToken})
				switch {
				case !user.role.Allows(rt.min):
					if w.Code != http.StatusForbidden || errorCode(t, w) != CodeForbidden {
						t.Errorf("got %d %s, want 403 forbidden", w.Code, w.Body)
					}
				case rt.path == "/api/v1/tokens/tok_none":
					if w.Code != http.StatusNotFound || errorCode(t, w) != CodeNotFound {
						t.Errorf("got %d %s, want 404 not_found", w.Code, w.Body)
					}
				default:
					if w.Code != http.StatusOK {
						t.Errorf("got %d %s, want 200", w.Code, w.Body)
					}
				}
			})
		}
	}
	// No credentials: 401 everywhere.
	for _, rt := range routes {
		w := f.do(req{method: rt.method, path: rt.path, body: rt.body})
		if w.Code != http.StatusUnauthorized || errorCode(t, w) != CodeUnauthorized {
			t.Errorf("anonymous %s %s: got %d, want 401 unauthorized", rt.method, rt.path, w.Code)
		}
	}
	if got := testutil.ToFloat64(f.svc.rejected.WithLabelValues("forbidden")); got != 9 {
		t.Errorf("rejected{forbidden} = %v, want 9 (viewer 5, analyst 4)", got)
	}
}

func TestCSRF(t *testing.T) {
	f := newFixture(t)
	f.addUser("ana", RoleAnalyst)
	l := f.login("ana", pw)
	secret, _, err := f.svc.CreateToken(context.Background(), TokenSpec{Name: "ci", Role: RoleAnalyst, Scope: ScopeAPI})
	if err != nil {
		t.Fatal(err)
	}
	patch := func(q req) req { q.method, q.path, q.body = "PATCH", "/api/v1/incidents/inc-1", "{}"; return q }
	tests := []struct {
		name     string
		q        req
		code     int
		errCode  string
		wantName string
	}{
		{"missing token", patch(req{cookie: l.cookie.Value}), 403, CodeCSRF, ""},
		{"wrong token", patch(req{cookie: l.cookie.Value, csrf: "AAAA" + l.info.CSRFToken[4:]}), 403, CodeCSRF, ""},
		{"right token", patch(req{cookie: l.cookie.Value, csrf: l.info.CSRFToken}), 200, "", "ana"},
		{"right token, same-origin fetch", patch(req{cookie: l.cookie.Value, csrf: l.info.CSRFToken, header: map[string]string{"Sec-Fetch-Site": "same-origin"}}), 200, "", "ana"},
		{"right token, cross-site fetch", patch(req{cookie: l.cookie.Value, csrf: l.info.CSRFToken, header: map[string]string{"Sec-Fetch-Site": "cross-site"}}), 403, CodeCSRF, ""},
		{"right token, foreign Origin", patch(req{cookie: l.cookie.Value, csrf: l.info.CSRFToken, header: map[string]string{"Origin": "https://evil.example"}}), 403, CodeCSRF, ""},
		{"right token, own Origin", patch(req{cookie: l.cookie.Value, csrf: l.info.CSRFToken, header: map[string]string{"Origin": "http://vigil.test"}}), 200, "", "ana"},
		{"safe method needs no token", req{method: "GET", path: "/api/v1/incidents", cookie: l.cookie.Value}, 200, "", "ana"},
		{"bearer exempt", patch(req{bearer: secret}), 200, "", "token:ci"},
		{"another session's token", patch(req{cookie: l.cookie.Value, csrf: csrfToken(f.mustKey(), "other-session")}), 403, CodeCSRF, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := f.do(tt.q)
			if w.Code != tt.code {
				t.Fatalf("got %d %s, want %d", w.Code, w.Body, tt.code)
			}
			if tt.errCode != "" && errorCode(t, w) != tt.errCode {
				t.Errorf("code %s, want %s", errorCode(t, w), tt.errCode)
			}
			if tt.wantName != "" && !strings.Contains(w.Body.String(), `"name":"`+tt.wantName+`"`) {
				t.Errorf("principal: %s, want %s", w.Body, tt.wantName)
			}
		})
	}
	// Login itself refuses cross-site requests (login CSRF).
	w := f.do(req{method: "POST", path: "/api/v1/login", body: `{"username":"ana","password":"` + pw + `"}`, header: map[string]string{"Sec-Fetch-Site": "cross-site"}})
	if w.Code != 403 || errorCode(t, w) != CodeCSRF {
		t.Errorf("cross-site login: %d %s, want 403 csrf", w.Code, w.Body)
	}
}

func (f *fixture) mustKey() []byte {
	k, err := f.svc.sessionKey()
	if err != nil {
		f.t.Fatal(err)
	}
	return k
}

func TestLogin(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.SessionTTL = 2 * time.Hour })
	f.addUser("ana", RoleAnalyst)

	l := f.login("ana", pw)
	c := l.cookie
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure || c.MaxAge != 7200 {
		t.Errorf("cookie attributes: %+v", c)
	}
	if l.info.User != "ana" || l.info.Role != "analyst" || l.info.CSRFToken == "" {
		t.Errorf("login body: %+v", l.info)
	}
	// GET /session returns the same CSRF token.
	w := f.do(req{method: "GET", path: "/api/v1/session", cookie: c.Value})
	var info sessionInfo
	if err := json.Unmarshal(w.Body.Bytes(), &info); err != nil || info != l.info {
		t.Errorf("session: %d %s (%v), want %+v", w.Code, w.Body, err, l.info)
	}
	// TLS requests get a Secure cookie.
	w = f.do(req{method: "POST", path: "/api/v1/login", body: `{"username":"ana","password":"` + pw + `"}`, tls: true})
	if cs := w.Result().Cookies(); len(cs) != 1 || !cs[0].Secure {
		t.Errorf("login over TLS: cookies %+v, want one Secure", cs)
	}

	// Wrong password and unknown user: the same answer.
	bad := []string{`{"username":"ana","password":"wrong password!"}`, `{"username":"nobody","password":"wrong password!"}`}
	var bodies []string
	for _, b := range bad {
		w := f.do(req{method: "POST", path: "/api/v1/login", body: b, remote: "192.0.2.1:1000"})
		if w.Code != 401 || len(w.Result().Cookies()) != 0 {
			t.Errorf("%s: %d, cookies %v; want 401 and no cookie", b, w.Code, w.Result().Cookies())
		}
		bodies = append(bodies, w.Body.String())
	}
	if bodies[0] != bodies[1] || !strings.Contains(bodies[0], `"code":"unauthorized","message":"invalid username or password"`) {
		t.Errorf("failure bodies differ or are wrong:\n%s\n%s", bodies[0], bodies[1])
	}
	for _, b := range []string{`{"username":"ana"`, `{"username":"ana","password":"x","extra":1}`, `{"username":"ana","password":"x"} {}`} {
		if w := f.do(req{method: "POST", path: "/api/v1/login", body: b}); w.Code != 400 || errorCode(t, w) != CodeBadRequest {
			t.Errorf("%s: %d, want 400 bad_request", b, w.Code)
		}
	}
	if got := testutil.ToFloat64(f.svc.logins.WithLabelValues("success")); got != 2 {
		t.Errorf("logins{success} = %v, want 2", got)
	}
	if got := testutil.ToFloat64(f.svc.logins.WithLabelValues("failure")); got != 2 {
		t.Errorf("logins{failure} = %v, want 2", got)
	}
}

func TestLoginRateLimit(t *testing.T) {
	f := newFixture(t)
	f.addUser("ana", RoleAnalyst)
	f.addUser("bob", RoleViewer)
	login := func(user, password, remote string) *httptest.ResponseRecorder {
		return f.do(req{method: "POST", path: "/api/v1/login", body: `{"username":"` + user + `","password":"` + password + `"}`, remote: remote})
	}
	// Per client address: 5 failures, then 429 even for other users and the right password.
	for i := range LoginFailures {
		if w := login("u"+strconv.Itoa(i), "wrong password!", "192.0.2.7:1"); w.Code != 401 {
			t.Fatalf("failure %d: %d", i, w.Code)
		}
	}
	w := login("bob", pw, "192.0.2.7:2")
	if w.Code != 429 || errorCode(t, w) != CodeRateLimited {
		t.Fatalf("6th attempt from the address: %d %s, want 429", w.Code, w.Body)
	}
	ra, err := strconv.Atoi(w.Header().Get("Retry-After"))
	if err != nil || ra < 1 || ra > 12 {
		t.Errorf("Retry-After %q, want 1..12 s", w.Header().Get("Retry-After"))
	}
	// Another address is not limited.
	if w := login("bob", pw, "198.51.100.1:1"); w.Code != 200 {
		t.Errorf("other address: %d", w.Code)
	}
	// After Retry-After, one more attempt is allowed.
	f.clock.Add(time.Duration(ra) * time.Second)
	if w := login("bob", pw, "192.0.2.7:3"); w.Code != 200 {
		t.Errorf("after Retry-After: %d %s", w.Code, w.Body)
	}

	// Per username: failures from many addresses lock the name, not the others.
	for i := range LoginFailures {
		if w := login("ana", "wrong password!", "203.0.113."+strconv.Itoa(i+1)+":1"); w.Code != 401 {
			t.Fatalf("failure %d: %d", i, w.Code)
		}
	}
	if w := login("ana", pw, "203.0.113.99:1"); w.Code != 429 || w.Header().Get("Retry-After") == "" {
		t.Errorf("ana from a fresh address after 5 failures: %d, Retry-After %q; want 429", w.Code, w.Header().Get("Retry-After"))
	}
	if w := login("bob", pw, "203.0.113.99:1"); w.Code != 200 {
		t.Errorf("bob from that address: %d", w.Code)
	}
	// IPv6 clients are limited per /64.
	for i := range LoginFailures {
		login("x"+strconv.Itoa(i), "wrong password!", "[2001:db8:1:2::"+strconv.Itoa(i+1)+"]:1")
	}
	if w := login("bob", pw, "[2001:db8:1:2::ffff]:1"); w.Code != 429 {
		t.Errorf("same /64: %d, want 429", w.Code)
	}
	if got := testutil.ToFloat64(f.svc.logins.WithLabelValues("rate_limited")); got != 3 {
		t.Errorf("logins{rate_limited} = %v, want 3", got)
	}
	var limited int
	for _, a := range f.audits {
		if a.Action == "auth.login_failed" && strings.Contains(a.Details, "rate_limited") {
			limited++
		}
	}
	if limited != 3 {
		t.Errorf("%d rate-limited logins audited, want 3", limited)
	}
}

func TestLimiterBoundedMemory(t *testing.T) {
	l := newLimiter(5, time.Minute, 100)
	now := time.Unix(0, 0)
	for i := range 10_000 {
		l.fail("k"+strconv.Itoa(i), now)
	}
	if len(l.buckets) > 100 {
		t.Errorf("%d buckets, want at most 100", len(l.buckets))
	}
	if l.wait("k9999", now) != 0 {
		t.Error("one failure should not block")
	}
}

func TestSessionLifecycle(t *testing.T) {
	f := newFixture(t)
	f.addUser("ana", RoleAnalyst)
	f.addUser("adam", RoleAdmin)
	f.addUser("vera", RoleViewer)
	get := func(cookie string) int {
		return f.do(req{method: "GET", path: "/api/v1/incidents", cookie: cookie}).Code
	}
	patch := func(l loginResult) int {
		return f.do(req{method: "PATCH", path: "/api/v1/incidents/i", body: "{}", cookie: l.cookie.Value, csrf: l.info.CSRFToken}).Code
	}
	ctx := WithPrincipal(context.Background(), Principal{Name: "adam"})

	t.Run("expiry", func(t *testing.T) {
		l := f.login("vera", pw)
		f.clock.Add(DefaultSessionTTL - time.Second)
		if c := get(l.cookie.Value); c != 200 {
			t.Errorf("just before expiry: %d", c)
		}
		f.clock.Add(time.Second)
		if c := get(l.cookie.Value); c != 401 {
			t.Errorf("at expiry: %d, want 401", c)
		}
	})
	t.Run("tampered", func(t *testing.T) {
		l := f.login("vera", pw)
		parts := strings.Split(l.cookie.Value, ".")
		payload, err := b64url.DecodeString(parts[1])
		if err != nil {
			t.Fatal(err)
		}
		forged := strings.Replace(string(payload), `"u":"vera"`, `"u":"adam"`, 1)
		cases := map[string]string{
			"payload changed":  parts[0] + "." + b64url.EncodeToString([]byte(forged)) + "." + parts[2],
			"signature cut":    parts[0] + "." + parts[1] + "." + parts[2][:20],
			"no signature":     parts[0] + "." + parts[1],
			"other key":        mustSign(t, bytes.Repeat([]byte{1}, 32), session{User: "adam", Role: "admin", Issued: 1, Expires: 1 << 40, ID: "x"}),
			"empty":            "",
			"garbage":          "%%%.%%%.%%%",
			"mac of other msg": parts[0] + "." + b64url.EncodeToString([]byte(forged)) + "." + b64url.EncodeToString(macOf(f.mustKey(), "v1.x")),
		}
		for name, v := range cases {
			if c := get(v); c != 401 {
				t.Errorf("%s: %d, want 401", name, c)
			}
		}
		if c := get(l.cookie.Value); c != 200 {
			t.Errorf("original: %d", c)
		}
	})
	t.Run("logout revokes", func(t *testing.T) {
		l1, l2 := f.login("vera", pw), f.login("vera", pw)
		if w := f.do(req{method: "POST", path: "/api/v1/logout", cookie: l1.cookie.Value}); w.Code != 403 {
			t.Errorf("logout without CSRF token: %d, want 403", w.Code)
		}
		w := f.do(req{method: "POST", path: "/api/v1/logout", cookie: l1.cookie.Value, csrf: l1.info.CSRFToken})
		if w.Code != 204 {
			t.Fatalf("logout: %d %s", w.Code, w.Body)
		}
		if cs := w.Result().Cookies(); len(cs) != 1 || cs[0].MaxAge >= 0 {
			t.Errorf("logout cookies %+v, want the session cookie cleared", cs)
		}
		if c := get(l1.cookie.Value); c != 401 {
			t.Errorf("after logout: %d, want 401", c)
		}
		if c := get(l2.cookie.Value); c != 200 {
			t.Errorf("the other session: %d, want 200", c)
		}
		if w := f.do(req{method: "GET", path: "/api/v1/session", cookie: l1.cookie.Value}); w.Code != 401 {
			t.Errorf("GET session after logout: %d", w.Code)
		}
	})
	t.Run("role change applies at once", func(t *testing.T) {
		l := f.login("ana", pw)
		if c := patch(l); c != 200 {
			t.Fatalf("analyst PATCH: %d", c)
		}
		if err := f.svc.SetRole(ctx, "ana", RoleViewer); err != nil {
			t.Fatal(err)
		}
		if c := patch(l); c != 403 {
			t.Errorf("after demotion: %d, want 403", c)
		}
		if err := f.svc.SetRole(ctx, "ana", RoleAnalyst); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("password change ends sessions", func(t *testing.T) {
		l := f.login("ana", pw)
		f.clock.Add(time.Second)
		if err := f.svc.SetPassword(ctx, "ana", "another long password"); err != nil {
			t.Fatal(err)
		}
		if c := get(l.cookie.Value); c != 401 {
			t.Errorf("after password change: %d, want 401", c)
		}
		f.clock.Add(time.Second)
		l = f.login("ana", "another long password")
		if c := get(l.cookie.Value); c != 200 {
			t.Errorf("new session: %d", c)
		}
	})
	t.Run("deleted user", func(t *testing.T) {
		l := f.login("vera", pw)
		if c := get(l.cookie.Value); c != 200 {
			t.Fatalf("before: %d", c)
		}
		if err := f.svc.DeleteUser(ctx, "vera"); err != nil {
			t.Fatal(err)
		}
		if c := get(l.cookie.Value); c != 401 {
			t.Errorf("deleted user's session: %d, want 401", c)
		}
		if err := f.svc.DeleteUser(ctx, "adam"); !errors.Is(err, ErrLastAdmin) {
			t.Errorf("deleting the last admin: %v, want ErrLastAdmin", err)
		}
		if err := f.svc.SetRole(ctx, "adam", RoleViewer); !errors.Is(err, ErrLastAdmin) {
			t.Errorf("demoting the last admin: %v, want ErrLastAdmin", err)
		}
	})
}

func mustSign(t *testing.T, key []byte, s session) string {
	t.Helper()
	c, err := signSession(key, s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTokens(t *testing.T) {
	f := newFixture(t)
	ctx := WithPrincipal(context.Background(), Principal{Name: "cli:test"})
	apiTok, apiMeta, err := f.svc.CreateToken(ctx, TokenSpec{Name: "grafana", Role: RoleViewer, Scope: ScopeAPI})
	if err != nil {
		t.Fatal(err)
	}
	ingTok, _, err := f.svc.CreateToken(ctx, TokenSpec{Name: "fluent-bit", Scope: ScopeIngest})
	if err != nil {
		t.Fatal(err)
	}
	expTok, _, err := f.svc.CreateToken(ctx, TokenSpec{Name: "short", Role: RoleAdmin, Scope: ScopeAPI, Expires: f.clock.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(apiTok, "vgl_") || len(apiTok) != 47 {
		t.Errorf("token %q: want vgl_ + 43 characters", apiTok)
	}
	data, err := os.ReadFile(filepath.Join(f.dir, UsersFile))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte(apiTok[4:])) || !bytes.Contains(data, []byte(tokenHash(apiTok))) {
		t.Error("users.json must hold the token's SHA-256, never the token")
	}
	get := func(tok string) *httptest.ResponseRecorder {
		return f.do(req{method: "GET", path: "/api/v1/incidents", bearer: tok})
	}
	tests := []struct {
		name, tok string
		code      int
		ingest    bool
	}{
		{"api token on the API", apiTok, 200, false},
		{"ingest token on the API", ingTok, 403, true},
		{"expiring api token", expTok, 200, false},
		{"unknown token", "vgl_" + strings.Repeat("A", 43), 401, false},
		{"malformed", "nope", 401, false},
	}
	for _, tt := range tests {
		if w := get(tt.tok); w.Code != tt.code {
			t.Errorf("%s: %d %s, want %d", tt.name, w.Code, w.Body, tt.code)
		}
		name, ok := f.svc.CheckIngestToken(context.Background(), tt.tok)
		if ok != tt.ingest || (ok && name != "fluent-bit") {
			t.Errorf("%s: CheckIngestToken = %q, %v; want ok=%v", tt.name, name, ok, tt.ingest)
		}
	}
	if w := f.do(req{method: "GET", path: "/api/v1/incidents", header: map[string]string{"Authorization": "Basic " + apiTok}}); w.Code != 401 {
		t.Errorf("Basic scheme: %d", w.Code)
	}
	if w := get(apiTok); !strings.Contains(w.Body.String(), `"name":"token:grafana"`) || !strings.Contains(w.Body.String(), `"method":"token"`) {
		t.Errorf("principal: %s", w.Body)
	}
	// A viewer token cannot use admin routes.
	if w := f.do(req{method: "GET", path: "/api/v1/users", bearer: apiTok}); w.Code != 403 {
		t.Errorf("viewer token on /users: %d", w.Code)
	}
	f.clock.Add(time.Hour)
	if w := get(expTok); w.Code != 401 {
		t.Errorf("expired token: %d, want 401", w.Code)
	}
	if err := f.svc.RevokeToken(ctx, apiMeta.ID); err != nil {
		t.Fatal(err)
	}
	if w := get(apiTok); w.Code != 401 {
		t.Errorf("revoked token: %d, want 401", w.Code)
	}
	if err := f.svc.RevokeToken(ctx, apiMeta.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoking twice: %v", err)
	}
	if _, _, err := f.svc.CreateToken(ctx, TokenSpec{Name: "fluent-bit", Scope: ScopeIngest}); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate name: %v", err)
	}
	for _, spec := range []TokenSpec{{Name: "x", Scope: "all"}, {Name: "bad name", Scope: ScopeAPI}, {Name: "old", Scope: ScopeAPI, Expires: f.clock.Now().Add(-time.Second)}} {
		if _, _, err := f.svc.CreateToken(ctx, spec); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v, want ErrInvalid", spec, err)
		}
	}
	if got := testutil.ToFloat64(f.svc.rejected.WithLabelValues("wrong_scope")); got != 3 {
		t.Errorf("rejected{wrong_scope} = %v, want 3 (the ingest token on the API, two api tokens at ingest)", got)
	}
}

func TestReload(t *testing.T) {
	a := newFixture(t)
	b, err := Open(Options{Dir: a.dir, Argon2: cheap, Now: a.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// a has stat'ed the (absent) file at Open; b writes now.
	secret, _, err := b.CreateToken(ctx, TokenSpec{Name: "late", Scope: ScopeIngest})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := a.svc.CheckIngestToken(ctx, secret); ok {
		t.Error("a token made elsewhere was seen before the reload interval")
	}
	a.clock.Add(ReloadInterval)
	if name, ok := a.svc.CheckIngestToken(ctx, secret); !ok || name != "late" {
		t.Errorf("after the interval: %q %v", name, ok)
	}
	// A user added by the CLI (b) logs in at once through a (login refreshes on its own interval).
	if _, err := b.AddUser(ctx, "carol", pw, RoleViewer); err != nil {
		t.Fatal(err)
	}
	a.clock.Add(ReloadInterval)
	l := a.login("carol", pw)
	// Deleting in b ends the session in a after the interval.
	if err := b.DeleteUser(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	a.clock.Add(ReloadInterval)
	if w := a.do(req{method: "GET", path: "/api/v1/incidents", cookie: l.cookie.Value}); w.Code != 401 {
		t.Errorf("session of a user deleted elsewhere: %d", w.Code)
	}
	// A broken file keeps the last good state.
	if _, err := b.AddUser(ctx, "dora", pw, RoleViewer); err != nil {
		t.Fatal(err)
	}
	a.clock.Add(ReloadInterval)
	if got := len(a.svc.Users(ctx)); got != 1 {
		t.Fatalf("users: %d, want 1", got)
	}
	if err := os.WriteFile(filepath.Join(a.dir, UsersFile), []byte(`{"version":1,"users":[{"name":"x"`), 0o600); err != nil {
		t.Fatal(err)
	}
	a.clock.Add(ReloadInterval)
	if got := a.svc.Users(ctx); len(got) != 1 || got[0].Name != "dora" {
		t.Errorf("after a broken write: %+v, want the last good users", got)
	}
	if !strings.Contains(a.logs.String(), "keeping the previous users") {
		t.Error("the broken file was not logged")
	}
}

func TestFileModes(t *testing.T) {
	f := newFixture(t)
	f.addUser("ana", RoleAnalyst)
	f.login("ana", pw)
	for path, want := range map[string]os.FileMode{f.dir: 0o700, filepath.Join(f.dir, UsersFile): 0o600, filepath.Join(f.dir, SessionKeyFile): 0o600} {
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", path, info.Mode().Perm(), want)
		}
	}
	key, err := os.ReadFile(filepath.Join(f.dir, SessionKeyFile))
	if err != nil || len(key) != 32 {
		t.Errorf("session key: %d bytes, %v", len(key), err)
	}
	// The key survives a restart: a session stays valid in a new Service.
	l := f.login("ana", pw)
	g, err := Open(Options{Dir: f.dir, Argon2: cheap, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := g.Authenticate(httptestRequestWithCookie(l.cookie.Value)); err != nil || p.Name != "ana" || p.Method != "session" {
		t.Errorf("after restart: %+v %v", p, err)
	}
	if err := os.WriteFile(filepath.Join(f.dir, SessionKeyFile), []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadOrCreateKey(filepath.Join(f.dir, SessionKeyFile)); err == nil || !strings.Contains(err.Error(), "has 5 bytes") {
		t.Errorf("short key: %v", err)
	}
}

func httptestRequestWithCookie(v string) *http.Request {
	r := httptest.NewRequest("GET", "/", nil)
	r.AddCookie(&http.Cookie{Name: SessionCookie, Value: v})
	return r
}

func TestManagementAPI(t *testing.T) {
	f := newFixture(t)
	f.addUser("adam", RoleAdmin)
	l := f.login("adam", pw)
	as := func(method, path, body string) *httptest.ResponseRecorder {
		return f.do(req{method: method, path: path, body: body, cookie: l.cookie.Value, csrf: l.info.CSRFToken})
	}
	steps := []struct {
		method, path, body string
		code               int
		want               string
	}{
		{"POST", "/api/v1/users", `{"name":"bea","password":"` + pw + `","role":"analyst"}`, 201, `"name":"bea","role":"analyst"`},
		{"POST", "/api/v1/users", `{"name":"bea","password":"` + pw + `","role":"analyst"}`, 409, `"code":"conflict"`},
		{"POST", "/api/v1/users", `{"name":"cy","password":"short","role":"viewer"}`, 400, "at least 12"},
		{"POST", "/api/v1/users", `{"name":"cy","password":"` + pw + `","role":"root"}`, 400, "unknown role"},
		{"POST", "/api/v1/users", `{"name":"c y","password":"` + pw + `","role":"viewer"}`, 400, "only letters"},
		{"POST", "/api/v1/users", `{"name":"cy","password":"` + pw + `"}`, 400, "required"},
		{"GET", "/api/v1/users", "", 200, `"name":"bea"`},
		{"PATCH", "/api/v1/users/bea", `{"role":"viewer"}`, 200, `"role":"viewer"`},
		{"PATCH", "/api/v1/users/bea", `{"password":"a new long password"}`, 200, `"name":"bea"`},
		{"PATCH", "/api/v1/users/bea", `{}`, 400, "give role or password"},
		{"PATCH", "/api/v1/users/zed", `{"role":"viewer"}`, 404, `"code":"not_found"`},
		{"PATCH", "/api/v1/users/adam", `{"role":"viewer"}`, 409, "no admin"},
		{"DELETE", "/api/v1/users/adam", "", 409, "no admin"},
		{"DELETE", "/api/v1/users/bea", "", 204, ""},
		{"DELETE", "/api/v1/users/bea", "", 404, "not found"},
		{"POST", "/api/v1/tokens", `{"name":"fb","scope":"ingest","expires":"90d"}`, 201, `"token":"vgl_`},
		{"POST", "/api/v1/tokens", `{"name":"gr","scope":"api","role":"analyst","expires":"2027-01-01T00:00:00Z"}`, 201, `"expires":"2027-01-01T00:00:00Z"`},
		{"POST", "/api/v1/tokens", `{"name":"x","scope":"api","expires":"soon"}`, 400, "expires"},
		{"POST", "/api/v1/tokens", `{"name":"x","scope":"both"}`, 400, "scope"},
		{"GET", "/api/v1/tokens", "", 200, `"name":"fb"`},
		{"DELETE", "/api/v1/tokens/tok_nope", "", 404, "not found"},
	}
	for _, s := range steps {
		w := as(s.method, s.path, s.body)
		if w.Code != s.code || !strings.Contains(w.Body.String(), s.want) {
			t.Errorf("%s %s %s: %d %s, want %d with %q", s.method, s.path, s.body, w.Code, w.Body, s.code, s.want)
		}
	}
	w := as("GET", "/api/v1/tokens", "")
	var tl list[Token]
	if err := json.Unmarshal(w.Body.Bytes(), &tl); err != nil || len(tl.Items) != 2 {
		t.Fatalf("tokens: %s %v", w.Body, err)
	}
	if strings.Contains(w.Body.String(), "vgl_") || strings.Contains(w.Body.String(), "sha256") {
		t.Errorf("token list shows secrets or hashes: %s", w.Body)
	}
	if tl.Items[0].Expires != f.clock.Now().Add(90*24*time.Hour).UTC() {
		t.Errorf("90d expiry: %v", tl.Items[0].Expires)
	}
	if w := as("DELETE", "/api/v1/tokens/"+tl.Items[0].ID, ""); w.Code != 204 {
		t.Errorf("revoke: %d", w.Code)
	}
	// Audit: every change with the admin as actor.
	var got []string
	for _, a := range f.audits {
		if a.Actor == "adam" && a.Action != "auth.login" {
			got = append(got, a.Action+" "+a.Target)
		}
	}
	want := []string{"user.add user:bea", "user.role user:bea", "user.password user:bea", "user.delete user:bea",
		"token.create token:" + tl.Items[0].ID, "token.create token:" + tl.Items[1].ID, "token.revoke token:" + tl.Items[0].ID}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestSecretsNeverLogged captures everything the service logs and audits during
// logins, token use and management, and looks for any secret in it.
func TestSecretsNeverLogged(t *testing.T) {
	f := newFixture(t)
	f.addUser("ana", RoleAdmin)
	l := f.login("ana", pw)
	f.do(req{method: "POST", path: "/api/v1/login", body: `{"username":"ana","password":"the wrong password"}`})
	f.do(req{method: "POST", path: "/api/v1/login", body: `{"username":"the wrong password","password":"x"}`}) // password typed as the name
	w := f.do(req{method: "POST", path: "/api/v1/tokens", body: `{"name":"fb","scope":"ingest"}`, cookie: l.cookie.Value, csrf: l.info.CSRFToken})
	var ct createdToken
	if err := json.Unmarshal(w.Body.Bytes(), &ct); err != nil || ct.Secret == "" {
		t.Fatalf("token: %s %v", w.Body, err)
	}
	f.svc.CheckIngestToken(context.Background(), ct.Secret)
	f.do(req{method: "GET", path: "/api/v1/incidents", bearer: ct.Secret})
	f.do(req{method: "GET", path: "/api/v1/incidents", cookie: l.cookie.Value + "x"})
	f.do(req{method: "PATCH", path: "/api/v1/users/ana", body: `{"password":"yet another password"}`, cookie: l.cookie.Value, csrf: l.info.CSRFToken})
	f.do(req{method: "POST", path: "/api/v1/logout", cookie: l.cookie.Value, csrf: l.info.CSRFToken})

	var audits bytes.Buffer
	for _, a := range f.audits {
		audits.WriteString(a.Actor + " " + a.Action + " " + a.Target + " " + a.Details + "\n")
	}
	logs := f.logs.String()
	if !strings.Contains(logs, "login failed") || !strings.Contains(audits.String(), "auth.logout") {
		t.Fatalf("nothing captured?\n%s\n%s", logs, audits.String())
	}
	for _, secret := range []string{pw, "the wrong password", "yet another password", ct.Secret, ct.Secret[4:20], l.cookie.Value, l.cookie.Value[:30], l.info.CSRFToken} {
		if strings.Contains(logs, secret) {
			t.Errorf("log holds a secret %q:\n%s", secret, logs)
		}
		if strings.Contains(audits.String(), secret) {
			t.Errorf("audit holds a secret %q:\n%s", secret, audits.String())
		}
	}
}

func TestSecureHeaders(t *testing.T) {
	for _, tlsOn := range []bool{false, true} {
		w := httptest.NewRecorder()
		SecureHeaders(http.NotFoundHandler(), tlsOn).ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
		h := w.Header()
		if !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") || h.Get("X-Content-Type-Options") != "nosniff" ||
			h.Get("Referrer-Policy") != "no-referrer" || h.Get("X-Frame-Options") != "DENY" || h.Get("Cross-Origin-Opener-Policy") != "same-origin" {
			t.Errorf("tls=%v: headers %v", tlsOn, h)
		}
		if (h.Get("Strict-Transport-Security") != "") != tlsOn {
			t.Errorf("tls=%v: HSTS %q", tlsOn, h.Get("Strict-Transport-Security"))
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		o    Options
		want string
	}{
		{Options{}, "no directory"},
		{Options{Dir: "d", SessionTTL: time.Second}, "session TTL"},
		{Options{Dir: "d", Argon2: Params{Memory: 1, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}}, "memory"},
		{Options{Dir: "d", Argon2: Params{Memory: 64, Time: 0, Threads: 1, SaltLen: 16, KeyLen: 32}}, "time"},
		{Options{Dir: "d", Argon2: Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 4, KeyLen: 32}}, "salt"},
	}
	for _, tt := range tests {
		err := tt.o.withDefaults().Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: %v, want %q", tt.o, err, tt.want)
		}
	}
	if err := (Options{Dir: "d"}).withDefaults().Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

func TestRehashAtLogin(t *testing.T) {
	f := newFixture(t)
	f.addUser("ana", RoleAnalyst)
	l := f.login("ana", pw)
	// The server now runs with stronger parameters: ana's next login re-hashes.
	stronger := Params{Memory: 128, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
	g, err := Open(Options{Dir: f.dir, Argon2: stronger, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	g.Routes(mux)
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("POST", "/api/v1/login", strings.NewReader(`{"username":"ana","password":"`+pw+`"}`)))
	if w.Code != 200 {
		t.Fatalf("login: %d %s", w.Code, w.Body)
	}
	data, err := os.ReadFile(filepath.Join(f.dir, UsersFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "$argon2id$v=19$m=128,t=2,p=1$") {
		t.Errorf("hash not upgraded:\n%s", data)
	}
	// The earlier session goes on, and the password still works.
	if p, err := g.Authenticate(httptestRequestWithCookie(l.cookie.Value)); err != nil || p.Name != "ana" {
		t.Errorf("earlier session: %+v %v", p, err)
	}
	w = httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("POST", "/api/v1/login", strings.NewReader(`{"username":"ana","password":"`+pw+`"}`)))
	if w.Code != 200 {
		t.Errorf("second login: %d", w.Code)
	}
}
