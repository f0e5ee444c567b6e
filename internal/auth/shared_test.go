package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// memShared is a Shared in memory, with an error to inject.
type memShared struct {
	mu   sync.Mutex
	docs map[string][]byte
	revs map[string]int64
	err  error
	puts int
}

func newMemShared() *memShared {
	return &memShared{docs: map[string][]byte{}, revs: map[string]int64{}}
}

func (m *memShared) Get(_ context.Context, name string) ([]byte, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return nil, 0, m.err
	}
	d, ok := m.docs[name]
	if !ok {
		return nil, 0, nil
	}
	return append([]byte(nil), d...), m.revs[name], nil
}

func (m *memShared) Put(_ context.Context, name string, data []byte, prev int64) (int64, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return 0, false, m.err
	}
	if m.revs[name] != prev {
		return 0, false, nil
	}
	m.puts++
	m.docs[name] = append([]byte(nil), data...)
	m.revs[name] = prev + 1
	return prev + 1, true, nil
}

func (m *memShared) setErr(err error) { m.mu.Lock(); m.err = err; m.mu.Unlock() }

// eventually polls cond for up to 2 s: shared reloads run in the background.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 2 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSharedUsers: two nodes over one Shared see each other's users and
// tokens after the reload interval, accept each other's sessions (one session
// key), and lose no change when they write at once.
func TestSharedUsers(t *testing.T) {
	sh := newMemShared()
	a := newFixture(t, func(o *Options) { o.Shared = sh })
	b := newFixture(t, func(o *Options) { o.Shared = sh; o.Now = a.clock.Now })
	ctx := context.Background()

	secret, _, err := b.svc.CreateToken(ctx, TokenSpec{Name: "shipper", Scope: ScopeIngest})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := a.svc.CheckIngestToken(ctx, secret); ok {
		t.Error("a token made on another node was seen before the reload interval")
	}
	a.clock.Add(ReloadInterval)
	eventually(t, "the other node's token", func() bool { _, ok := a.svc.CheckIngestToken(ctx, secret); return ok })

	// A user added on b logs in on a; a's session works on b.
	b.addUser("carol", RoleAnalyst)
	a.clock.Add(ReloadInterval)
	a.svc.Users(ctx) // a listing reads the store at once
	l := a.login("carol", pw)
	if w := b.do(req{method: "GET", path: "/api/v1/incidents", cookie: l.cookie.Value}); w.Code != 200 {
		t.Fatalf("a's session on b: %d %s", w.Code, w.Body)
	}
	if ka, kb := a.mustKey(), b.mustKey(); string(ka) != string(kb) {
		t.Error("the nodes have different session keys")
	}
	// Logging out on a ends the session on b after the interval, and on a
	// node started later.
	l2 := a.login("carol", pw)
	if w := b.do(req{method: "GET", path: "/api/v1/incidents", cookie: l2.cookie.Value}); w.Code != 200 {
		t.Fatalf("a's second session on b: %d", w.Code)
	}
	if w := a.do(req{method: "POST", path: "/api/v1/logout", cookie: l2.cookie.Value, csrf: l2.info.CSRFToken}); w.Code != 204 {
		t.Fatalf("logout: %d %s", w.Code, w.Body)
	}
	if w := a.do(req{method: "GET", path: "/api/v1/incidents", cookie: l2.cookie.Value}); w.Code != 401 {
		t.Errorf("the session on a after its logout: %d", w.Code)
	}
	a.clock.Add(ReloadInterval) // b runs on a's clock
	eventually(t, "the logout on b", func() bool {
		return b.do(req{method: "GET", path: "/api/v1/incidents", cookie: l2.cookie.Value}).Code == 401
	})
	c := newFixture(t, func(o *Options) { o.Shared = sh; o.Now = a.clock.Now })
	if w := c.do(req{method: "GET", path: "/api/v1/incidents", cookie: l2.cookie.Value}); w.Code != 401 {
		t.Errorf("a logged-out session on a node started later: %d", w.Code)
	}
	if w := c.do(req{method: "GET", path: "/api/v1/incidents", cookie: l.cookie.Value}); w.Code != 200 {
		t.Errorf("a live session on a node started later: %d", w.Code)
	}

	// Deleting on a ends the session on b after the interval.
	if err := a.svc.DeleteUser(WithPrincipal(ctx, Principal{Name: "cli:test"}), "carol"); err != nil {
		t.Fatal(err)
	}
	a.clock.Add(ReloadInterval)
	eventually(t, "the deletion on b", func() bool {
		return b.do(req{method: "GET", path: "/api/v1/incidents", cookie: l.cookie.Value}).Code == 401
	})

	// Writers on both nodes at once: every change lands (compare-and-swap).
	var wg sync.WaitGroup
	for i := range 10 {
		for node, f := range []*fixture{a, b} {
			wg.Go(func() {
				if _, _, err := f.svc.CreateToken(ctx, TokenSpec{Name: fmt.Sprintf("t%d-%d", node, i), Scope: ScopeIngest}); err != nil {
					t.Error(err)
				}
			})
		}
	}
	wg.Wait()
	if n := len(a.svc.Tokens(ctx)); n != 21 {
		t.Errorf("%d tokens after 20 concurrent creations on two nodes and one before, want 21", n)
	}

	// The store failing, or holding a broken document, keeps the last good
	// users, logged.
	before := len(b.svc.Users(ctx))
	sh.setErr(errors.New("connection refused"))
	a.clock.Add(ReloadInterval) // b runs on a's clock
	if got := len(b.svc.Users(ctx)); got != before {
		t.Errorf("users while the store fails: %d, want %d", got, before)
	}
	if _, err := b.svc.AddUser(ctx, "dave", pw, RoleViewer); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("a change while the store fails: %v", err)
	}
	sh.setErr(nil)
	sh.mu.Lock()
	sh.docs[SharedUsers], sh.revs[SharedUsers] = []byte(`{"version":1,"users":[{"name":"x"`), sh.revs[SharedUsers]+1
	sh.mu.Unlock()
	if got := len(b.svc.Users(ctx)); got != before {
		t.Errorf("users after a broken document: %d, want %d", got, before)
	}
	// A broken record of logouts keeps those known.
	sh.mu.Lock()
	sh.docs[SharedRevoked], sh.revs[SharedRevoked] = []byte(`{"version":1,"sessions":{"x":-1}}`), sh.revs[SharedRevoked]+1
	sh.mu.Unlock()
	b.svc.Users(ctx)
	if w := b.do(req{method: "GET", path: "/api/v1/incidents", cookie: l2.cookie.Value}); w.Code != 401 {
		t.Errorf("a logged-out session after a broken record of logouts: %d", w.Code)
	}
	if !strings.Contains(b.logs.String(), "keeping those known") {
		t.Error("the broken record of logouts was not logged")
	}
	if !strings.Contains(b.logs.String(), "keeping the previous users") {
		t.Error("the failures were not logged")
	}
}

// TestSharedOpen: a node that cannot read the store does not start, and one
// that can ignores its users file (with a warning).
func TestSharedOpen(t *testing.T) {
	sh := newMemShared()
	sh.setErr(errors.New("no route to host"))
	if _, err := Open(Options{Dir: t.TempDir(), Argon2: cheap, Shared: sh}); err == nil || !strings.Contains(err.Error(), "no route to host") {
		t.Fatalf("Open with a failing store: %v", err)
	}
	sh.setErr(nil)
	local := newFixture(t)
	local.addUser("olduser", RoleAdmin)
	f := newFixture(t, func(o *Options) { o.Shared = sh; o.Dir = local.dir })
	if n := len(f.svc.Users(context.Background())); n != 0 {
		t.Errorf("%d users from the ignored file", n)
	}
	if !strings.Contains(f.logs.String(), "users file is ignored") {
		t.Error("no warning about the ignored users file")
	}
}

// FuzzSharedDocuments: what a store hands back as the users or the logouts
// (another node's write, a hand edit, corruption) is read or refused, never a
// panic; users that are read encode and read back alike.
func FuzzSharedDocuments(f *testing.F) {
	f.Add([]byte(`{"version":1,"users":[],"tokens":[]}`), []byte(`{"version":1,"sessions":{"abc":1893456000}}`))
	f.Add([]byte(`{"version":1,"users":[{"name":"a","role":"admin","password_hash":"x"}]}`), []byte(`{"version":2}`))
	f.Add([]byte(`null`), []byte(`{"version":1,"sessions":{"":5}}`))
	f.Fuzz(func(t *testing.T, users, revoked []byte) {
		sh := newMemShared()
		sh.docs[SharedUsers], sh.revs[SharedUsers] = users, 1
		sh.docs[SharedRevoked], sh.revs[SharedRevoked] = revoked, 1
		s := &Service{opts: Options{Shared: sh}.withDefaults()}
		if uf, _, err := s.loadShared(context.Background()); err == nil {
			data, err := json.Marshal(uf)
			if err != nil {
				t.Fatalf("users read do not encode: %v", err)
			}
			if _, err := decodeUsersFile(data); err != nil {
				t.Fatalf("users read do not read back: %v\n%s", err, data)
			}
		}
		if doc, _, err := s.loadRevoked(context.Background()); err == nil {
			for id, exp := range doc.Sessions {
				if id == "" || exp <= 0 {
					t.Fatalf("a logout of session %q expiring at %d was accepted", id, exp)
				}
			}
		}
	})
}

// TestSharedQuietNode: a node that had no request for a while decides its
// first request on the store's state, not on what it had (a token revoked
// elsewhere is refused at once); a document restored at a lower revision is
// installed; and sessions keep working while the store is down (the session
// key was read at start).
func TestSharedQuietNode(t *testing.T) {
	sh := newMemShared()
	a := newFixture(t, func(o *Options) { o.Shared = sh })
	b := newFixture(t, func(o *Options) { o.Shared = sh; o.Now = a.clock.Now })
	ctx := WithPrincipal(context.Background(), Principal{Name: "cli:test"})
	secret, tok, err := b.svc.CreateToken(ctx, TokenSpec{Name: "grafana", Scope: ScopeAPI, Role: RoleViewer})
	if err != nil {
		t.Fatal(err)
	}
	a.svc.Tokens(ctx) // a knows the token
	if w := a.do(req{method: "GET", path: "/api/v1/incidents", bearer: secret}); w.Code != 200 {
		t.Fatalf("the token on a: %d", w.Code)
	}
	if err := b.svc.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	a.clock.Add(3 * ReloadInterval) // a quiet spell on a
	if w := a.do(req{method: "GET", path: "/api/v1/incidents", bearer: secret}); w.Code != 401 {
		t.Errorf("the first request on a quiet node with a token revoked elsewhere: %d, want 401", w.Code)
	}

	// A restore from an older backup: a lower revision, still installed.
	sh.mu.Lock()
	old := sh.revs[SharedUsers]
	sh.mu.Unlock()
	b.addUser("erin", RoleViewer)
	sh.mu.Lock()
	doc := sh.docs[SharedUsers]
	sh.revs[SharedUsers] = old - 1
	sh.docs[SharedUsers] = doc
	sh.mu.Unlock()
	if users := a.svc.Users(ctx); !slices.ContainsFunc(users, func(u User) bool { return u.Name == "erin" }) {
		t.Errorf("a document at a lower revision was not installed: %+v", users)
	}

	// The store down: sessions and known tokens still work.
	l := a.login("erin", pw)
	sh.setErr(errors.New("connection refused"))
	a.clock.Add(3 * ReloadInterval)
	if w := a.do(req{method: "GET", path: "/api/v1/incidents", cookie: l.cookie.Value}); w.Code != 200 {
		t.Errorf("a session while the store is down: %d", w.Code)
	}
}
