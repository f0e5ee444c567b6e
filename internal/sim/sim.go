// Package sim generates a synthetic enterprise's logs, in the real formats Vigil's
// decoders read, together with a ground-truth file naming every malicious event.
//
// What is simulated (deterministic from the seed; the wall clock is never read):
//
//   - An organisation: users with department, role, manager, office time zone,
//     working hours, home country and a traveller flag; one workstation each (some a
//     second laptop), Windows servers, Linux servers, domain controllers, the domain
//     corp.example, and internet destinations (popular SaaS/CDN plus a Zipf long tail).
//   - Benign activity per user and day: weekday/weekend seasonality, an hour-of-day
//     profile in the user's time zone, heavy-tailed volumes (lognormal per user,
//     Zipf per destination, lognormal bytes). Logons (4624/4634/4672), process
//     creation (Sysmon 1 and 4688), network connections (Sysmon 3 and Zeek conn),
//     DNS (Sysmon 22 and Zeek dns), SSH and sudo on Linux servers.
//   - Benign novelty episodes recorded in the truth's "benign" list (a misconfigured
//     service failing logons, a backup job's burst).
//   - Attack campaigns (the Campaign interface); the first is password spraying →
//     valid account → lateral movement → credential dumping → staging → exfiltration.
//
// Output: windows/security.json and windows/sysmon.json (evtx_dump JSON, one object
// per line), linux/auth.log (RFC 3164), zeek/conn.log and zeek/dns.log (TSV), and
// truth.json. Each file is in time order; records are generated a day at a time and
// merged by time per file, so memory stays bounded by one day's volume.
package sim

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"
)

// Config sizes a simulation.
type Config struct {
	Seed  uint64
	Users int
	Days  int
	Start time.Time // first day, 00:00 UTC
	Out   string

	// The organisation beyond its size (from --config); zero values take defaults.
	Hosts       HostCounts
	Offices     []OfficeSpec
	Departments []string
	Campaigns   []string // campaign kinds to run (CampaignKinds); empty: all
	NoCampaigns bool     // benign activity only (overrides Campaigns)
	Warmup      *float64 // share of days before the first attack; nil: defaultWarmup
}

// DefaultStart is the first simulated day when none is given: a Monday.
var DefaultStart = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

// Stats reports what was generated.
type Stats struct {
	Events    int64
	Files     map[string]int64
	TruthPath string
}

// Run writes the simulation into cfg.Out.
func Run(cfg Config) (Stats, error) {
	if cfg.Users < 5 || cfg.Users > 100000 {
		return Stats{}, fmt.Errorf("users must be between 5 and 100000, got %d", cfg.Users)
	}
	if cfg.Days < 1 || cfg.Days > 366 {
		return Stats{}, fmt.Errorf("days must be between 1 and 366, got %d", cfg.Days)
	}
	if cfg.Start.IsZero() {
		cfg.Start = DefaultStart
	}
	cfg.Start = cfg.Start.UTC().Truncate(24 * time.Hour)
	g, err := newGenerator(cfg)
	if err != nil {
		return Stats{}, err
	}
	return g.run()
}

type generator struct {
	cfg       Config
	rng       *rand.Rand
	org       *Org
	out       *outputs
	truth     *Truth
	sources   []Source
	procs     *procPicker
	campaigns []Campaign
	episodes  []Episode
	start     time.Time
	end       time.Time

	campEvents map[string][]TruthEvent
	benEvents  map[int][]TruthEvent
}

// truthSink records a tagged record once it is written.
func (g *generator) truthSink(t tag, ev TruthEvent) {
	switch t.kind {
	case tagCampaign:
		id := g.campaigns[t.idx].ID()
		g.campEvents[id] = append(g.campEvents[id], ev)
	case tagBenign:
		g.benEvents[t.idx] = append(g.benEvents[t.idx], ev)
	}
}

func newGenerator(cfg Config) (*generator, error) {
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)) //nolint:gosec // reproducible synthetic data, not secrets
	offs := make([]Office, len(cfg.Offices))
	for i, of := range cfg.Offices {
		offs[i] = Office{Name: of.Name, Offset: of.UTCOffset, Country: of.Country}
	}
	org := NewOrgFrom(rng, OrgSpec{Users: cfg.Users, Hosts: cfg.Hosts, Offices: offs, Departments: cfg.Departments})
	start := cfg.Start
	end := start.Add(time.Duration(cfg.Days) * 24 * time.Hour)
	out, err := newOutputs(cfg.Out, start, end)
	if err != nil {
		return nil, err
	}
	g := &generator{cfg: cfg, rng: rng, org: org, out: out, start: start, end: end,
		truth: &Truth{Version: 1, Generator: "vigil simulate", Seed: cfg.Seed, Start: start, End: end,
			Campaigns: []TruthCampaign{}, Benign: []TruthBenign{}},
		campEvents: map[string][]TruthEvent{}, benEvents: map[int][]TruthEvent{}}
	g.procs = newProcPicker()
	g.sources = planSources(rng, org)
	g.episodes = planEpisodes(rng, org, start, cfg.Days)
	warm := defaultWarmup
	if cfg.Warmup != nil {
		warm = *cfg.Warmup
	}
	if !cfg.NoCampaigns {
		g.campaigns = planCampaigns(rng, org, start, end, cfg.Campaigns, warm)
	}
	return g, nil
}

// marginBefore bounds how far before a UTC day's start a record generated for that
// (local) day may lie: the largest time-zone offset ahead of UTC is below it.
const marginBefore = 14 * time.Hour

func (g *generator) run() (Stats, error) {
	em := &Emitter{out: g.out, org: g.org, rng: g.rng}
	for d := 0; d < g.cfg.Days; d++ {
		day := g.start.Add(time.Duration(d) * 24 * time.Hour)
		g.benignDay(em, day)
		for _, src := range g.sources {
			src.Day(em, day)
		}
		for i, ep := range g.episodes {
			em.tag = tag{kind: tagBenign, idx: i}
			ep.Emit(em, day, day.Add(24*time.Hour))
		}
		for i, c := range g.campaigns {
			em.tag = tag{kind: tagCampaign, idx: i}
			c.Emit(em, day, day.Add(24*time.Hour))
		}
		em.tag = tag{}
		if err := g.out.flush(day.Add(24*time.Hour-marginBefore), g.truthSink); err != nil {
			return Stats{}, err
		}
	}
	if err := g.out.flush(g.end.Add(time.Hour), g.truthSink); err != nil {
		return Stats{}, err
	}
	if err := g.out.close(); err != nil {
		return Stats{}, err
	}
	for _, c := range g.campaigns {
		tc := c.Truth()
		tc.Events = append([]TruthEvent{}, g.campEvents[c.ID()]...)
		g.truth.Campaigns = append(g.truth.Campaigns, tc)
	}
	for i, ep := range g.episodes {
		tb := ep.Truth()
		tb.Events = append([]TruthEvent{}, g.benEvents[i]...)
		g.truth.Benign = append(g.truth.Benign, tb)
	}
	b, err := json.MarshalIndent(g.truth, "", "  ")
	if err != nil {
		return Stats{}, fmt.Errorf("encoding truth: %w", err)
	}
	if err := os.WriteFile(filepath.Join(g.cfg.Out, "truth.json"), append(b, '\n'), 0o600); err != nil {
		return Stats{}, fmt.Errorf("writing truth: %w", err)
	}
	if err := writeIdentities(filepath.Join(g.cfg.Out, "identities.csv"), g.org); err != nil {
		return Stats{}, err
	}
	st := Stats{Files: map[string]int64{}, TruthPath: filepath.Join(g.cfg.Out, "truth.json")}
	for _, f := range g.out.files {
		st.Files[f.name] = f.lines
		st.Events += f.records
	}
	return st, g.out.setModTimes(g.end)
}
