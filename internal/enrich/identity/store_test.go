package identity

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func writeFile(t testing.TB, p, body string) {
	t.Helper()
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil { // atomic, like a careful deployment
		t.Fatal(err)
	}
}

func TestStoreReload(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "people.csv")
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := &Store{now: func() time.Time { clock = clock.Add(time.Minute); return clock }}
	if _, ok := s.Lookup("a"); ok || s.Directory().Len() != 0 || s.Canonical("CORP\\A") != "a@corp" || s.PeerGroup("a") != "" {
		t.Fatal("empty store answered")
	}
	if st := s.Status(); st != (ReloadStatus{}) {
		t.Fatalf("status before any reload %+v", st)
	}
	writeFile(t, p, "user,aliases,department,role\na@x,CORP\\a,IT,admin\n")
	if rej, err := s.Reload(p); err != nil || len(rej) != 0 {
		t.Fatal(rej, err)
	}
	loaded := clock
	if got := s.Canonical(`corp\A`); got != "a@x" || s.PeerGroup("a@x") != "IT/admin" {
		t.Fatalf("after reload: %q %q", got, s.PeerGroup("a@x"))
	}
	for _, tc := range []struct {
		name, file, body string
		is               error
	}{
		{"bad header", "people.csv", "name,role\nb,x\n", nil},
		{"every row rejected", "people.csv", "user,privileged\nb,maybe\nc,perhaps\n", ErrNoPeople},
		{"empty file", "people.csv", "", nil},
		{"header only", "people.csv", "user,role\n", ErrNoPeople},
		{"only groups", "people.ldif", "dn: cn=g,dc=x\nobjectClass: group\n", ErrNoPeople},
		{"broken yaml", "people.yaml", "- user: [\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fp := filepath.Join(dir, tc.file)
			writeFile(t, fp, tc.body)
			_, err := s.Reload(fp)
			if err == nil || (tc.is != nil && !errors.Is(err, tc.is)) {
				t.Fatalf("error %v, want %v", err, tc.is)
			}
			if p, ok := s.Lookup("a@x"); !ok || p.Role != "admin" {
				t.Errorf("old directory not kept: %+v", p)
			}
			st := s.Status()
			if st.Err == nil || st.Path != fp || st.People != 1 || !st.Loaded.Equal(loaded) || !st.Tried.Equal(clock) {
				t.Errorf("status %+v", st)
			}
		})
	}
	if _, err := s.Reload(filepath.Join(dir, "gone.csv")); err == nil {
		t.Error("missing file reloaded")
	}
	writeFile(t, p, "user,privileged\nb@x,true\nc@x,maybe\n")
	rej, err := s.Reload(p)
	if err != nil || len(rej) != 1 {
		t.Fatal(rej, err)
	}
	if _, ok := s.Lookup("a@x"); ok {
		t.Error("old directory still in force")
	}
	if p, ok := s.Lookup("B@X"); !ok || !p.Privileged {
		t.Errorf("new directory not in force: %+v", p)
	}
	if st := s.Status(); st != (ReloadStatus{Path: p, Tried: clock, Loaded: clock, People: 1, Rejected: 1}) {
		t.Errorf("status %+v", st)
	}
	s.Set(nil)
	if _, ok := s.Lookup("b@x"); ok || s.Status().People != 0 || !s.Status().Loaded.IsZero() {
		t.Errorf("Set(nil) kept the directory: %+v", s.Status())
	}
}

// TestStoreConcurrent reloads while readers look up; run with -race. Every
// lookup must see one whole directory: the person's role names its generation.
func TestStoreConcurrent(t *testing.T) {
	dir := t.TempDir()
	files := []string{filepath.Join(dir, "a.csv"), filepath.Join(dir, "b.yaml"), filepath.Join(dir, "c.ldif")}
	writeFile(t, files[0], "user,aliases,role\nalice@corp.example,CORP\\alice,csv\n")
	writeFile(t, files[1], "identities:\n- user: alice@corp.example\n  aliases: [CORP\\alice]\n  role: yaml\n")
	writeFile(t, files[2], "dn: CN=alice,DC=corp,DC=example\nobjectClass: user\nsAMAccountName: alice\nuserPrincipalName: alice@corp.example\ntitle: ldif\n")
	s := NewStore(nil)
	if _, err := s.Reload(files[0]); err != nil {
		t.Fatal(err)
	}
	var (
		stop    atomic.Bool
		wg      sync.WaitGroup
		lookups atomic.Int64
		bad     atomic.Value
	)
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				p, ok := s.Lookup(`CORP\alice`)
				if !ok || p.User != "alice@corp.example" || (p.Role != "csv" && p.Role != "yaml" && p.Role != "ldif") {
					bad.Store(fmt.Sprintf("lookup gave %+v, %v", p, ok))
					return
				}
				if s.Canonical("ALICE@corp.example") != "alice@corp.example" {
					bad.Store("canonical")
					return
				}
				_ = s.Status()
				lookups.Add(1)
			}
		})
	}
	for i := range 200 {
		f := files[i%len(files)]
		if i%10 == 9 {
			f = filepath.Join(dir, "missing.csv") // failures keep the old directory
		}
		_, err := s.Reload(f)
		if (err != nil) != (i%10 == 9) {
			t.Errorf("reload %d of %s: %v", i, f, err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if v := bad.Load(); v != nil {
		t.Fatal(v)
	}
	if lookups.Load() == 0 {
		t.Fatal("no lookup ran")
	}
}
