package app

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/auth"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/store/postgres"
	"github.com/vigilsec/vigil/internal/store/postgres/pgtest"
	"github.com/vigilsec/vigil/internal/store/sqlite"
)

func runCLIStdin(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(context.Background(), Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb}, args)
	return code, out.String(), errb.String()
}

// TestUsersTokensCLI runs the users and tokens commands against one data
// directory holding a store, then checks what a server opening that directory
// accepts and what the audit log recorded.
func TestUsersTokensCLI(t *testing.T) {
	t.Setenv("USER", "ops")
	dir := t.TempDir()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	const pw = "a long enough password"
	steps := []struct {
		stdin string
		args  []string
		code  int
		want  string // substring of stdout+stderr
	}{
		{"", []string{"users"}, ExitUsage, "no subcommand"},
		{"", []string{"users", "--help"}, ExitOK, "--password-stdin"},
		{"", []string{"users", "nope"}, ExitUsage, `unknown subcommand "nope"`},
		{pw + "\n", []string{"users", "add", "--data-dir", dir, "--name", "root", "--role", "admin", "--password-stdin"}, ExitOK, "user root added with role admin"},
		{pw + "\r\n", []string{"users", "add", "--data-dir", dir, "--name", "alice", "--role", "analyst", "--password-stdin"}, ExitOK, "added"},
		{pw + "\n", []string{"users", "add", "--data-dir", dir, "--name", "alice", "--role", "analyst", "--password-stdin"}, ExitFailure, "already exists"},
		{"short\n", []string{"users", "add", "--data-dir", dir, "--name", "bob", "--role", "viewer", "--password-stdin"}, ExitUsage, "at least 12"},
		{pw, []string{"users", "add", "--data-dir", dir, "--name", "bob", "--role", "root", "--password-stdin"}, ExitUsage, "unknown role"},
		{pw, []string{"users", "add", "--data-dir", dir, "--name", "bob", "--role", "viewer"}, ExitUsage, "--password-stdin"},
		{pw, []string{"users", "add", "--name", "bob", "--role", "viewer", "--password-stdin"}, ExitUsage, "--data-dir or --store is required"},
		{"", []string{"users", "list", "--data-dir", dir}, ExitOK, "alice  analyst"},
		{"", []string{"users", "role", "--data-dir", dir, "--name", "alice", "--role", "viewer"}, ExitOK, "alice is now viewer"},
		{"", []string{"users", "role", "--data-dir", dir, "--name", "root", "--role", "viewer"}, ExitFailure, "would leave no admin"},
		{"new password 1234\n", []string{"users", "passwd", "--data-dir", dir, "--name", "alice", "--password-stdin"}, ExitOK, "password of alice changed"},
		{"new password 1234\n", []string{"users", "passwd", "--data-dir", dir, "--name", "zed", "--password-stdin"}, ExitFailure, "not found"},
		{"", []string{"users", "list", "--data-dir", dir, "--output", "json"}, ExitOK, `"role": "viewer"`},
		{"", []string{"tokens", "create", "--data-dir", dir, "--name", "fluent-bit", "--scope", "ingest", "--expires", "90d"}, ExitOK, "scope ingest"},
		{"", []string{"tokens", "create", "--data-dir", dir, "--name", "grafana", "--scope", "api", "--role", "analyst"}, ExitOK, "never expires"},
		{"", []string{"tokens", "create", "--data-dir", dir, "--name", "x", "--scope", "all"}, ExitUsage, "scope"},
		{"", []string{"tokens", "create", "--data-dir", dir, "--name", "x", "--scope", "api", "--expires", "soon"}, ExitUsage, "--expires"},
		{"", []string{"tokens", "list", "--data-dir", dir}, ExitOK, "fluent-bit"},
		{"", []string{"tokens", "revoke", "--data-dir", dir, "--id", "tok_nope"}, ExitFailure, "not found"},
		{"", []string{"users", "del", "--data-dir", dir, "bob"}, ExitFailure, "not found"},
	}
	var ingestTok, apiTok string
	for _, s := range steps {
		code, out, errs := runCLIStdin(t, s.stdin, s.args...)
		if code != s.code || !strings.Contains(out+errs, s.want) {
			t.Errorf("vigil %v: exit %d (want %d), output lacks %q:\n%s%s", s.args, code, s.code, s.want, out, errs)
		}
		if len(s.args) > 1 && s.args[1] == "create" && code == 0 {
			tok := strings.TrimSpace(out)
			if !strings.HasPrefix(tok, "vgl_") || strings.Contains(tok, "\n") {
				t.Errorf("create printed %q, want the token alone", out)
			}
			if s.args[5] == "fluent-bit" {
				ingestTok = tok
			} else {
				apiTok = tok
			}
		}
	}
	for _, p := range []string{"auth/users.json"} {
		if info, err := os.Stat(filepath.Join(dir, p)); err != nil || info.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", p, info, err)
		}
	}

	// A server opening the directory sees what the CLI did.
	svc, err := auth.Open(auth.Options{Dir: filepath.Join(dir, "auth")})
	if err != nil {
		t.Fatal(err)
	}
	if name, ok := svc.CheckIngestToken(ctx, ingestTok); !ok || name != "fluent-bit" {
		t.Errorf("ingest token: %q %v", name, ok)
	}
	if _, ok := svc.CheckIngestToken(ctx, apiTok); ok {
		t.Error("api token accepted for ingest")
	}
	r := httptest.NewRequest("GET", "/api/v1/incidents", nil)
	r.Header.Set("Authorization", "Bearer "+apiTok)
	if p, err := svc.Authenticate(r); err != nil || p.Name != "token:grafana" || p.Role != auth.RoleAnalyst {
		t.Errorf("api token: %+v %v", p, err)
	}
	mux := http.NewServeMux()
	svc.Routes(mux)
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("POST", "/api/v1/login", strings.NewReader(`{"username":"alice","password":"new password 1234"}`)))
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"role":"viewer"`) {
		t.Errorf("alice's login with the new password: %d %s", w.Code, w.Body)
	}

	// Revoke and delete, then the audit log.
	var id string
	for _, tok := range svc.Tokens(ctx) {
		if tok.Name == "grafana" {
			id = tok.ID
		}
	}
	if code, out, errs := runCLI(t, "tokens", "revoke", "--data-dir", dir, id); code != 0 || !strings.Contains(out, "revoked") {
		t.Errorf("revoke: %d %s%s", code, out, errs)
	}
	if code, out, errs := runCLI(t, "users", "del", "--data-dir", dir, "--name", "alice"); code != 0 || !strings.Contains(out, "deleted") {
		t.Errorf("del: %d %s%s", code, out, errs)
	}
	st, err = sqlite.Open(ctx, sqlite.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	page, err := st.ListAudit(ctx, store.AuditQuery{Actor: "cli:ops", Order: store.OrderAsc, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range page.Items {
		got = append(got, e.Action+" "+strings.SplitN(e.Target, "_", 2)[0])
		if strings.Contains(string(e.Details), pw) || strings.Contains(string(e.Details), "vgl_") {
			t.Errorf("audit entry holds a secret: %+v", e)
		}
	}
	want := []string{"user.add user:root", "user.add user:alice", "user.role user:alice", "user.password user:alice",
		"token.create token:tok", "token.create token:tok", "token.revoke token:tok", "user.delete user:alice"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// Without a store in the data directory the commands work, unaudited.
func TestUsersCLIWithoutStore(t *testing.T) {
	dir := t.TempDir()
	if code, out, errs := runCLIStdin(t, "a long enough password\n", "users", "add", "--data-dir", dir, "--name", "root", "--role", "admin", "--password-stdin"); code != 0 {
		t.Fatalf("add: %d %s%s", code, out, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, sqlite.FileName)); !os.IsNotExist(err) {
		t.Errorf("a store was created: %v", err)
	}
	if code, out, _ := runCLI(t, "users", "list", "--data-dir", dir); code != 0 || !strings.Contains(out, "root  admin") {
		t.Errorf("list: %d %s", code, out)
	}
}

// TestUsersTokensCLIStore: with --store, the users and tokens are the
// cluster's, in PostgreSQL: what the CLI writes, a serve on that store (with
// another data directory) accepts, and the store's audit log records it.
func TestUsersTokensCLIStore(t *testing.T) {
	t.Setenv("USER", "ops")
	pgURL, schema := pgtest.Schema(t)
	storeURL := pgURL + "&search_path=" + schema
	if !strings.Contains(pgURL, "?") {
		storeURL = pgURL + "?search_path=" + schema
	}
	const pw = "a long enough password"
	if code, out, errs := runCLIStdin(t, pw+"\n", "users", "add", "--store", storeURL, "--name", "root", "--role", "admin", "--password-stdin"); code != ExitOK {
		t.Fatalf("users add --store: %d %s%s", code, out, errs)
	}
	token := cli(t, "tokens", "create", "--store", storeURL, "--name", "grafana", "--scope", "api", "--role", "viewer")
	if code, out, _ := runCLI(t, "users", "list", "--store", storeURL); code != ExitOK || !strings.Contains(out, "root  admin") {
		t.Errorf("users list --store: %d %s", code, out)
	}
	if code, _, errs := runCLI(t, "users", "list", "--store", "mysql://x"); code != ExitUsage || !strings.Contains(errs, "postgres://") {
		t.Errorf("a store that is not PostgreSQL: %d %s", code, errs)
	}
	// Not in a data directory's file.
	dir := t.TempDir()
	if code, out, _ := runCLI(t, "users", "list", "--data-dir", dir); code != ExitOK || strings.Contains(out, "root") {
		t.Errorf("the data directory's users: %d %s", code, out)
	}
	// A node on the store accepts the token and the password.
	st, err := postgres.Open(t.Context(), postgres.Options{URL: storeURL})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc, err := auth.Open(auth.Options{Dir: filepath.Join(dir, "auth"), Shared: sharedAuth(storeURL, st)})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	svc.Routes(mux)
	mux.Handle("GET /api/v1/incidents", svc.Require(auth.RoleViewer)(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {})))
	r := httptest.NewRequest("GET", "http://vigil.test/api/v1/incidents", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Errorf("the CLI's token on a node of the store: %d", w.Code)
	}
	r = httptest.NewRequest("POST", "http://vigil.test/api/v1/login", strings.NewReader(`{"username":"root","password":"`+pw+`"}`))
	w = httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Errorf("the CLI's user logs in on a node of the store: %d %s", w.Code, w.Body)
	}
	page, err := st.ListAudit(t.Context(), store.AuditQuery{Limit: 10, Order: store.OrderAsc})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range page.Items {
		got = append(got, e.Actor+" "+e.Action+" "+e.Target)
	}
	if len(got) < 2 || !strings.HasPrefix(got[0], "cli:ops ") || !strings.Contains(strings.Join(got, ";"), "root") || !strings.Contains(strings.Join(got, ";"), "token.create token:tok_") {
		t.Errorf("the store's audit log: %q", got)
	}
}
