package sim

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"
)

// Campaign is an attack injected into the benign activity. Plan draws its schedule
// and targets once, beginning within [from, to) (planCampaigns spreads campaigns
// over the period); Emit writes the campaign's records whose time lies in [from, to)
// (it is called once per simulated day); Truth describes it (events are filled in by
// the generator from the records' final offsets).
type Campaign interface {
	ID() string
	Plan(rng *rand.Rand, org *Org, from, to time.Time)
	Emit(em *Emitter, from, to time.Time)
	Truth() TruthCampaign
}

// step is one scheduled malicious action.
type step struct {
	t         time.Time
	technique string
	emit      func(em *Emitter, t time.Time, technique string)
}

// schedule is the common part of campaigns: time-ordered steps.
type schedule struct {
	steps []step
}

func (s *schedule) at(t time.Time, technique string, f func(em *Emitter, t time.Time, technique string)) {
	s.steps = append(s.steps, step{t, technique, f})
}

func (s *schedule) emit(em *Emitter, from, to time.Time) {
	for _, st := range s.steps {
		if !st.t.Before(from) && st.t.Before(to) {
			st.emit(em, st.t, st.technique)
		}
	}
}

func (s *schedule) span() (time.Time, time.Time, []string) {
	var a, b time.Time
	var techs []string
	for i, st := range s.steps {
		if i == 0 || st.t.Before(a) {
			a = st.t
		}
		if st.t.After(b) {
			b = st.t
		}
		if !slices.Contains(techs, st.technique) {
			techs = append(techs, st.technique)
		}
	}
	slices.Sort(techs)
	return a, b, techs
}

// within draws a time in the first share of [from, to) (at least its first hour).
func within(rng *rand.Rand, from, to time.Time, share float64) time.Time {
	d := max(time.Duration(float64(to.Sub(from))*share), time.Hour)
	return from.Add(time.Duration(rng.Int64N(int64(d)))).Truncate(time.Second)
}

// SprayCampaign: password spraying from an external address against many users,
// one valid logon, lateral movement with a PsExec-like service, LSASS dumping,
// staging in an archive and exfiltration over HTTPS to a rare destination.
type SprayCampaign struct {
	id string
	schedule
	attacker netip.Addr
	exfil    Dest
	victim   *User
	ws       *Host
	target   *Host
}

// NewSprayCampaign returns the campaign with the given id.
func NewSprayCampaign(id string) *SprayCampaign { return &SprayCampaign{id: id} }

// ID implements Campaign.
func (c *SprayCampaign) ID() string { return c.id }

// Plan implements Campaign.
func (c *SprayCampaign) Plan(rng *rand.Rand, org *Org, from, to time.Time) {
	t0 := within(rng, from, to, 0.5) // the chain runs about three hours after it
	c.attacker = netip.AddrFrom4([4]byte{203, 0, 113, byte(2 + rng.IntN(250))})
	c.exfil = Dest{Name: fmt.Sprintf("cdn-sync%d.files-share.example", rng.IntN(1000)), IP: netip.AddrFrom4([4]byte{198, 51, 100, byte(2 + rng.IntN(250))})}
	// The sprayed users; the victim (whose password was the sprayed one) is among them.
	perm := rng.Perm(len(org.Users))
	sprayed := perm[:min(len(perm), 60)]
	c.victim = &org.Users[sprayed[rng.IntN(len(sprayed))]]
	c.ws = &org.Hosts[c.victim.Hosts[0]]
	c.target = &org.Hosts[org.Servers[len(org.Servers)-1]]
	dc := &org.Hosts[org.DCs[0]]
	t := t0
	// 1. Spraying: one failure per user, a few seconds apart.
	for _, i := range sprayed {
		u := &org.Users[i]
		c.at(t, "T1110.003", func(em *Emitter, t time.Time, tech string) {
			em.Win(t, tech, false, 4625, dc.Name, []KV{{"SubjectUserSid", "S-1-0-0"}, {"TargetUserName", u.Name}, {"TargetDomainName", NetBIOSDomain}, {"Status", "0xc000006d"}, {"SubStatus", "0xc000006a"}, {"LogonType", "3"}, {"AuthenticationPackageName", "NTLM"}, {"WorkstationName", "-"}, {"IpAddress", c.attacker.String()}, {"IpPort", "0"}})
		})
		t = t.Add(time.Duration(2+rng.IntN(6)) * time.Second)
	}
	// 2. Valid account.
	t = t.Add(3 * time.Minute)
	c.at(t, "T1078.002", func(em *Emitter, t time.Time, tech string) {
		em.Win(t, tech, false, 4624, dc.Name, logonData(c.victim, "3", "0x7a11", "-", c.attacker.String(), "NTLM"))
	})
	// 3. Lateral movement: network logon on the server, then a PsExec service and its child.
	t = t.Add(time.Duration(20+rng.IntN(60)) * time.Minute)
	c.at(t, "T1021.002", func(em *Emitter, t time.Time, tech string) {
		em.Win(t, tech, false, 4624, c.target.Name, logonData(c.victim, "3", "0x7b22", c.ws.Short, c.ws.IP.String(), "NTLM"))
	})
	t = t.Add(4 * time.Second)
	c.at(t, "T1569.002", func(em *Emitter, t time.Time, tech string) {
		em.Win(t, tech, true, 1, c.target.Name, []KV{{"ProcessId", "4411"}, {"Image", `C:\Windows\PSEXESVC.exe`}, {"CommandLine", `C:\Windows\PSEXESVC.exe`}, {"User", `NT AUTHORITY\SYSTEM`}, {"ParentImage", `C:\Windows\System32\services.exe`}, {"IntegrityLevel", "System"}})
	})
	t = t.Add(2 * time.Second)
	c.at(t, "T1569.002", func(em *Emitter, t time.Time, tech string) {
		em.Win(t, tech, true, 1, c.target.Name, []KV{{"ProcessId", "4420"}, {"Image", `C:\Windows\System32\cmd.exe`}, {"CommandLine", `"cmd.exe"`}, {"User", `CORP\` + c.victim.Name}, {"ParentImage", `C:\Windows\PSEXESVC.exe`}, {"IntegrityLevel", "High"}})
	})
	// 4. Credential dumping: LSASS access and a procdump command line.
	t = t.Add(time.Duration(3+rng.IntN(10)) * time.Minute)
	c.at(t, "T1003.001", func(em *Emitter, t time.Time, tech string) {
		em.Win(t, tech, true, 1, c.target.Name, []KV{{"ProcessId", "5120"}, {"Image", `C:\Users\Public\procdump64.exe`}, {"CommandLine", `procdump64.exe -accepteula -ma lsass.exe C:\Users\Public\ls.dmp`}, {"User", `CORP\` + c.victim.Name}, {"ParentImage", `C:\Windows\System32\cmd.exe`}, {"IntegrityLevel", "High"}})
	})
	t = t.Add(time.Second)
	c.at(t, "T1003.001", func(em *Emitter, t time.Time, tech string) {
		em.Win(t, tech, true, 10, c.target.Name, []KV{{"SourceProcessId", "5120"}, {"SourceImage", `C:\Users\Public\procdump64.exe`}, {"TargetProcessId", "684"}, {"TargetImage", `C:\Windows\system32\lsass.exe`}, {"GrantedAccess", "0x1fffff"}, {"SourceUser", `CORP\` + c.victim.Name}})
	})
	// 5. Staging.
	t = t.Add(time.Duration(30+rng.IntN(90)) * time.Minute)
	c.at(t, "T1560.001", func(em *Emitter, t time.Time, tech string) {
		em.Win(t, tech, true, 1, c.target.Name, []KV{{"ProcessId", "6230"}, {"Image", `C:\Program Files\7-Zip\7z.exe`}, {"CommandLine", `7z.exe a -pinfected C:\Users\Public\data.7z \\fs01\finance`}, {"User", `CORP\` + c.victim.Name}, {"ParentImage", `C:\Windows\System32\cmd.exe`}, {"IntegrityLevel", "High"}})
	})
	// 6. Exfiltration over HTTPS to a rare destination.
	t = t.Add(time.Duration(10+rng.IntN(30)) * time.Minute)
	c.at(t, "T1048.002", func(em *Emitter, t time.Time, tech string) {
		em.DNS(t, tech, c.target.IP, 51515, c.exfil.Name, c.exfil.IP)
	})
	t = t.Add(50 * time.Millisecond)
	c.at(t, "T1048.002", func(em *Emitter, t time.Time, tech string) {
		em.Conn(t, tech, c.target.IP, 51516, c.exfil.IP, 443, "ssl", 14*time.Minute, 1_800_000_000, 90_000)
	})
}

// Emit implements Campaign.
func (c *SprayCampaign) Emit(em *Emitter, from, to time.Time) { c.emit(em, from, to) }

// Truth implements Campaign.
func (c *SprayCampaign) Truth() TruthCampaign {
	a, b, techs := c.span()
	return TruthCampaign{ID: c.id, Name: "password spraying to exfiltration", Start: a, End: b, Techniques: techs,
		Entities: []TruthEntity{c.victim.Entity(), c.target.Entity(), c.ws.Entity(),
			ipEntity(c.attacker), ipEntity(c.exfil.IP)}}
}
