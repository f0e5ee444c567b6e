package behavior

import (
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"time"

	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/detect/behavior/dnsanomaly"
)

// DNS wires the DNS analytics (package dnsanomaly: tunnels, DGA-like names, rare
// domains) into the engine. Queries come from resolver or sensor logs (Zeek
// dns.log: the client is the asking address); endpoint DNS events (Sysmon 22,
// the client is the host) are used only while no resolver log has been seen, so
// one query is not counted twice under two names.
type DNS struct {
	m        *dnsanomaly.Model
	buf      []dnsanomaly.Finding
	resolver bool // a resolver-side query was seen
}

// NewDNS builds the model with dnsanomaly's defaults.
func NewDNS() (*DNS, error) {
	m, err := dnsanomaly.New(dnsanomaly.DefaultConfig())
	if err != nil {
		return nil, fmt.Errorf("building DNS model: %w", err)
	}
	return &DNS{m: m}, nil
}

// ID implements Model.
func (*DNS) ID() string { return "behavior.dns" }

// Version implements Model.
func (*DNS) Version() string { return dnsanomaly.Version }

// Observe implements Model.
func (d *DNS) Observe(o *Obs, out *Emitter) {
	if o.Kind != KindDNS || o.Target == (Sym{}) {
		return
	}
	client := ""
	switch {
	case o.Host == (Sym{}) && o.SrcIP.IsValid():
		d.resolver = true
		client = o.SrcIP.String()
	case !d.resolver && o.Host != (Sym{}):
		client = str(o.Host)
	default:
		return
	}
	rcode := "NOERROR"
	switch {
	case o.Fail:
		rcode = "NXDOMAIN"
	case o.Status != 0:
		rcode = "SERVFAIL"
	}
	d.buf = d.m.Observe(dnsanomaly.Query{Time: unixTime(o.Time), Client: client, Name: str(o.Target), QType: str(o.Extra), RCode: rcode, EventID: evidenceKey(o)}, d.buf[:0])
	for i := range d.buf {
		d.emit(&d.buf[i], out)
	}
}

func (d *DNS) emit(f *dnsanomaly.Finding, out *Emitter) {
	fin := Finding{Time: f.Time.UnixNano(), Confidence: f.Confidence, RuleID: "dns." + string(f.Kind), Normal: NormalKey{Attribute: f.Domain}}
	if f.Client != "" {
		fin.Entities = append(fin.Entities, clientEntity(f.Client))
	}
	fin.Entities = append(fin.Entities, detect.Entity{Kind: detect.EntityDomain, Value: f.Domain})
	for _, k := range f.EventIDs {
		if r, ok := evidenceRef(k); ok {
			fin.Evidence = append(fin.Evidence, r)
		}
	}
	who := f.Client
	if who == "" {
		who = "several hosts"
	}
	switch f.Kind {
	case dnsanomaly.FindingTunnel:
		fin.Title, fin.Severity = "DNS tunnel to "+f.Domain+" from "+who, detect.SeverityHigh
		fin.Tactics, fin.Techniques = []string{"command-and-control", "exfiltration"}, []string{"T1071.004", "T1048.003"}
	case dnsanomaly.FindingDGA:
		fin.Title, fin.Severity = "Algorithmically generated domain "+f.Domain+" queried by "+who, detect.SeverityMedium
		fin.Tactics, fin.Techniques = []string{"command-and-control"}, []string{"T1568.002"}
	default:
		fin.Title, fin.Severity = "Rare domain "+f.Domain+" queried by "+who, detect.SeverityLow
		fin.Tactics, fin.Techniques = []string{"command-and-control"}, []string{"T1071"}
	}
	var expected, observed string
	total := 0.0
	for _, ft := range f.Features {
		total += max(ft.Z, 0)
	}
	for i, ft := range f.Features {
		w := 0.0
		if total > 0 {
			w = max(ft.Z, 0) / total
		}
		fin.Explain.Features = append(fin.Explain.Features, detect.Feature{
			Name: ft.Name, Observed: strconv.FormatFloat(ft.Observed, 'g', 4, 64),
			Expected: strconv.FormatFloat(ft.Baseline, 'g', 4, 64), Weight: w,
		})
		if i < 3 {
			if i > 0 {
				expected += "; "
				observed += "; "
			}
			expected += fmt.Sprintf("%s %.4g", ft.Name, ft.Baseline)
			observed += fmt.Sprintf("%s %.4g (z %.1f)", ft.Name, ft.Observed, ft.Z)
		}
	}
	fin.Explain.Summary, fin.Explain.Expected, fin.Explain.Observed, fin.Explain.Score = f.Summary, expected, observed, f.Score
	if len(f.Names) > 0 {
		fin.Explain.Matches = []detect.FieldMatch{{Field: "dns.question.name", Value: f.Names[0]}}
	}
	out.Emit(fin)
}

// clientEntity names a DNS client: an address or a host.
func clientEntity(c string) detect.Entity {
	if a, err := parseAddr(c); err == nil && a.IsValid() {
		return detect.Entity{Kind: detect.EntityIP, Value: c}
	}
	return detect.Entity{Kind: detect.EntityHost, Value: c}
}

// Advance implements Model (the DNS model closes its windows as queries arrive).
func (*DNS) Advance(int64, *Emitter) {}

// MarkNormal implements Normalizer: attribute is a domain the analyst declares
// normal (for every client); entity is not needed.
func (d *DNS) MarkNormal(_, attribute string, _ time.Time) bool {
	return d.m.MarkNormal(attribute) == nil
}

// Snapshot implements Model.
func (d *DNS) Snapshot(w io.Writer) error {
	var flag [1]byte
	if d.resolver {
		flag[0] = 1
	}
	if _, err := w.Write(flag[:]); err != nil {
		return fmt.Errorf("writing DNS state: %w", err)
	}
	if err := d.m.Snapshot(w); err != nil {
		return fmt.Errorf("snapshotting DNS model: %w", err)
	}
	return nil
}

// Restore implements Model.
func (d *DNS) Restore(r io.Reader) error {
	var flag [1]byte
	if _, err := io.ReadFull(r, flag[:]); err != nil || flag[0] > 1 {
		return fmt.Errorf("restoring DNS state: bad header")
	}
	if err := d.m.Restore(r); err != nil {
		return fmt.Errorf("restoring DNS model: %w", err)
	}
	d.resolver = flag[0] == 1
	return nil
}

// Stats implements Model.
func (d *DNS) Stats() ModelStats {
	domains, pairs, clients, bytes := d.m.Size()
	return ModelStats{Entities: domains + pairs + clients, Bytes: bytes, Trained: d.m.Stats().Queries > 0}
}

var (
	_ Model      = (*DNS)(nil)
	_ Normalizer = (*DNS)(nil)
)

func parseAddr(s string) (netip.Addr, error) { return netip.ParseAddr(s) }
