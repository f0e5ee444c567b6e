package behavior

import (
	"fmt"
	"testing"
	"time"
	"unsafe"

	"github.com/vigilsec/vigil/internal/event"
)

// TestSymCacheSameObs: observations extracted through the intern cache equal
// the uncached ones, also when the events' strings live in a buffer that is
// overwritten afterwards (decoders reuse theirs) and when the cache fills.
func TestSymCacheSameObs(t *testing.T) {
	c := newSymCache()
	buf := make([]byte, 0, 256)
	for i := range 3 * symCacheMax {
		// the strings alias buf, rewritten for every event
		buf = fmt.Appendf(buf[:0], `C:\Users\U%d\Prog%d.EXE|user%d|DOM%d|ws-%d`, i%300, i%90, i%5000, i%3, i%700)
		parts := splitBar(buf)
		e := &event.Event{Timestamp: time.Unix(1_700_000_000+int64(i), 0)}
		if i%2 == 0 {
			e.Category, e.Type = event.CatProcess, event.TypeStart
			e.SetStr(event.ProcessExecutable, parts[0])
		} else {
			e.Category, e.Type = event.CatAuthentication, event.TypeStart
		}
		e.SetStr(event.UserName, parts[1])
		e.SetStr(event.UserDomain, parts[2])
		e.SetStr(event.HostName, parts[3])
		var want, got Obs
		okW := extract(e, &want, nil)
		okG := extract(e, &got, c)
		if okW != okG || want != got {
			t.Fatalf("event %d: cached %+v (%v), uncached %+v (%v)", i, got, okG, want, okW)
		}
	}
	if len(c.m) > symCacheMax || len(c.lower) > symCacheMax || len(c.users) > symCacheMax {
		t.Fatalf("cache past its bound: %d %d %d", len(c.m), len(c.lower), len(c.users))
	}
}

// splitBar splits b at '|' into strings sharing b's memory.
func splitBar(b []byte) []string {
	var out []string
	start := 0
	for i := 0; i <= len(b); i++ {
		if i == len(b) || b[i] == '|' {
			out = append(out, unsafe.String(&b[start], i-start))
			start = i + 1
		}
	}
	return out
}
