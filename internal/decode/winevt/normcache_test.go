package winevt

import (
	"fmt"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/event"
)

// The cached canonicalization equals the uncached one, on hits, misses and
// collisions (more distinct users than slots).
func TestNormalizerUserCache(t *testing.T) {
	n := NewNormalizer()
	var in [][2]string
	for i := range 3 * userCacheSize {
		in = append(in, [2]string{fmt.Sprintf(`CORP\User%d`, i), ""}, [2]string{fmt.Sprintf("u%d", i), "Dom"})
	}
	in = append(in, [2]string{"-", "-"}, [2]string{"", "CORP"}, [2]string{"Bob@Example.COM", "x"})
	for round := range 2 {
		for _, p := range in {
			u, k := n.user(p[0], p[1])
			want := event.CanonicalUser(p[0], p[1])
			if u != want || (u.Name != "" && k != want.Key()) {
				t.Fatalf("round %d: user(%q, %q) = %+v %q, want %+v %q", round, p[0], p[1], u, k, want, want.Key())
			}
		}
	}
	for _, h := range []string{"WS01.Corp.Example.com.", "10.0.0.1", "-", "dc01"} {
		var a, b event.Event
		n.setHost(winEvent{Event: &a}, h)
		n.setHost(winEvent{Event: &a}, h)
		b.SetHost(h)
		if a.Str(event.HostName) != b.Str(event.HostName) || a.Str(event.HostHostname) != b.Str(event.HostHostname) || len(a.Related.Hosts) != len(b.Related.Hosts) {
			t.Errorf("setHost(%q) differs from SetHost", h)
		}
	}
	if got := n.lower("SHA1=ABC,md5=x"); got != "sha1=abc,md5=x" {
		t.Errorf("lower = %q", got)
	}
}

func TestAppendTimeCreated(t *testing.T) {
	est := time.FixedZone("EST", -5*3600)
	for _, ts := range []time.Time{
		time.Date(2024, 4, 21, 10, 0, 3, 123456789, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(2021, 7, 4, 1, 2, 3, 50, est),
		time.Date(12345, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		if got, want := string(appendTimeCreated([]byte("x"), ts)), "x"+ts.Format(TimeLayout); got != want {
			t.Errorf("appendTimeCreated(%v) = %q, want %q", ts, got, want)
		}
	}
}
