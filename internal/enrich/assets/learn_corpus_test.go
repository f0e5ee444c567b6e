package assets

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/decode/formats"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/ingest/files"
)

// learnRun is what learning from a set of files gave.
type learnRun struct {
	events   int
	learned  [numSources]int // bindings and releases Learn found, by source
	recorded int             // of those, recorded by ObserveEvent
	examples [numSources][]string
	pairs    map[string]map[string]bool // ip -> hosts learned for it
	where    map[string]string          // "ip host" -> first source, time and file
	res      *Resolver
}

// learnSink feeds every decoded event to Learn and ObserveEvent.
type learnSink struct {
	e   event.Event
	run *learnRun
	buf []Learned
}

func (s *learnSink) Alloc() *event.Event { s.e.Reset(); return &s.e }

func (s *learnSink) Emit(e *event.Event) {
	r := s.run
	r.events++
	s.buf = Learn(e, s.buf[:0])
	for _, l := range s.buf {
		r.learned[l.Source]++
		if len(r.examples[l.Source]) < 3 {
			verb := "->"
			if l.Release {
				verb = "released by"
			}
			r.examples[l.Source] = append(r.examples[l.Source], fmt.Sprintf("%s %s %s %q (%s)",
				e.Timestamp.UTC().Format(time.RFC3339), l.IP, verb, l.Host, filepath.Base(e.Origin.Source)))
		}
		if !l.Release {
			if r.pairs[l.IP.String()] == nil {
				r.pairs[l.IP.String()] = map[string]bool{}
			}
			r.pairs[l.IP.String()][l.Host] = true
			if r.where == nil {
				r.where = map[string]string{}
			}
			k := l.IP.String() + " " + l.Host
			if _, ok := r.where[k]; !ok {
				r.where[k] = fmt.Sprintf("%s %s %s", l.Source, e.Timestamp.UTC().Format(time.RFC3339), filepath.Base(e.Origin.Source))
			}
		}
	}
	r.recorded += r.res.ObserveEvent(e)
}

func (s *learnSink) Reject(*decode.RecordError) {}

// learnFiles decodes every file under roots (format sniffed, as hunt does) and
// learns bindings from the events, in file order.
func learnFiles(t testing.TB, roots ...string) *learnRun {
	t.Helper()
	paths, errs := files.Expand(roots)
	for _, err := range errs {
		t.Logf("expanding: %v", err)
	}
	sort.Strings(paths)
	reg := formats.Default()
	run := &learnRun{pairs: map[string]map[string]bool{}, res: &Resolver{Bindings: NewBindings(BindingsConfig{})}}
	sink := &learnSink{run: run}
	for _, p := range paths {
		err := files.Open(p, 0, func(st files.Stream) error {
			br := bufio.NewReaderSize(st.R, decode.SniffSize)
			head, _ := br.Peek(decode.SniffSize)
			if len(head) == 0 {
				return nil
			}
			d, err := reg.Detect(head)
			if err != nil {
				return nil // not a log (README, images)
			}
			in := decode.Input{R: br, Source: st.Name, ModTime: st.ModTime}
			if err := d.Format.New().Decode(context.Background(), in, sink); err != nil && !errors.Is(err, io.EOF) {
				t.Logf("decoding %s: %v", st.Name, err)
			}
			return nil
		})
		if err != nil {
			t.Logf("%v", err)
		}
	}
	return run
}

func (r *learnRun) report(t testing.TB, name string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d events, %d recorded by ObserveEvent, %d addresses tracked\n", name, r.events, r.recorded, r.res.Bindings.Stats().IPs)
	for s := range numSources {
		fmt.Fprintf(&b, "  %-16s %6d\n", s, r.learned[s])
		for _, x := range r.examples[s] {
			fmt.Fprintf(&b, "      %s\n", x)
		}
	}
	multi := 0
	for _, hs := range r.pairs {
		shorts := map[string]bool{}
		for h := range hs {
			shorts[event.CanonicalHost(h).Short] = true
		}
		if len(shorts) > 1 {
			multi++
		}
	}
	fmt.Fprintf(&b, "  addresses learned for more than one host (by short name): %d of %d\n", multi, len(r.pairs))
	t.Log(b.String())
}

// TestLearnEVTXCorpus: known answers read off EVTX-ATTACK-SAMPLES.
//   - PC01 at 10.0.2.17: a 4624 RDP-tunnelled network logon on PC02 from
//     WorkstationName PC01 at 10.0.2.17 (Command and Control/DE_RDP_Tunneling_4624.evtx), and
//     PC01's own Sysmon connections from 10.0.2.17 (DE_sysmon-3-rdp-tun.evtx).
//   - ALICE at 10.59.4.20 and DC1 at 10.59.4.11: ALICE's Sysmon outbound
//     connections (discovery_sysmon_3_Invoke_UserHunter_SourceMachine.evtx) and
//     DC1's inbound one, which Sysmon wrote with DC1's own end as the source
//     (discovery_enum_shares_target_sysmon_3_18.evtx): the peer 10.59.4.20
//     must not be bound to DC1.
//   - 02694W-WIN10 at 172.16.66.25: its machine account's Kerberos network
//     logon (remote_sam_registry_access_via_backup_operator_priv.evtx).
func TestLearnEVTXCorpus(t *testing.T) {
	dir := corpus(t, "evtx-attack-samples")
	run := learnFiles(t, dir)
	run.report(t, "evtx-attack-samples")
	if testing.Verbose() {
		run.dumpPairs(t)
	}
	if run.events < 10000 {
		t.Fatalf("%d events decoded", run.events)
	}
	for _, k := range []struct{ ip, host string }{
		{"10.0.2.17", "pc01"},
		{"10.0.2.17", "pc01.example.corp"},
		{"10.59.4.20", "alice.insecurebank.local"},
		{"10.59.4.11", "dc1.insecurebank.local"},
		{"172.16.66.25", "02694w-win10.threebeesco.com"},
	} {
		if !run.pairs[k.ip][k.host] {
			t.Errorf("%s not learned for %s (learned %v)", k.host, k.ip, run.pairs[k.ip])
		}
	}
	if run.pairs["10.59.4.20"]["dc1.insecurebank.local"] || run.pairs["10.59.4.11"]["alice.insecurebank.local"] {
		t.Errorf("a Sysmon connection's peer was bound to the reporting host: %v %v", run.pairs["10.59.4.20"], run.pairs["10.59.4.11"])
	}
	// The corpus spans years of unrelated labs, so the resolver is asked on
	// one file: at the logon's time it answers with the workstation, a lease
	// (24 h) after the last logon with nothing.
	one := learnFiles(t, filepath.Join(dir, "Command and Control", "DE_RDP_Tunneling_4624.evtx"))
	ip := netip.MustParseAddr("10.0.2.17")
	for _, q := range []struct {
		t    time.Time
		want string
	}{
		{time.Date(2019, 2, 13, 15, 31, 18, 0, time.UTC), ""},
		{time.Date(2019, 2, 13, 15, 31, 20, 0, time.UTC), "pc01"},
		{time.Date(2019, 2, 14, 15, 0, 0, 0, time.UTC), "pc01"},
		{time.Date(2019, 2, 15, 0, 0, 0, 0, time.UTC), ""},
	} {
		if m := one.res.HostAt(ip, q.t); m.Host != q.want {
			t.Errorf("HostAt(%s, %v) = %q, want %q", ip, q.t, m.Host, q.want)
		}
	}
}

// TestLearnAPT29Zeek: the APT29 Zeek logs carry no DHCP, NTLM or RDP logs; the
// machine accounts' Kerberos AS requests bind each workstation's address, and
// agree with the bindings TestAPT29ZeekBindings reads off the raw JSON.
func TestLearnAPT29Zeek(t *testing.T) {
	dir := corpus(t, "zeek/apt29")
	run := learnFiles(t, dir)
	run.report(t, "zeek/apt29")
	want := map[string]string{
		"10.0.1.5": "utica.dmevals.local",
	}
	for ip, host := range want {
		if !run.pairs[ip][host] {
			t.Errorf("%s not learned for %s (learned %v)", host, ip, run.pairs[ip])
		}
	}
}

// TestLearnMeasure reports what Learn finds in the files named by
// VIGIL_LEARN_MEASURE (space-separated paths; for measuring other data sets,
// e.g. a simulated enterprise). Skipped when unset.
func TestLearnMeasure(t *testing.T) {
	v := os.Getenv("VIGIL_LEARN_MEASURE")
	if v == "" {
		t.Skip("VIGIL_LEARN_MEASURE not set")
	}
	for _, p := range strings.Fields(v) {
		learnFiles(t, p).report(t, p)
	}
}

func (r *learnRun) dumpPairs(t testing.TB) {
	for k, w := range r.where {
		t.Logf("%s: %s", k, w)
	}
}
