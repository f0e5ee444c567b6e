package sim

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/decode/entra"
	"github.com/vigilsec/vigil/internal/decode/okta"
	"github.com/vigilsec/vigil/internal/event"
)

// idRec is what the identity tests read of an Okta or Entra record.
type idRec struct {
	off  int64
	t    time.Time
	user string
	ip   netip.Addr
	typ  string // Okta eventType, or "entra"
	ok   bool   // success
}

// readIdentity parses okta/system.json and entra/signins.json into records, by file.
func readIdentity(t *testing.T, dir string) map[string][]idRec {
	t.Helper()
	out := map[string][]idRec{}
	for _, name := range []string{fileNames[fOkta], fileNames[fEntra]} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		off := int64(0)
		for line := range bytes.Lines(data) {
			var o struct {
				Published string
				EventType string
				Actor     struct{ AlternateID string }
				Client    struct{ IPAddress string }
				Outcome   struct{ Result string }

				CreatedDateTime   string
				UserPrincipalName string
				IPAddress         string
				Status            struct{ ErrorCode int }
			}
			if err := json.Unmarshal(line, &o); err != nil {
				t.Fatalf("%s at %d: %v", name, off, err)
			}
			r := idRec{off: off}
			ts, ip := o.Published, o.Client.IPAddress
			if name == fileNames[fOkta] {
				r.user, r.typ, r.ok = o.Actor.AlternateID, o.EventType, o.Outcome.Result == "SUCCESS"
			} else {
				ts, ip = o.CreatedDateTime, o.IPAddress
				r.user, r.typ, r.ok = o.UserPrincipalName, "entra", o.Status.ErrorCode == 0
			}
			if r.t, err = time.Parse(time.RFC3339Nano, ts); err != nil {
				t.Fatalf("%s at %d: %v", name, off, err)
			}
			if r.ip, err = netip.ParseAddr(ip); err != nil {
				t.Fatalf("%s at %d: %v", name, off, err)
			}
			out[name] = append(out[name], r)
			off += int64(len(line))
		}
	}
	return out
}

// TestIdentityDecodes: Vigil detects both files from their content and its decoders
// accept every record.
func TestIdentityDecodes(t *testing.T) {
	dir, _ := generate(t, 1, 60, 9)
	for _, c := range []struct{ file, format string }{{fileNames[fOkta], okta.FormatID}, {fileNames[fEntra], entra.FormatID}} {
		id, evs, _ := decodeSimFile(t, dir, c.file)
		if id != c.format {
			t.Errorf("%s: detected %q, want %s", c.file, id, c.format)
		}
		if len(evs) < 500 {
			t.Errorf("%s: only %d records", c.file, len(evs))
		}
		for _, e := range evs {
			if e.Str(event.UserName) == "" || !e.IP(event.SourceIP).IsValid() {
				t.Fatalf("%s at %d: no user or source address", c.file, e.Origin.Offset)
			}
		}
	}
}

// speed is the km/h needed to sign in from a, then from b after d.
func speed(t *testing.T, a, b netip.Addr, d time.Duration) float64 {
	t.Helper()
	g := newGeography()
	na, nb := g.Lookup(a), g.Lookup(b)
	if na == nil || nb == nil {
		t.Fatalf("%v or %v not in the geography table", a, b)
	}
	return distanceKm(na, nb) / d.Hours()
}

// lastBefore is the user's last record in recs before t from an address not in skip.
func lastBefore(recs []idRec, user string, t time.Time, skip func(netip.Addr) bool) (idRec, bool) {
	var best idRec
	found := false
	for _, r := range recs {
		if r.user == user && r.t.Before(t) && !skip(r.ip) && (!found || r.t.After(best.t)) {
			best, found = r, true
		}
	}
	return best, found
}

func entities(es []TruthEntity, kind string) []string {
	var out []string
	for _, e := range es {
		if e.Kind == kind {
			out = append(out, e.Value)
		}
	}
	return out
}

// TestAccountTakeover: every labelled record is from the attacker's address, the
// attacker signs in from a country far from where the victim just signed in
// (impossible travel), and the chain has its techniques.
func TestAccountTakeover(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		dir, tr := generate(t, seed, 80, 14)
		recs := readIdentity(t, dir)
		all := append(append([]idRec{}, recs[fileNames[fOkta]]...), recs[fileNames[fEntra]]...)
		var c *TruthCampaign
		for i := range tr.Campaigns {
			if tr.Campaigns[i].ID == "ato1" {
				c = &tr.Campaigns[i]
			}
		}
		if c == nil {
			t.Fatal("no ato1 campaign")
		}
		users, ips := entities(c.Entities, "user"), entities(c.Entities, "ip")
		if len(users) != 1 || len(ips) != 1 || len(c.Events) < 8 {
			t.Fatalf("seed %d: entities %+v, %d events", seed, c.Entities, len(c.Events))
		}
		attacker := netip.MustParseAddr(ips[0])
		byOff := map[string]map[int64]idRec{}
		for f, rs := range recs {
			byOff[f] = map[int64]idRec{}
			for _, r := range rs {
				byOff[f][r.off] = r
			}
		}
		var first time.Time
		for _, ev := range c.Events {
			r, ok := byOff[ev.File][ev.Offset]
			// Entra writes whole seconds and Okta milliseconds, as the real services do.
			if d := r.t.Sub(ev.Time); !ok || r.ip != attacker || r.user != users[0] || d > 0 || d <= -time.Second {
				t.Fatalf("seed %d: %+v is not the attacker's record (%+v)", seed, ev, r)
			}
			if first.IsZero() || r.t.Before(first) {
				first = r.t
			}
		}
		for _, want := range []string{"T1078.004", "T1114.002", "T1213"} {
			if !slices.Contains(c.Techniques, want) {
				t.Errorf("seed %d: technique %s missing from %v", seed, want, c.Techniques)
			}
		}
		if d := c.End.Sub(c.Start); d < 30*time.Minute || d > 3*time.Hour {
			t.Errorf("seed %d: takeover lasts %v", seed, d)
		}
		prev, ok := lastBefore(all, users[0], first, func(a netip.Addr) bool { return a == attacker })
		if !ok || first.Sub(prev.t) > 8*time.Hour {
			t.Fatalf("seed %d: victim has no sign-in on the day before the attacker's (%+v)", seed, prev)
		}
		if v := speed(t, prev.ip, attacker, first.Sub(prev.t)); v < 900 {
			t.Errorf("seed %d: victim at %v then attacker at %v after %v: %.0f km/h, not impossible travel", seed, prev.ip, attacker, first.Sub(prev.t), v)
		}
		g := newGeography()
		an := g.Lookup(attacker)
		for _, o := range offices {
			if an.Country == o.Country {
				t.Errorf("seed %d: attacker in office country %s", seed, o.Country)
			}
		}
	}
}

// TestTripAbroad: the traveller's sign-ins abroad are in another country, come after
// a flight long enough for an airliner, and no home sign-in interrupts the trip.
func TestTripAbroad(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		dir, tr := generate(t, seed, 80, 14)
		recs := readIdentity(t, dir)
		all := append(append([]idRec{}, recs[fileNames[fOkta]]...), recs[fileNames[fEntra]]...)
		var b *TruthBenign
		for i := range tr.Benign {
			if tr.Benign[i].Kind == "trip_abroad" {
				b = &tr.Benign[i]
			}
		}
		if b == nil || len(b.Events) < 5 {
			t.Fatalf("seed %d: trip %+v", seed, b)
		}
		users, ips := entities(b.Entities, "user"), entities(b.Entities, "ip")
		if len(users) != 1 || len(ips) != 2 {
			t.Fatalf("seed %d: entities %+v", seed, b.Entities)
		}
		abroad := func(a netip.Addr) bool { return slices.Contains(ips, a.String()) }
		byOff := map[int64]idRec{}
		for _, r := range recs[fileNames[fOkta]] {
			byOff[r.off] = r
		}
		var first time.Time
		for _, ev := range b.Events {
			if ev.File != fileNames[fOkta] {
				continue
			}
			r := byOff[ev.Offset]
			if !abroad(r.ip) || r.user != users[0] {
				t.Fatalf("seed %d: %+v is not the traveller's record abroad (%+v)", seed, ev, r)
			}
			if first.IsZero() || r.t.Before(first) {
				first = r.t
			}
		}
		prev, ok := lastBefore(all, users[0], first, abroad)
		if !ok {
			t.Skipf("seed %d: trip starts before the traveller's first sign-in", seed)
		}
		g := newGeography()
		if g.Lookup(prev.ip).Country == g.Lookup(netip.MustParseAddr(ips[0])).Country {
			t.Errorf("seed %d: trip to the home country %s", seed, g.Lookup(prev.ip).Country)
		}
		gap := first.Sub(prev.t)
		if v := speed(t, prev.ip, netip.MustParseAddr(ips[0]), gap); v >= 900 || gap > 48*time.Hour {
			t.Errorf("seed %d: %v then abroad after %v: %.0f km/h", seed, prev.ip, gap, v)
		}
		for _, r := range all {
			if r.user == users[0] && !abroad(r.ip) && r.t.After(first) && r.t.Before(b.End) {
				t.Errorf("seed %d: home sign-in from %v at %v during the trip (%v-%v)", seed, r.ip, r.t, b.Start, b.End)
			}
		}
	}
}

// TestIdentityWeekly: working days carry many more sign-ins than weekends, and the
// volume per user is heavy-tailed.
func TestIdentityWeekly(t *testing.T) {
	dir, _ := generate(t, 4, 120, 7) // Monday to Sunday
	recs := readIdentity(t, dir)
	perDay := map[time.Weekday]int{}
	perUser := map[string]int{}
	for _, r := range recs[fileNames[fOkta]] {
		perDay[r.t.Weekday()]++
		perUser[r.user]++
	}
	weekday := float64(perDay[time.Tuesday]+perDay[time.Wednesday]+perDay[time.Thursday]) / 3
	weekend := float64(perDay[time.Saturday]+perDay[time.Sunday]) / 2
	if weekday < 5*weekend || weekend == 0 {
		t.Errorf("Okta records per weekday %.0f, per weekend day %.0f", weekday, weekend)
	}
	counts := make([]int, 0, len(perUser))
	for _, n := range perUser {
		counts = append(counts, n)
	}
	slices.Sort(counts)
	if lo, hi := counts[len(counts)/10], counts[len(counts)*9/10]; hi < 2*lo {
		t.Errorf("per-user Okta volume: 10th percentile %d, 90th %d: no spread", lo, hi)
	}
}

// TestGeography: offices egress from their own country, home addresses stay in it,
// generated addresses stay in their networks, attackers are where nobody works or
// travels.
func TestGeography(t *testing.T) {
	g := newGeography()
	for _, o := range offices {
		if n := g.Lookup(g.Egress(o)); n == nil || n.Country != o.Country || n.Role != geoOffice {
			t.Errorf("%s: egress %v geolocates to %+v", o.Name, g.Egress(o), n)
		}
		for ui := range 300 {
			if n := g.Lookup(g.Home(ui, o)); n == nil || n.Country != o.Country {
				t.Fatalf("%s: home %v of user %d geolocates to %+v", o.Name, g.Home(ui, o), ui, n)
			}
		}
	}
	attackers := map[string]bool{}
	for _, n := range g.Nets {
		if n.Prefix.Addr().Is6() && n.Prefix.Bits() > 32 {
			t.Errorf("%v: IPv6 networks must be /32 or shorter for hostIn", n.Prefix)
		}
		for k := range uint64(600) {
			if a := hostIn(n.Prefix, k); !n.Prefix.Contains(a) || a == n.Prefix.Masked().Addr() {
				t.Fatalf("hostIn(%v, %d) = %v", n.Prefix, k, a)
			}
		}
		if n.Role == geoAttacker {
			attackers[n.Country] = true
		}
	}
	for _, n := range g.Nets {
		if n.Role != geoAttacker && attackers[n.Country] {
			t.Errorf("attacker country %s is also a %d country", n.Country, n.Role)
		}
	}
}
