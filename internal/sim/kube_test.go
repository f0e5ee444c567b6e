package sim

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/event"
)

// decodeSimFile is decodeFile for a line-per-record file that must not be empty:
// one event per line.
func decodeSimFile(t *testing.T, dir, name string) (string, []*event.Event, map[int64]*event.Event) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	if len(data) == 0 {
		t.Fatalf("%s is empty", name)
	}
	id, evs, byOff := decodeFile(t, dir, name)
	if lines := bytes.Count(data, []byte("\n")); lines != len(evs) {
		t.Fatalf("%s: %d lines but %d events", name, lines, len(evs))
	}
	return id, evs, byOff
}

// field is the first value of a raw or normalized field.
func field(e *event.Event, name string) string {
	var out string
	event.Lookup(name).Each(e, func(s string) bool { out = s; return false })
	return out
}

func fieldAll(e *event.Event, name string) []string {
	var out []string
	event.Lookup(name).Each(e, func(s string) bool { out = append(out, s); return true })
	return out
}

func campaignByID(t *testing.T, tr Truth, id string) TruthCampaign {
	t.Helper()
	for _, c := range tr.Campaigns {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("no campaign %s in the truth", id)
	return TruthCampaign{}
}

// weekdayWeekend is the mean daily count of the Tuesday-Thursday and of the weekend.
func weekdayWeekend(evs []*event.Event, keep func(*event.Event) bool) (float64, float64) {
	per := map[time.Weekday]int{}
	for _, e := range evs {
		if keep == nil || keep(e) {
			per[e.Timestamp.Weekday()]++
		}
	}
	return float64(per[time.Tuesday]+per[time.Wednesday]+per[time.Thursday]) / 3, float64(per[time.Saturday]+per[time.Sunday]) / 2
}

func TestKubeAudit(t *testing.T) {
	dir, tr := generate(t, 11, 120, 7) // Monday to Sunday
	const name = "kubernetes/audit.log"
	id, evs, byOff := decodeSimFile(t, dir, name)
	if id != "k8s-audit" {
		t.Fatalf("%s detected as %s", name, id)
	}
	// Machines keep the cluster busy around the clock; people and CI make weekdays busier.
	wd, we := weekdayWeekend(evs, nil)
	if wd <= we || wd < 500 || wd > 20000 {
		t.Errorf("daily volume: weekday %.0f, weekend %.0f", wd, we)
	}
	human := func(e *event.Event) bool { return strings.HasSuffix(field(e, "user.username"), "@"+Domain) }
	if hwd, hwe := weekdayWeekend(evs, human); hwd < 3*hwe || hwd < 20 {
		t.Errorf("kubectl use: weekday %.0f, weekend %.0f: want clear weekly seasonality", hwd, hwe)
	}
	verbs := map[string]int{}
	for _, e := range evs {
		verbs[field(e, "verb")+" "+field(e, "objectRef.resource")]++
		if field(e, "event.action") == "" || field(e, "orchestrator.type") != "kubernetes" {
			t.Fatalf("not normalized: %s", e.AppendJSON(nil))
		}
	}
	for _, want := range []string{"patch nodes", "update leases", "get configmaps", "list pods", "patch deployments"} {
		if verbs[want] == 0 {
			t.Errorf("no benign %q", want)
		}
	}

	c := campaignByID(t, tr, "k8s1")
	if len(c.Events) != 15 {
		t.Errorf("k8s1: %d events, want 15", len(c.Events))
	}
	var attacker string
	sas := map[string]bool{}
	for _, en := range c.Entities {
		switch en.Kind {
		case "ip":
			attacker = en.Value
		case "user":
			sas[en.Value] = true
		}
	}
	// What each technique's records must be.
	want := map[string]func(verb, res, sub string) bool{
		"T1613":     func(v, r, _ string) bool { return v == "list" || r == "selfsubjectrulesreviews" },
		"T1552.007": func(v, r, _ string) bool { return r == "secrets" && (v == "list" || v == "get") },
		"T1528":     func(v, r, s string) bool { return v == "create" && r == "serviceaccounts" && s == "token" },
		"T1609":     func(v, r, s string) bool { return v == "create" && r == "pods" && s == "exec" },
		"T1610":     func(v, r, s string) bool { return r == "pods" && s == "" && (v == "create" || v == "get") },
		"T1611":     func(v, r, s string) bool { return v == "create" && r == "pods" && s == "exec" },
		"T1070":     func(v, r, _ string) bool { return v == "delete" && r == "pods" },
	}
	seen := map[string]int{}
	for _, ev := range c.Events {
		if ev.File != name {
			t.Fatalf("k8s1 event in %s", ev.File)
		}
		e := byOff[ev.Offset]
		if e == nil {
			t.Fatalf("k8s1: no record at offset %d", ev.Offset)
		}
		v, r, s := field(e, "verb"), field(e, "objectRef.resource"), field(e, "objectRef.subresource")
		if ok := want[ev.Technique]; ok == nil || !ok(v, r, s) {
			t.Errorf("k8s1 %s: record is %s %s/%s", ev.Technique, v, r, s)
		}
		if !e.Timestamp.Equal(ev.Time) {
			t.Errorf("k8s1 %s: record time %s, truth %s", ev.Technique, e.Timestamp, ev.Time)
		}
		if got := field(e, "source.ip"); got != attacker {
			t.Errorf("k8s1 %s: source %s, want the attacker %s", ev.Technique, got, attacker)
		}
		if u := field(e, "user.name"); !sas[u] {
			t.Errorf("k8s1 %s: user %q is not a campaign entity", ev.Technique, u)
		}
		if ev.Technique == "T1610" && v == "create" {
			if field(e, "level") != "RequestResponse" || field(e, "requestObject.spec.containers.securityContext.privileged") != "true" ||
				!strings.Contains(strings.Join(fieldAll(e, "hostPath"), ","), "/") {
				t.Errorf("k8s1 privileged pod not visible: %s", e.AppendJSON(nil))
			}
		}
		seen[ev.Technique]++
	}
	for tech := range want {
		if seen[tech] == 0 {
			t.Errorf("k8s1: no %s record", tech)
		}
	}
}
