package sim

import (
	"math/rand/v2"
	"slices"
	"time"
)

// Source adds one kind of benign activity (Kubernetes API use, cloud API calls,
// identity-provider sign-ins, ...) for each simulated day, on top of the per-user
// Windows, Linux and network day of benignDay.
type Source interface {
	Day(em *Emitter, day time.Time)
}

// planSources builds the benign activity sources beyond benignDay.
func planSources(rng *rand.Rand, org *Org) []Source {
	return []Source{
		newShareSource(org),
		newIdentitySource(rng, org),
		newKubeSource(rng, org),
		newCloudSource(rng, org),
	}
}

// defaultWarmup is the share of the simulated days kept free of attacks, so
// behavioral models can learn baselines first (as a UEBA deployment would).
const defaultWarmup = 0.35

// campaignKind is a kind of attack campaign the simulator can inject.
type campaignKind struct {
	kind string // name in --campaigns and the organisation file
	id   string // the campaign's id in the truth
	new  func(id string) Campaign
}

// campaignKinds are every campaign kind, in planning order.
var campaignKinds = []campaignKind{
	{"spray", "c1", func(id string) Campaign { return NewSprayCampaign(id) }},
	{"ransomware", "rw1", func(id string) Campaign { return NewRansomwareCampaign(id) }},
	{"c2-http", "c2http", func(id string) Campaign { return NewBeaconCampaign(id) }},
	{"c2-dns", "c2dns", func(id string) Campaign { return NewTunnelCampaign(id) }},
	{"insider", "insider1", func(id string) Campaign { return NewInsiderCampaign(id) }},
	{"account-takeover", "ato1", func(id string) Campaign { return NewATOCampaign(id) }},
	{"kubernetes", "k8s1", func(id string) Campaign { return NewKubeCampaign(id) }},
	{"aws", "aws1", func(id string) Campaign { return NewCloudCampaign(id) }},
}

// CampaignKinds names the campaign kinds, in planning order.
func CampaignKinds() []string {
	out := make([]string, len(campaignKinds))
	for i, k := range campaignKinds {
		out[i] = k.kind
	}
	return out
}

// planCampaigns builds the campaigns of the chosen kinds (all when kinds is empty)
// and gives each a window to begin in. The first warmup share of the days is kept
// free of attacks; after it, each campaign's window is the rest of the run but its
// last day, so campaigns overlap as real intrusions do, and each campaign fits its
// own chain into the time left (a long insider story stretches over several days
// when it starts early, fewer when late). What would fall after the simulation's
// end is not written and not in the truth.
func planCampaigns(rng *rand.Rand, org *Org, start, end time.Time, kinds []string, warmup float64) []Campaign {
	var cs []Campaign
	for _, k := range campaignKinds {
		if len(kinds) == 0 || slices.Contains(kinds, k.kind) {
			cs = append(cs, k.new(k.id))
		}
	}
	from := start.Add(time.Duration(float64(end.Sub(start)) * warmup)).Truncate(time.Hour)
	to := end.Add(-24 * time.Hour)
	if to.Sub(from) < 6*time.Hour {
		from, to = start, end
	}
	for _, c := range cs {
		c.Plan(rng, org, from, to)
	}
	return cs
}
