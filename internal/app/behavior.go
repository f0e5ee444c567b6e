package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/correlate/risk"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/detect/behavior"
	"github.com/vigilsec/vigil/internal/detect/behavior/travel"
	"github.com/vigilsec/vigil/internal/detect/ioc"
	"github.com/vigilsec/vigil/internal/enrich/assets"
	"github.com/vigilsec/vigil/internal/enrich/geoip"
	"github.com/vigilsec/vigil/internal/enrich/identity"
	"github.com/vigilsec/vigil/internal/enrich/intel"
	"github.com/vigilsec/vigil/internal/enrich/posture"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/store"
)

// behaviorOptions are hunt's flags for the behavioral models.
type behaviorOptions struct {
	enabled    bool
	identities string
	dir        *identity.Directory // loaded from identities by the caller, or by buildBehavior
	geoip      string
	egress     string
}

func (o *behaviorOptions) register(fs interface {
	StringVar(*string, string, string, string)
	BoolVar(*bool, string, bool, string)
}) {
	fs.BoolVar(&o.enabled, "behavior", true, "run the behavioral models (baselines learned from the input itself; see docs/BEHAVIOR.md)")
	fs.StringVar(&o.identities, "identities", "", "identity directory CSV (user, aliases, department, role, ...): one baseline per person across their names, and peer groups")
	fs.StringVar(&o.geoip, "geoip", "", "directory of MaxMind databases (.mmdb: City or Country, ASN, Anonymous-IP) for sign-in countries, networks and impossible travel")
	fs.StringVar(&o.egress, "egress", "", "corporate egress and VPN networks never taken as travel: comma-separated CIDRs and AS numbers (203.0.113.0/24,AS64500)")
}

// parseEgress reads --egress: CIDR prefixes (a bare address is a /32 or /128) and
// AS numbers ("AS64500" or "64500").
func parseEgress(s string) (nets []netip.Prefix, asns []uint32, err error) {
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if n, ok := strings.CutPrefix(strings.ToUpper(f), "AS"); ok || !strings.ContainsAny(f, ".:/") {
			v, perr := strconv.ParseUint(n, 10, 32)
			if perr != nil {
				return nil, nil, fmt.Errorf("--egress: %q is neither a network nor an AS number", f)
			}
			asns = append(asns, uint32(v))
			continue
		}
		if p, perr := netip.ParsePrefix(f); perr == nil {
			nets = append(nets, p.Masked())
			continue
		}
		a, perr := netip.ParseAddr(f)
		if perr != nil {
			return nil, nil, fmt.Errorf("--egress: %q is neither a network nor an AS number", f)
		}
		nets = append(nets, netip.PrefixFrom(a, a.BitLen()))
	}
	return nets, asns, nil
}

// behaviorEnv is what the models are built from.
type behaviorEnv struct {
	dir        *identity.Directory
	geo        *geoip.Reader
	egressNets []netip.Prefix
	egressASNs []uint32
}

// geoFunc adapts the GeoIP reader to the first-seen model.
func (env behaviorEnv) geoFunc() behavior.GeoFunc {
	if env.geo == nil {
		return nil
	}
	return func(a netip.Addr) (string, string, bool) {
		loc, ok := env.geo.Lookup(a)
		if !ok || loc.Internal {
			return "", "", false
		}
		asn := ""
		if loc.ASN != 0 {
			asn = "AS" + strconv.FormatUint(uint64(loc.ASN), 10)
			if loc.ASOrg != "" {
				asn += " " + loc.ASOrg
			}
		}
		return loc.Country, asn, loc.Country != "" || asn != ""
	}
}

// behaviorModels is the one explicit list of behavioral models hunt and serve run.
func behaviorModels(env behaviorEnv) ([]behavior.Model, error) {
	var peers behavior.PeerFunc
	if env.dir != nil {
		peers = env.dir.PeerGroup
	}
	seasonalModel, err := behavior.NewSeasonal()
	if err != nil {
		return nil, err
	}
	edges, err := behavior.NewEdgeStream(behavior.EdgeStreamConfig{})
	if err != nil {
		return nil, err
	}
	dns, err := behavior.NewDNS()
	if err != nil {
		return nil, err
	}
	models := []behavior.Model{
		behavior.NewFirstSeen(behavior.FirstSeenConfig{}, env.geoFunc(), peers),
		behavior.DefaultC2(),
		seasonalModel,
		edges,
		behavior.DefaultMultivariate(),
		dns,
	}
	if env.geo != nil {
		tm, err := travel.NewEngineModel(travel.Config{ExcludeNets: env.egressNets, ExcludeASNs: env.egressASNs}, env.geo)
		if err != nil {
			return nil, err
		}
		models = append(models, tm)
	}
	return models, nil
}

// loadIdentities reads the identity directory, reporting its rejected rows on w.
func loadIdentities(path string, w io.Writer) (*identity.Directory, error) {
	d, rejected, err := identity.Load(path)
	if err != nil {
		return nil, &ExitError{Code: ExitUsage, Err: fmt.Errorf("--identities: %w", err)}
	}
	for i, r := range rejected {
		if i == 5 {
			fmt.Fprintf(w, "vigil: %s: %d more rows rejected\n", path, len(rejected)-5)
			break
		}
		fmt.Fprintf(w, "vigil: %s: rejected %v\n", path, r)
	}
	return d, nil
}

// loadAssets reads the asset inventory, reporting its rejected rows on w.
func loadAssets(path string, w io.Writer) (*assets.Inventory, error) {
	inv, rejected, err := assets.Load(path)
	if err != nil {
		return nil, &ExitError{Code: ExitUsage, Err: fmt.Errorf("--assets: %w", err)}
	}
	for i, r := range rejected {
		if i == 5 {
			fmt.Fprintf(w, "vigil: %s: %d more rows rejected\n", path, len(rejected)-5)
			break
		}
		fmt.Fprintf(w, "vigil: rejected %v\n", r)
	}
	return inv, nil
}

// loadIntel loads the threat-intelligence feeds into one index (all or nothing)
// and returns the ioc detector over it; it reports each feed's counts and first
// rejects on w.
func loadIntel(paths []string, w io.Writer, quiet bool) (*ioc.Detector, error) {
	sources := make([]intel.Source, len(paths))
	for i, p := range paths {
		sources[i] = intel.Source{Path: p}
	}
	store := intel.NewStore(intel.StoreOptions{})
	idx, err := store.Load(sources)
	if err != nil {
		return nil, &ExitError{Code: ExitUsage, Err: fmt.Errorf("--intel: %w", err)}
	}
	if !quiet {
		for _, f := range idx.Stats().Feeds {
			fmt.Fprintf(w, "intel: %s: %d indicators, %d rejected (%d unsupported), %d duplicates, %d revoked\n",
				f.Name, f.Indicators, f.Rejected, f.Unsupported, f.Duplicates, f.Revoked)
			for i, r := range f.Rejects {
				if i == 3 {
					break
				}
				fmt.Fprintf(w, "  rejected %s: %s\n", r.Place, r.Reason)
			}
		}
	}
	return ioc.New(store, ioc.Options{}), nil
}

// entityResolver tells the correlator which entities are one: a user by the
// identity directory's primary name; a host or an address by the asset
// inventory (an address of an asset is that host) or, for an address, by the
// host that held it at the signal's time (bindings learned from events, DHCP
// leases and logons); else a host by its short name (ws-042 and
// ws-042.corp.example are one host). res or dir may be nil.
func entityResolver(res *assets.Resolver, dir *identity.Directory) func(detect.Entity, time.Time) detect.Entity {
	return func(e detect.Entity, t time.Time) detect.Entity {
		switch e.Kind {
		case detect.EntityUser:
			if dir != nil {
				if p, ok := dir.Lookup(e.Value); ok {
					return detect.Entity{Kind: detect.EntityUser, Value: p.User}
				}
			}
		case detect.EntityHost, detect.EntityIP:
			if res != nil {
				m := res.Lookup(e.Value, t)
				switch {
				case m.Asset != nil:
					return detect.Entity{Kind: detect.EntityHost, Value: event.CanonicalHost(m.Asset.FQDN).Short}
				case m.Host != "":
					return detect.Entity{Kind: detect.EntityHost, Value: event.CanonicalHost(m.Host).Short}
				}
			}
			if e.Kind == detect.EntityHost {
				return detect.Entity{Kind: detect.EntityHost, Value: event.CanonicalHost(e.Value).Short}
			}
		}
		return e
	}
}

// businessContext tells the correlator what the business knows of an entity:
// the asset inventory's criticality for hosts and addresses, the identity
// directory's privileged flag for users. Either may be nil.
func businessContext(inv *assets.Inventory, dir *identity.Directory) func(detect.Entity) (risk.Criticality, bool) {
	if inv == nil && dir == nil {
		return nil
	}
	return func(e detect.Entity) (risk.Criticality, bool) {
		switch e.Kind {
		case detect.EntityHost, detect.EntityIP:
			if inv != nil {
				if m := inv.Lookup(e.Value); m.Asset != nil {
					c, _ := risk.ParseCriticality(m.Asset.Criticality.String())
					return c, false
				}
			}
		case detect.EntityUser:
			if dir != nil {
				if p, ok := dir.Lookup(e.Value); ok {
					return risk.CriticalityUnknown, p.Privileged
				}
			}
		}
		return risk.CriticalityUnknown, false
	}
}

// buildBehavior loads what the models need and builds the engine; it reports the
// identity directory's rejected rows on w. The returned func releases what it opened.
func buildBehavior(o behaviorOptions, log *slog.Logger, w io.Writer) (*behavior.Engine, func(), error) {
	var env behaviorEnv
	var opts behavior.Options
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts.Logger = log
	if o.dir == nil && o.identities != "" {
		d, err := loadIdentities(o.identities, w)
		if err != nil {
			return nil, nil, err
		}
		o.dir = d
	}
	if o.dir != nil {
		env.dir = o.dir
		opts.Users = o.dir.Canonical
	}
	var err error
	if env.egressNets, env.egressASNs, err = parseEgress(o.egress); err != nil {
		return nil, nil, &ExitError{Code: ExitUsage, Err: err}
	}
	closeAll := func() {}
	if o.geoip != "" {
		r, err := geoip.OpenDir(o.geoip, geoip.Options{})
		if err != nil {
			return nil, nil, &ExitError{Code: ExitUsage, Err: fmt.Errorf("--geoip: %w", err)}
		}
		for _, e := range r.Skipped() {
			log.Debug("skipping a GeoIP database", "err", e)
		}
		env.geo = r
		closeAll = func() { _ = r.Close() }
	}
	models, err := behaviorModels(env)
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	eng, err := behavior.NewEngine(models, opts)
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	return eng, closeAll, nil
}

// restoreBehavior loads the models' saved state from the store, if any.
func restoreBehavior(ctx context.Context, st store.Store, eng *behavior.Engine) error {
	var states []behavior.State
	for _, m := range eng.Models() {
		ms, err := st.GetModelState(ctx, m.ID(), "")
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("loading %s state: %w", m.ID(), err)
		}
		states = append(states, behavior.State{ModelID: ms.ModelID, Since: ms.Since, Updated: ms.Updated, Blob: ms.Blob})
	}
	return eng.Restore(states)
}

// saveBehavior stores every model's state, so the next run goes on from it.
func saveBehavior(ctx context.Context, st store.Store, eng *behavior.Engine) error {
	states, err := eng.Snapshot()
	if err != nil {
		return err
	}
	for _, s := range states {
		if err := st.PutModelState(ctx, store.ModelState{ModelID: s.ModelID, Version: 1, Since: s.Since, Updated: s.Updated, Blob: s.Blob}); err != nil {
			return fmt.Errorf("saving %s state: %w", s.ModelID, err)
		}
	}
	return nil
}

// bindingLearner is a detector that emits nothing: it teaches the resolver the
// IP→host bindings events carry (DHCP leases, logons, hosts reporting their own
// addresses), in the detect workers, so the correlator can tell which host held
// an address when a signal named it.
type bindingLearner struct{ res *assets.Resolver }

func (bindingLearner) ID() string      { return "enrich.bindings" }
func (bindingLearner) Version() string { return "1" }
func (l bindingLearner) Detect(_ context.Context, batch []*event.Event, _ func(detect.Signal)) error {
	for _, e := range batch {
		l.res.ObserveEvent(e)
	}
	return nil
}

// huntResolver is the resolver hunt gives the correlator: the asset inventory
// and the bindings learned from the hunted events. A batch resolves every
// signal after every event is read, so bindings are kept for a year of event
// time (the address count still bounds them).
func huntResolver(inv *assets.Inventory) *assets.Resolver {
	return &assets.Resolver{Store: assets.NewStore(inv), Bindings: assets.NewBindings(assets.BindingsConfig{Retain: 366 * 24 * time.Hour})}
}

// activityCounter is a detector that emits nothing: it counts each user's
// events (the user as signals name them), the denominator of the bias report's
// rates. Each batch is counted locally, then merged under one lock.
type activityCounter struct {
	mu     *sync.Mutex
	counts map[string]int64
}

func newActivityCounter() activityCounter {
	return activityCounter{mu: &sync.Mutex{}, counts: map[string]int64{}}
}

func (activityCounter) ID() string      { return "governance.activity" }
func (activityCounter) Version() string { return "1" }
func (a activityCounter) Detect(_ context.Context, batch []*event.Event, _ func(detect.Signal)) error {
	local := map[string]int64{}
	for _, e := range batch {
		if u := e.Str(event.UserName); u != "" {
			local[event.UserRef{Name: u, Domain: e.Str(event.UserDomain)}.Key()]++
		}
	}
	a.mu.Lock()
	for u, n := range local {
		a.counts[u] += n
	}
	a.mu.Unlock()
	return nil
}

// snapshot returns the counts so far.
func (a activityCounter) snapshot() map[string]int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return maps.Clone(a.counts)
}

// postureContext loads vigil scan's posture (path; empty: the data
// directory's posture file, when there is a data directory) for the
// correlator: nil when there is none.
func postureContext(path, dataDir string) (func(detect.Entity) (correlate.Exposure, string), error) {
	if path == "" {
		if dataDir == "" {
			return nil, nil
		}
		path = filepath.Join(dataDir, posture.FileName)
	}
	f, err := posture.Read(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(f.Scans) == 0 {
		return nil, nil
	}
	ix := f.Index()
	return func(e detect.Entity) (correlate.Exposure, string) {
		lv, why := ix.Lookup(string(e.Kind), e.Value)
		return correlate.Exposure(lv), why
	}, nil
}
