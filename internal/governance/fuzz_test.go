package governance

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/detect"
)

// FuzzBias builds an organisation, activity, signals and incidents from bytes
// and checks the report's invariants: it encodes as JSON (no NaN or Inf), no
// cell counts more than its total, q is never below p, and only tested cells
// of large enough groups are flagged.
func FuzzBias(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, int64(1000))
	f.Add([]byte{0, 0, 0, 255, 255, 255}, int64(-1))
	f.Add([]byte("the quick brown fox jumps over the lazy dog"), int64(9223372036854775807))
	f.Fuzz(func(t *testing.T, data []byte, scale int64) {
		next := func() int {
			if len(data) == 0 {
				return 0
			}
			b := data[0]
			data = data[1:]
			return int(b)
		}
		people := map[string]Attributes{}
		activity := map[string]int64{}
		nUsers := 1 + next()%24
		for i := range nUsers {
			u := fmt.Sprintf("u%d", i)
			if next()%5 != 0 {
				people[u] = Attributes{Department: fmt.Sprint("d", next()%4), Role: fmt.Sprint("r", next()%3), Region: fmt.Sprint(next() % 2)}
			}
			if v := next(); v%7 != 0 {
				activity[u] = int64(v) * scale % 100000
			}
		}
		var sigs []detect.Signal
		for range next() * 2 {
			s := detect.Signal{ID: fmt.Sprint("s", next()%64), DetectorID: fmt.Sprint("det", next()%3)}
			for range next() % 3 {
				s.Entities = append(s.Entities, detect.Entity{Kind: detect.EntityUser, Value: fmt.Sprintf("u%d", next()%(nUsers+2))})
			}
			sigs = append(sigs, s)
		}
		var incs []correlate.Incident
		for range next() % 8 {
			incs = append(incs, correlate.Incident{ID: fmt.Sprint("i", next()%4), Version: int64(next()), SignalIDs: []string{fmt.Sprint("s", next()%64)}})
		}
		r := Bias(BiasInput{
			Signals: sigs, Incidents: incs, Activity: activity,
			Lookup:  func(u string) (Attributes, bool) { a, ok := people[u]; return a, ok },
			Options: Options{MinGroupUsers: 1 + next()%3},
		})
		if _, err := json.Marshal(r); err != nil {
			t.Fatalf("encoding report: %v", err)
		}
		for _, d := range r.Dimensions {
			for _, g := range d.Groups {
				for _, c := range g.Cells {
					if c.Count < 0 || c.Count > c.Total {
						t.Fatalf("%s/%s: count %d of %d", d.Name, g.Name, c.Count, c.Total)
					}
					if (c.P == nil) != (c.Q == nil) || (c.Q != nil && *c.Q < *c.P) {
						t.Fatalf("%s/%s: p %v q %v", d.Name, g.Name, deref(c.P), deref(c.Q))
					}
					if c.Flagged && (!g.Tested || c.P == nil || g.Users < r.Options.MinGroupUsers) {
						t.Fatalf("%s/%s: flagged untested cell %+v", d.Name, g.Name, c)
					}
				}
			}
		}
	})
}
