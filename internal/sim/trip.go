package sim

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"time"
)

// tripAbroad is a benign episode: a travelling employee flies abroad. Their
// sign-ins stop for the flight and resume from a hotel and a mobile roaming address
// in the destination country for several days, then the user flies home. The
// country is new but the travel is physically possible: the gap between the last
// sign-in at home and the first abroad exceeds the flight time at airliner speed.
type tripAbroad struct {
	id       string
	ui       int
	u        *User
	dest     *GeoNet
	hotel    netip.Addr
	roam     netip.Addr
	depart   time.Time // leaves for the airport: no home sign-ins from here on
	back     time.Time // home again
	sessions []tripSession
	s        signer
}

type tripSession struct {
	t     time.Time
	p     place
	first bool
}

// flightSpeed is the average airliner ground speed (km/h) trips are planned with;
// the ground time before and after a flight comes on top.
const flightSpeed = 800

// newTripAbroad plans the trip of a traveller (any user when none travels) within
// the simulated days, and tells the geography the user is away meanwhile.
func newTripAbroad(id string, rng *rand.Rand, org *Org, start time.Time, days int) *tripAbroad {
	r := rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64())) //nolint:gosec // reproducible synthetic data
	var cand []int
	for i := range org.Users {
		if org.Users[i].Traveller {
			cand = append(cand, i)
		}
	}
	if len(cand) == 0 {
		cand = []int{r.IntN(len(org.Users))}
	}
	ui := cand[r.IntN(len(cand))]
	u := &org.Users[ui]
	geo := org.Geo
	dests := geo.nets(geoTravel, "")
	dest := dests[r.IntN(len(dests))]
	tr := &tripAbroad{id: id, ui: ui, u: u, dest: dest, s: signer{w: idWriter{rng: r}, org: org},
		hotel: hostIn(dest.Prefix, uint64(10+r.IntN(50))), roam: hostIn(dest.Prefix, uint64(70+r.IntN(50)))}

	// The flight is timed from the farthest place the user signs in from at home.
	far := 0.0
	for _, n := range append(geo.nets(geoOffice, u.Office.Country), geo.nets(geoHome, u.Office.Country)...) {
		far = max(far, distanceKm(n, dest))
	}
	flight := time.Duration((far/flightSpeed + 2.5) * float64(time.Hour)) // plus airports and transfers
	stay := 3 + r.IntN(4)
	d0 := r.IntN(max(1, days-stay-2))
	local := start.Add(time.Duration(d0)*24*time.Hour - time.Duration(u.Office.Offset)*time.Hour)
	tr.depart = local.Add(time.Duration((14 + 4*r.Float64()) * float64(time.Hour))).Truncate(time.Second)
	arrive := tr.depart.Add(flight)
	// The destination's clock, from its longitude (the table has no time zones).
	destOff := time.Duration(math.Round(dest.Lon/15)) * time.Hour
	hotel, roam := place{ip: tr.hotel, geo: dest, zone: "null"}, place{ip: tr.roam, geo: dest, zone: "null"}
	first := arrive.Add(time.Duration((1 + 2*r.Float64()) * float64(time.Hour))).Truncate(time.Second)
	tr.sessions = append(tr.sessions, tripSession{t: first, p: roam, first: true})
	dayAbroad := first.Add(destOff).Truncate(24 * time.Hour).Add(-destOff) // midnight at the destination
	var leave time.Time
	for i := 1; i <= stay; i++ {
		d := dayAbroad.Add(time.Duration(i) * 24 * time.Hour)
		t := d.Add(time.Duration((7.5 + 1.5*r.Float64()) * float64(time.Hour))).Truncate(time.Second)
		p := hotel
		if r.Float64() < 0.3 {
			p = roam
		}
		tr.sessions = append(tr.sessions, tripSession{t: t, p: p})
		leave = d.Add(time.Duration((16 + 3*r.Float64()) * float64(time.Hour)))
	}
	tr.back = leave.Add(flight).Truncate(time.Second)
	geo.away[ui] = append(geo.away[ui], span{tr.depart, tr.back})
	return tr
}

// Emit implements Episode.
func (tr *tripAbroad) Emit(em *Emitter, from, to time.Time) {
	rng := tr.s.w.rng
	dev := deviceOf(tr.u)
	host := tr.s.org.Hosts[tr.u.Hosts[0]].Short
	for _, ss := range tr.sessions {
		if ss.t.Before(from) || !ss.t.Before(to) {
			continue
		}
		t, sess := tr.s.login(em, "", tr.u, dev, ss.p, ss.t, false, false)
		tr.s.ms365(em, "", tr.u, dev, host, ss.p, &entraApps[entraExchange], t.Add(time.Duration(20+rng.IntN(120))*time.Second), 0, entraOK)
		if ss.first {
			continue // a quick look at the mail on arrival
		}
		for range 1 + rng.IntN(4) {
			t = t.Add(time.Duration(10+rng.IntN(90)) * time.Minute)
			tr.s.sso(em, "", tr.u, dev, ss.p, sess, &oktaApps[rng.IntN(len(oktaApps))], t)
		}
		tr.s.ms365(em, "", tr.u, dev, host, ss.p, &entraApps[1], t.Add(time.Duration(1+rng.IntN(30))*time.Minute), 0, entraOK)
	}
}

// Truth implements Episode.
func (tr *tripAbroad) Truth() TruthBenign {
	return TruthBenign{ID: tr.id, Kind: "trip_abroad", Start: tr.depart, End: tr.back,
		Entities: []TruthEntity{tr.u.Entity(), ipEntity(tr.hotel), ipEntity(tr.roam)}}
}
