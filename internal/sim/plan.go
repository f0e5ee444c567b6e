package sim

import (
	"math/rand/v2"
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
	_, _ = rng, org
	return []Source{
		newShareSource(org),
	}
}

// warmup is the share of the simulated days kept free of attacks, so behavioral
// models can learn baselines first (as a UEBA deployment would).
const warmup = 0.35

// planCampaigns builds the attack campaigns and gives each a window to begin in:
// after the warm-up, the remaining days are cut into as many consecutive windows as
// there are campaigns, in a seeded random order. A campaign may run past its
// window's end (an insider hoards for days); what falls after the simulation's end
// is not written and not in the truth.
func planCampaigns(rng *rand.Rand, org *Org, start, end time.Time) []Campaign {
	cs := []Campaign{
		NewSprayCampaign("c1"),
		NewRansomwareCampaign("rw1"),
		NewBeaconCampaign("c2http"),
		NewTunnelCampaign("c2dns"),
		NewInsiderCampaign("insider1"),
	}
	from := start.Add(time.Duration(float64(end.Sub(start)) * warmup)).Truncate(time.Hour)
	if end.Sub(from) < 6*time.Hour {
		from = start
	}
	slot := end.Sub(from) / time.Duration(len(cs))
	order := rng.Perm(len(cs))
	for i, c := range cs {
		w := from.Add(time.Duration(order[i]) * slot)
		c.Plan(rng, org, w, w.Add(slot))
	}
	return cs
}
