package governance

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/detect"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// org builds hand-made input: departments of users with fixed activity, and
// signals per department and detector spread over the department's users.
type org struct {
	people   map[string]Attributes
	activity map[string]int64
	members  map[string][]string
	signals  []detect.Signal
	incs     []correlate.Incident
}

func newOrg() *org {
	return &org{people: map[string]Attributes{}, activity: map[string]int64{}, members: map[string][]string{}}
}

// dept adds n users to a department, each with the given events. Every other
// attribute is the same for everyone, so only the department dimension has
// more than one group (the others have no rest and are not tested).
func (o *org) dept(name string, n int, events int64) {
	for i := range n {
		u := fmt.Sprintf("%s%02d@corp.example", strings.ToLower(name), i)
		o.people[u] = Attributes{User: u, Department: name, Role: "staff", Region: "hq", PeerGroup: "all"}
		o.activity[u] = events
		o.members[name] = append(o.members[name], u)
	}
}

// fire adds count signals of a detector on the department's users, round robin.
func (o *org) fire(dept, detector string, count int) {
	m := o.members[dept]
	for i := range count {
		o.signals = append(o.signals, detect.Signal{
			ID:         fmt.Sprintf("s%d", len(o.signals)),
			DetectorID: detector, RuleID: "r1",
			Entities: []detect.Entity{{Kind: detect.EntityUser, Value: m[i%len(m)]}, {Kind: detect.EntityHost, Value: "h1"}},
		})
	}
}

func (o *org) lookup(u string) (Attributes, bool) {
	a, ok := o.people[u]
	return a, ok
}

func (o *org) input() BiasInput {
	return BiasInput{Signals: o.signals, Incidents: o.incs, Lookup: o.lookup, Activity: o.activity}
}

func findCell(t *testing.T, r *BiasReport, dim, group, measure, det string) (Group, Cell) {
	t.Helper()
	for _, d := range r.Dimensions {
		if d.Name != dim {
			continue
		}
		for _, g := range d.Groups {
			if g.Name != group {
				continue
			}
			for _, c := range g.Cells {
				if c.Measure == measure && c.Detector == det {
					return g, c
				}
			}
		}
	}
	t.Fatalf("no cell %s/%s/%s/%s", dim, group, measure, det)
	return Group{}, Cell{}
}

type wantCell struct {
	group, det string
	flagged    bool
	direction  string
	ratio      float64 // 0: not checked
	note       string  // "": not checked
}

func TestBiasFlags(t *testing.T) {
	tests := []struct {
		name  string
		build func() *org
		want  []wantCell
	}{
		{
			// Finance has 5x the rest's rate on "behavior"; Eng has exactly the
			// rest's rate (20/10k vs 60/30k); "sigma" fires at one rate everywhere.
			name: "five times the rate is flagged, equal rate is not",
			build: func() *org {
				o := newOrg()
				o.dept("Finance", 10, 1000)
				o.dept("Eng", 10, 1000)
				o.dept("Sales", 10, 2000)
				o.fire("Finance", "behavior", 50)
				o.fire("Eng", "behavior", 20)
				o.fire("Sales", "behavior", 10)
				o.fire("Finance", "sigma", 10)
				o.fire("Eng", "sigma", 10)
				o.fire("Sales", "sigma", 20)
				return o
			},
			want: []wantCell{
				{group: "Finance", det: "behavior", flagged: true, direction: "over", ratio: 5},
				{group: "Eng", det: "behavior", flagged: false, ratio: 1, note: NoteWithinRatio},
				// Sales: 10 where 40 are expected; under-detection is flagged too.
				{group: "Sales", det: "behavior", flagged: true, direction: "under", ratio: 1.0 / 7},
				{group: "Finance", det: "sigma", flagged: false, ratio: 1, note: NoteWithinRatio},
				{group: "Eng", det: "sigma", flagged: false, ratio: 1, note: NoteWithinRatio},
				{group: "Sales", det: "sigma", flagged: false, ratio: 1, note: NoteWithinRatio},
			},
		},
		{
			// Legal's four users draw ten times the rest's rate, significant on
			// its own (40 of 80 where 7.4 expected), but the group is too small.
			name: "small group is never flagged",
			build: func() *org {
				o := newOrg()
				o.dept("Legal", 4, 1000)
				o.dept("Eng", 25, 1000)
				o.dept("Sales", 25, 1000)
				o.fire("Legal", "behavior", 40)
				o.fire("Eng", "behavior", 20)
				o.fire("Sales", "behavior", 20)
				return o
			},
			want: []wantCell{
				{group: "Legal", det: "behavior", flagged: false, ratio: 12.5, note: NoteSmallGroup},
				{group: "Legal", det: "", flagged: false, note: NoteSmallGroup},
			},
		},
		{
			// Ratio 5 on a borderline count (10 vs 2, p = 0.039) but not
			// significant, and a ratio of 1.25 that is highly significant: neither
			// is a disparity.
			name: "both ratio and significance are needed",
			build: func() *org {
				o := newOrg()
				o.dept("A", 5, 1000)
				o.dept("B", 5, 1000)
				o.dept("C", 5, 1000)
				o.fire("A", "rare", 4)
				o.fire("B", "rare", 1)
				o.fire("A", "noisy", 5000)
				o.fire("B", "noisy", 4000)
				o.fire("C", "noisy", 4000)
				return o
			},
			want: []wantCell{
				{group: "A", det: "rare", flagged: false, note: NoteNotSignificant},
				{group: "A", det: "noisy", flagged: false, ratio: 1.25, note: NoteWithinRatio},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Bias(tt.build().input())
			for _, w := range tt.want {
				g, c := findCell(t, &r, DimDepartment, w.group, MeasureSignals, w.det)
				if c.Flagged != w.flagged || c.Direction != w.direction {
					t.Errorf("%s/%s: flagged=%v %q, want %v %q (cell %+v, p=%v q=%v)", w.group, w.det, c.Flagged, c.Direction, w.flagged, w.direction, c, deref(c.P), deref(c.Q))
				}
				if w.ratio != 0 && (c.RateRatio == nil || math.Abs(*c.RateRatio-w.ratio) > 1e-9) {
					t.Errorf("%s/%s: ratio %v, want %v", w.group, w.det, deref(c.RateRatio), w.ratio)
				}
				if w.note != "" && c.Note != w.note {
					t.Errorf("%s/%s: note %q, want %q", w.group, w.det, c.Note, w.note)
				}
				if w.note == NoteSmallGroup && (g.Tested || c.P != nil || c.Q != nil) {
					t.Errorf("%s: small group tested: %+v", w.group, c)
				}
			}
			// Every flag is a flagged cell and the other way round.
			n := 0
			for _, d := range r.Dimensions {
				for _, g := range d.Groups {
					for _, c := range g.Cells {
						if c.Flagged {
							n++
						}
					}
				}
			}
			if n != len(r.Flags) {
				t.Errorf("%d flagged cells, %d flags", n, len(r.Flags))
			}
		})
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// The same borderline cell (ratio 5, raw p = 0.039) is flagged when it is one
// of four tests and not when ten null detectors join the family.
func TestBiasBenjaminiHochbergChangesBorderline(t *testing.T) {
	build := func(nullDetectors int) BiasReport {
		o := newOrg()
		o.dept("A", 5, 1000)
		o.dept("B", 5, 1000)
		o.fire("A", "d1", 10)
		o.fire("B", "d1", 2)
		for i := range nullDetectors {
			det := fmt.Sprintf("null%02d", i)
			o.fire("A", det, 5)
			o.fire("B", det, 5)
		}
		return Bias(o.input())
	}
	alone, crowded := build(0), build(10)
	_, ca := findCell(t, &alone, DimDepartment, "A", MeasureSignals, "d1")
	_, cc := findCell(t, &crowded, DimDepartment, "A", MeasureSignals, "d1")
	wantP := 2 * 79.0 / 4096
	for _, c := range []Cell{ca, cc} {
		if c.P == nil || math.Abs(*c.P-wantP) > 1e-9 {
			t.Fatalf("raw p = %v, want %v in both reports", deref(c.P), wantP)
		}
	}
	if alone.Tests != 4 || crowded.Tests != 24 {
		t.Errorf("BH families %d and %d, want 4 and 24", alone.Tests, crowded.Tests)
	}
	if !ca.Flagged || *ca.Q > 0.05 {
		t.Errorf("alone: flagged=%v q=%v, want flagged with q = p", ca.Flagged, *ca.Q)
	}
	if cc.Flagged || *cc.Q <= 0.05 || cc.Note != NoteNotSignificant {
		t.Errorf("crowded: flagged=%v q=%v note=%q, want not flagged after BH", cc.Flagged, *cc.Q, cc.Note)
	}
}

func TestBiasAttribution(t *testing.T) {
	o := newOrg()
	o.dept("A", 5, 100)
	o.dept("B", 5, 100)
	// An alias the lookup resolves to a01, and a user the directory lacks.
	o.people["CORP\\a01"] = o.people["a01@corp.example"]
	o.activity["CORP\\a01"] = 50
	o.activity["ghost"] = 10
	sig := func(id, det string, users ...string) detect.Signal {
		s := detect.Signal{ID: id, DetectorID: det}
		for _, u := range users {
			s.Entities = append(s.Entities, detect.Entity{Kind: detect.EntityUser, Value: u})
		}
		return s
	}
	o.signals = []detect.Signal{
		sig("s1", "x", "a00@corp.example", "b00@corp.example"), // both groups
		sig("s2", "x", "CORP\\a01", "a01@corp.example"),        // one user, twice
		sig("s3", "x", "ghost"),
		sig("s4", "x", "nobody-active"),                        // unknown, no activity
		sig("s5", "x"),                                         // no user
		sig("s1", "x", "a00@corp.example", "b00@corp.example"), // duplicate
	}
	o.incs = []correlate.Incident{
		// Users from the signals it names, beyond its own (capped) entities.
		{ID: "i1", Version: 2, SignalIDs: []string{"s1"}},
		{ID: "i1", Version: 1, SignalIDs: []string{"s3"}}, // older version: ignored
		{ID: "i2", Status: correlate.StatusMerged, SignalIDs: []string{"s2"}},
		{ID: "i3", Entities: []detect.Entity{{Kind: detect.EntityHost, Value: "h"}}},
	}
	r := Bias(o.input())
	if r.Users != 12 || r.UnknownUsers != 2 || r.UsersWithoutActivity != 1 {
		t.Errorf("users %d unknown %d inactive %d, want 12, 2, 1", r.Users, r.UnknownUsers, r.UsersWithoutActivity)
	}
	if r.Events != 1060 {
		t.Errorf("events %d, want 1060", r.Events)
	}
	if r.Signals != 4 || r.UnattributedSignals != 1 || r.Incidents != 1 || r.UnattributedIncidents != 1 {
		t.Errorf("signals %d/%d incidents %d/%d, want 4/1 1/1", r.Signals, r.UnattributedSignals, r.Incidents, r.UnattributedIncidents)
	}
	ga, ca := findCell(t, &r, DimDepartment, "A", MeasureSignals, "")
	if ga.Signals != 2 || ga.Incidents != 1 || ga.Events != 550 || ca.RestCount != 2 {
		t.Errorf("A: %+v, rest %d; want 2 signals, 1 incident, 550 events, rest 2", ga, ca.RestCount)
	}
	gb, _ := findCell(t, &r, DimDepartment, "B", MeasureIncidents, "")
	if gb.Signals != 1 || gb.Incidents != 1 {
		t.Errorf("B: %+v, want 1 signal and 1 incident", gb)
	}
	gu, cu := findCell(t, &r, DimRole, UnknownGroup, MeasureSignals, "")
	if gu.Users != 2 || gu.Signals != 2 || gu.Events != 10 || gu.Tested || cu.Note != NoteSmallGroup {
		t.Errorf("unknown group %+v / %+v", gu, cu)
	}
	if rate := *gu.SignalRate; math.Abs(rate-2e4/10) > 1e-9 {
		t.Errorf("unknown group rate %v per 10k, want 2000", rate)
	}
}

// Scaling every user's activity and every count by ten keeps every rate and
// rate ratio, and multiplies counts and expectations by ten.
func TestBiasScaleInvariance(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 7))
		o := newOrg()
		for d := range 4 {
			o.dept(fmt.Sprintf("D%d", d), 3+rng.IntN(6), int64(1+rng.IntN(5000)))
		}
		for _, det := range []string{"a", "b", "c"} {
			for d := range 4 {
				o.fire(fmt.Sprintf("D%d", d), det, rng.IntN(30))
			}
		}
		for i := range 10 {
			s := o.signals[rng.IntN(len(o.signals))]
			o.incs = append(o.incs, correlate.Incident{ID: fmt.Sprintf("i%d", i), SignalIDs: []string{s.ID}})
		}
		base := Bias(o.input())

		big := newOrg()
		big.people = o.people
		for u, n := range o.activity {
			big.activity[u] = 10 * n
		}
		for k := range 10 {
			for _, s := range o.signals {
				s.ID = fmt.Sprintf("%s-%d", s.ID, k)
				big.signals = append(big.signals, s)
			}
			for _, inc := range o.incs {
				inc.ID = fmt.Sprintf("%s-%d", inc.ID, k)
				inc.SignalIDs = []string{fmt.Sprintf("%s-%d", inc.SignalIDs[0], k)}
				big.incs = append(big.incs, inc)
			}
		}
		scaled := Bias(big.input())

		for di, d := range base.Dimensions {
			for gi, g := range d.Groups {
				sg := scaled.Dimensions[di].Groups[gi]
				for ci, c := range g.Cells {
					sc := sg.Cells[ci]
					if sc.Count != 10*c.Count || sc.Total != 10*c.Total || !close(sc.Expected, 10*c.Expected) {
						t.Fatalf("seed %d %s/%s/%s: counts %d/%d exp %v, scaled %d/%d exp %v", seed, d.Name, g.Name, c.Detector, c.Count, c.Total, c.Expected, sc.Count, sc.Total, sc.Expected)
					}
					if !samePtr(c.Rate, sc.Rate) || !samePtr(c.RestRate, sc.RestRate) || !samePtr(c.RateRatio, sc.RateRatio) || c.RatioInfinite != sc.RatioInfinite {
						t.Fatalf("seed %d %s/%s/%s: rate %v/%v ratio %v, scaled %v/%v ratio %v", seed, d.Name, g.Name, c.Detector,
							deref(c.Rate), deref(c.RestRate), deref(c.RateRatio), deref(sc.Rate), deref(sc.RestRate), deref(sc.RateRatio))
					}
				}
			}
		}
	}
}

func close(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func samePtr(a, b *float64) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return close(*a, *b)
}

// Input order does not change the report.
func TestBiasDeterministic(t *testing.T) {
	o := newOrg()
	o.dept("Finance", 10, 1000)
	o.dept("Eng", 10, 1000)
	o.fire("Finance", "behavior", 50)
	o.fire("Eng", "behavior", 5)
	o.fire("Eng", "sigma", 9)
	first, err := json.Marshal(Bias(o.input()))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 5 {
		rng.Shuffle(len(o.signals), func(i, j int) { o.signals[i], o.signals[j] = o.signals[j], o.signals[i] })
		again, err := json.Marshal(Bias(o.input()))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, again) {
			t.Fatalf("report changed with input order:\n%s\n%s", first, again)
		}
	}
}

func TestBiasEmptyAndHostileInput(t *testing.T) {
	r := Bias(BiasInput{Options: Options{RatioThreshold: math.NaN(), Alpha: 7, MinGroupUsers: -3}})
	if r.Options != DefaultOptions() || r.Users != 0 || len(r.Flags) != 0 || len(r.Dimensions) != 4 {
		t.Errorf("empty report %+v", r)
	}
	r = Bias(BiasInput{
		Activity: map[string]int64{"a": -5, "b": math.MaxInt64, "c": math.MaxInt64},
		Signals:  []detect.Signal{{Entities: []detect.Entity{{Kind: detect.EntityUser, Value: "a"}}}},
	})
	if r.NegativeActivity != 1 || r.Events != math.MaxInt64 {
		t.Errorf("negative %d events %d, want 1 and saturated", r.NegativeActivity, r.Events)
	}
	var buf bytes.Buffer
	if err := WriteJSON(&buf, &r); err != nil {
		t.Fatal(err)
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		o    Options
		want string
	}{
		{Options{}, ""},
		{DefaultOptions(), ""},
		{Options{RatioThreshold: 1}, "ratio_threshold"},
		{Options{RatioThreshold: math.Inf(1)}, "ratio_threshold"},
		{Options{Alpha: 1}, "alpha"},
		{Options{Alpha: math.NaN()}, "alpha"},
		{Options{MinGroupUsers: -1}, "min_group_users"},
	}
	for _, tt := range tests {
		err := tt.o.Validate()
		if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("Validate(%+v) = %v, want error naming %q", tt.o, err, tt.want)
		}
	}
}

func TestWriteTableGolden(t *testing.T) {
	o := newOrg()
	o.dept("Finance", 10, 1000)
	o.dept("Eng", 10, 1000)
	o.dept("Sales", 10, 2000)
	o.dept("Legal", 2, 1000)
	o.fire("Finance", "behavior", 50)
	o.fire("Eng", "behavior", 20)
	o.fire("Sales", "behavior", 10)
	o.fire("Legal", "behavior", 10)
	o.fire("Eng", "sigma", 10)
	o.incs = []correlate.Incident{{ID: "i1", SignalIDs: []string{"s0", "s60"}}}
	r := Bias(o.input())
	var buf bytes.Buffer
	if err := WriteTable(&buf, &r); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "bias_table.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("reading %s (run with -update to create): %v", golden, err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("table differs from %s:\n%s", golden, buf.String())
	}
	var back BiasReport
	var js bytes.Buffer
	if err := WriteJSON(&js, &r); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Flags) != len(r.Flags) || back.Tests != r.Tests {
		t.Errorf("JSON round trip lost flags: %d/%d tests %d/%d", len(back.Flags), len(r.Flags), back.Tests, r.Tests)
	}
}
