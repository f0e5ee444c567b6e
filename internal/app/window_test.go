package app

import (
	"strings"
	"testing"
	"time"
)

func TestEventTimeFlags(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Time
		err  bool
	}{
		{"", time.Time{}, false},
		{"2026-03-09", time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC), false},
		{"2026-03-09T10:30:00+02:00", time.Date(2026, 3, 9, 8, 30, 0, 0, time.UTC), false},
		{"2026-03-09T10:30:00.5Z", time.Date(2026, 3, 9, 10, 30, 0, 5e8, time.UTC), false},
		{"09/03/2026", time.Time{}, true},
		{"yesterday", time.Time{}, true},
	} {
		got, err := parseEventTime("--since", c.in)
		if (err != nil) != c.err || !got.Equal(c.want) {
			t.Errorf("%q: got %v, %v; want %v (error %v)", c.in, got, err, c.want, c.err)
		}
	}
	code, _, errs := runCLI(t, "hunt", "--since", "2026-03-09", "--until", "2026-03-09", t.TempDir())
	if code != ExitUsage || !strings.Contains(errs, "is not before --until") {
		t.Errorf("an empty window: exit %d: %s", code, errs)
	}
}
