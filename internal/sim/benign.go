package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"time"
)

// proc is a kind of benign process start: what runs, how, under whom, and for
// which roles ("" for everyone).
type proc struct {
	image, cmd, parent string
	system             bool // runs as SYSTEM (services), not as the user
	role               string
	weight             float64
}

const (
	explorer = `C:\Windows\explorer.exe`
	services = `C:\Windows\System32\services.exe`
	chrome   = `C:\Program Files\Google\Chrome\Application\chrome.exe`
)

// procs are the process starts of a working day on a workstation, with the parent
// and command line each really has (Sigma rules read both).
var procs = []proc{
	{chrome, `"` + chrome + `"`, explorer, false, "", 6},
	{chrome, `"` + chrome + `" --type=renderer --lang=en-GB --renderer-client-id=7`, chrome, false, "", 8},
	{`C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE`, `"C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE"`, explorer, false, "", 3},
	{`C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE`, `"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE" /n`, explorer, false, "", 2},
	{`C:\Program Files\Microsoft Office\root\Office16\EXCEL.EXE`, `"C:\Program Files\Microsoft Office\root\Office16\EXCEL.EXE"`, explorer, false, "", 2},
	{`C:\Program Files\Slack\slack.exe`, `"C:\Program Files\Slack\slack.exe" --process-start-args --startup`, explorer, false, "", 1},
	{`C:\Windows\System32\svchost.exe`, `C:\Windows\system32\svchost.exe -k netsvcs -p -s Schedule`, services, true, "", 2},
	{`C:\Windows\System32\svchost.exe`, `C:\Windows\system32\svchost.exe -k UnistackSvcGroup`, services, true, "", 1},
	{`C:\Windows\System32\backgroundTaskHost.exe`, `"C:\Windows\system32\backgroundTaskHost.exe" -ServerName:BackgroundTaskHost.WebAccountProvider`, `C:\Windows\System32\svchost.exe`, false, "", 1},
	{`C:\Windows\System32\notepad.exe`, `"C:\Windows\system32\notepad.exe"`, explorer, false, "", 0.5},
	{`C:\Users\Public\AppData\Local\Programs\Microsoft VS Code\Code.exe`, `"C:\Users\Public\AppData\Local\Programs\Microsoft VS Code\Code.exe"`, explorer, false, "developer", 4},
	{`C:\Program Files\Git\cmd\git.exe`, `git.exe fetch --all --prune`, `C:\Users\Public\AppData\Local\Programs\Microsoft VS Code\Code.exe`, false, "developer", 5},
	{`C:\Program Files\Python312\python.exe`, `python.exe -m pytest tests`, `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`, false, "developer", 2},
	{`C:\Windows\System32\mmc.exe`, `"C:\Windows\system32\mmc.exe" "C:\Windows\system32\dsa.msc"`, explorer, false, "admin", 2},
	{`C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`, `"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe"`, explorer, false, "admin", 2},
	{`C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`, `"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe"`, explorer, false, "developer", 1},
}

// procPicker draws process starts by weight for one role.
type procPicker struct {
	byRole map[string][]int
	cum    map[string][]float64
}

func newProcPicker() *procPicker {
	p := &procPicker{byRole: map[string][]int{}, cum: map[string][]float64{}}
	for _, role := range []string{"staff", "manager", "admin", "developer"} {
		acc := 0.0
		for i, pr := range procs {
			if pr.role == "" || pr.role == role {
				acc += pr.weight
				p.byRole[role] = append(p.byRole[role], i)
				p.cum[role] = append(p.cum[role], acc)
			}
		}
	}
	return p
}

func (p *procPicker) pick(rng *rand.Rand, role string) *proc {
	cum := p.cum[role]
	x := rng.Float64() * cum[len(cum)-1]
	i, _ := slices.BinarySearch(cum, x)
	return &procs[p.byRole[role][min(i, len(cum)-1)]]
}

func (g *generator) benignDay(em *Emitter, day time.Time) {
	rng, org := g.rng, g.org
	wd := day.Weekday()
	weekend := wd == time.Saturday || wd == time.Sunday
	for ui := range org.Users {
		u := &org.Users[ui]
		if weekend && rng.Float64() > 0.08 {
			continue
		}
		if !weekend && rng.Float64() < 0.04 { // leave, sickness
			continue
		}
		vol := u.Activity * math.Exp(0.3*rng.NormFloat64())
		if weekend {
			vol *= 0.3
		}
		if org.Geo != nil && org.Geo.isAway(ui, day.Add(12*time.Hour)) {
			continue // abroad: no office logons (the identity source signs in from there)
		}
		host := &org.Hosts[u.Hosts[0]]
		if len(u.Hosts) > 1 && rng.Float64() < 0.3 {
			host = &org.Hosts[u.Hosts[1]]
		}
		local := day.Add(-time.Duration(u.Office.Offset) * time.Hour)
		on := local.Add(time.Duration((u.StartHour + 0.5*rng.NormFloat64()) * float64(time.Hour)))
		off := on.Add(time.Duration((u.WorkHours + 0.7*rng.NormFloat64()) * float64(time.Hour)))
		if weekend {
			off = on.Add(time.Duration(1+2*rng.Float64()) * time.Hour)
		}
		span := off.Sub(on)
		logon := "0x" + strconv.FormatUint(uint64(rng.Uint32()), 16)
		em.Win(on, "", false, 4624, host.Name, logonData(u, "2", logon, host.Short, "-", "-"))
		if u.Role == "admin" {
			em.Win(on, "", false, 4672, host.Name, []KV{{"SubjectUserSid", u.SID}, {"SubjectUserName", u.Name}, {"SubjectDomainName", NetBIOSDomain}, {"SubjectLogonId", logon}, {"PrivilegeList", "SeDebugPrivilege SeBackupPrivilege"}})
		}
		em.Win(off, "", false, 4634, host.Name, []KV{{"TargetUserSid", u.SID}, {"TargetUserName", u.Name}, {"TargetDomainName", NetBIOSDomain}, {"TargetLogonId", logon}, {"LogonType", "2"}})
		at := func() time.Time {
			// busier mornings and afternoons than lunch: a mixture around 30% and 75% of the day
			x := 0.3 + 0.15*rng.NormFloat64()
			if rng.Float64() < 0.5 {
				x = 0.75 + 0.12*rng.NormFloat64()
			}
			x = min(max(x, 0), 1)
			return on.Add(time.Duration(x * float64(span)))
		}
		// Network logons to file servers and DCs.
		for range int(3 * vol) {
			srv := &org.Hosts[org.Servers[rng.IntN(len(org.Servers))]]
			em.Win(at(), "", false, 4624, srv.Name, logonData(u, "3", "0x"+strconv.FormatUint(uint64(rng.Uint32()), 16), host.Short, host.IP.String(), "Kerberos"))
		}
		for range int(6 * vol) {
			t := at()
			pr := g.procs.pick(rng, u.Role)
			pid := 1000 + rng.IntN(60000)
			user, sid, subj, lid, integrity := `CORP\`+u.Name, u.SID, u.Name, logon, "Medium"
			if pr.system {
				user, sid, subj, lid, integrity = `NT AUTHORITY\SYSTEM`, "S-1-5-18", host.Short+"$", "0x3e7", "System"
			}
			em.Win(t, "", true, 1, host.Name, []KV{{"ProcessId", strconv.Itoa(pid)}, {"Image", pr.image}, {"CommandLine", pr.cmd}, {"User", user}, {"ParentImage", pr.parent}, {"IntegrityLevel", integrity}})
			em.Win(t, "", false, 4688, host.Name, []KV{{"SubjectUserSid", sid}, {"SubjectUserName", subj}, {"SubjectDomainName", NetBIOSDomain}, {"SubjectLogonId", lid}, {"NewProcessId", "0x" + strconv.FormatInt(int64(pid), 16)}, {"NewProcessName", pr.image}, {"CommandLine", pr.cmd}, {"ParentProcessName", pr.parent}})
		}
		for range int(25 * vol) {
			t := at()
			d := org.pickDest(rng)
			sp := 49152 + rng.IntN(16000)
			em.Win(t, "", true, 22, host.Name, []KV{{"QueryName", d.Name}, {"QueryStatus", "0"}, {"QueryResults", "::ffff:" + d.IP.String() + ";"}, {"Image", `C:\Program Files\Google\Chrome\Application\chrome.exe`}, {"User", `CORP\` + u.Name}})
			em.DNS(t, "", host.IP, sp, d.Name, d.IP)
			t2 := t.Add(time.Duration(5+rng.IntN(40)) * time.Millisecond)
			em.Win(t2, "", true, 3, host.Name, []KV{{"Image", `C:\Program Files\Google\Chrome\Application\chrome.exe`}, {"User", `CORP\` + u.Name}, {"Protocol", "tcp"}, {"Initiated", "true"}, {"SourceIp", host.IP.String()}, {"SourceHostname", host.Name}, {"SourcePort", strconv.Itoa(sp + 1)}, {"DestinationIp", d.IP.String()}, {"DestinationHostname", d.Name}, {"DestinationPort", "443"}})
			in := int64(d.Bytes * math.Exp(rng.NormFloat64()))
			uid := em.Conn(t2, "", host.IP, sp+1, d.IP, 443, "ssl", time.Duration(rng.ExpFloat64()*float64(5*time.Second)), 500+in/20, in)
			benignTLS(em, rng, ui, t2, uid, host.IP, sp+1, d)
		}
		benignHTTPDay(em, rng, org, ui, host, at, vol)
		if (u.Role == "admin" || u.Role == "developer") && rng.Float64() < 0.6 {
			lx := &org.Hosts[org.Linux[rng.IntN(len(org.Linux))]]
			t := at()
			pid := 2000 + rng.IntN(30000)
			em.Syslog(t, "", lx.Short, "sshd", pid, fmt.Sprintf("Accepted publickey for %s from %s port %d ssh2: ED25519 SHA256:k3y%04d", u.Name, host.IP, 50000+rng.IntN(10000), ui))
			em.Syslog(t, "", lx.Short, "sshd", pid, fmt.Sprintf("pam_unix(sshd:session): session opened for user %s(uid=%d) by (uid=0)", u.Name, 1000+ui))
			if u.Role == "admin" {
				em.Syslog(t.Add(40*time.Second), "", lx.Short, "sudo", 0, fmt.Sprintf("   %s : TTY=pts/0 ; PWD=/home/%s ; USER=root ; COMMAND=/usr/bin/systemctl status nginx", u.Name, u.Name))
			}
			em.Syslog(t.Add(time.Duration(5+rng.IntN(50))*time.Minute), "", lx.Short, "sshd", pid, "pam_unix(sshd:session): session closed for user "+u.Name)
		}
	}
	// Internet background noise on the first Linux server: SSH scanners.
	lx := &org.Hosts[org.Linux[0]]
	for range 20 + rng.IntN(40) {
		t := day.Add(time.Duration(rng.Int64N(int64(24 * time.Hour))))
		ip := publicIP(rng)
		em.Syslog(t, "", lx.Short, "sshd", 3000+rng.IntN(30000), fmt.Sprintf("Failed password for invalid user admin from %s port %d ssh2", ip, 30000+rng.IntN(30000)))
	}
}

func logonData(u *User, typ, logonID, ws, ip, pkg string) []KV {
	if pkg == "-" {
		pkg = "Negotiate"
	}
	return []KV{{"SubjectUserSid", "S-1-5-18"}, {"SubjectUserName", "-"}, {"SubjectDomainName", "-"}, {"TargetUserSid", u.SID}, {"TargetUserName", u.Name}, {"TargetDomainName", NetBIOSDomain}, {"TargetLogonId", logonID}, {"LogonType", typ}, {"AuthenticationPackageName", pkg}, {"WorkstationName", ws}, {"IpAddress", ip}, {"IpPort", "0"}}
}

// Episode is a benign novelty episode.
type Episode interface {
	Emit(em *Emitter, from, to time.Time)
	Truth() TruthBenign
}

// misconfigured is a service account failing logons against a DC every few minutes.
type misconfigured struct {
	id         string
	start, end time.Time
	src        *Host
	dc         *Host
	account    string
}

func (m *misconfigured) Emit(em *Emitter, from, to time.Time) {
	for t := m.start; t.Before(m.end); t = t.Add(5 * time.Minute) {
		if t.Before(from) || !t.Before(to) {
			continue
		}
		em.Win(t, "", false, 4625, m.dc.Name, []KV{{"SubjectUserSid", "S-1-0-0"}, {"TargetUserName", m.account}, {"TargetDomainName", NetBIOSDomain}, {"Status", "0xc000006d"}, {"SubStatus", "0xc000006a"}, {"LogonType", "3"}, {"AuthenticationPackageName", "NTLM"}, {"WorkstationName", m.src.Short}, {"IpAddress", m.src.IP.String()}, {"IpPort", "0"}})
	}
}

func (m *misconfigured) Truth() TruthBenign {
	return TruthBenign{ID: m.id, Kind: "misconfigured_service", Start: m.start, End: m.end,
		Entities: []TruthEntity{{Kind: "user", Value: m.account + "@" + Domain, Aliases: []string{NetBIOSDomain + `\` + m.account}}, m.src.Entity(), ipEntity(m.src.IP)}}
}

// backupBurst is one night's full backup: large transfers to an offsite store.
type backupBurst struct {
	id   string
	at   time.Time
	src  *Host
	dest Dest
}

func (b *backupBurst) Emit(em *Emitter, from, to time.Time) {
	for i := range 12 {
		t := b.at.Add(time.Duration(i) * 10 * time.Minute)
		if t.Before(from) || !t.Before(to) {
			continue
		}
		em.Conn(t, "", b.src.IP, 40000+i, b.dest.IP, 443, "ssl", 9*time.Minute, 2_000_000_000+int64(em.rng.IntN(1_000_000_000)), 400_000)
	}
}

func (b *backupBurst) Truth() TruthBenign {
	return TruthBenign{ID: b.id, Kind: "backup_burst", Start: b.at, End: b.at.Add(2 * time.Hour),
		Entities: []TruthEntity{b.src.Entity(), ipEntity(b.dest.IP)}}
}

func planEpisodes(rng *rand.Rand, org *Org, start time.Time, days int) []Episode {
	app := &org.Hosts[org.Servers[min(1, len(org.Servers)-1)]]
	s := start.Add(time.Duration(rng.IntN(days)) * 24 * time.Hour).Add(time.Duration(rng.IntN(20)) * time.Hour)
	bk := &org.Hosts[org.Servers[0]]
	at := start.Add(time.Duration(rng.IntN(days))*24*time.Hour + 2*time.Hour)
	u := &org.Users[rng.IntN(len(org.Users))]
	ld := start.Add(time.Duration(rng.IntN(days)) * 24 * time.Hour)
	laptop := Host{Name: "lt-new-" + u.Name[:min(len(u.Name), 8)] + "." + Domain, Short: "lt-new-" + u.Name[:min(len(u.Name), 8)], IP: netip.AddrFrom4([4]byte{10, 3, 0, byte(2 + rng.IntN(250))}), Kind: "workstation"}
	return []Episode{
		&newLaptop{id: "b1", from: ld, until: start.Add(time.Duration(days) * 24 * time.Hour), user: u, host: laptop},
		&misconfigured{id: "b2", start: s, end: s.Add(time.Duration(6+rng.IntN(30)) * time.Hour), src: app, dc: &org.Hosts[org.DCs[0]], account: "svc-report"},
		&backupBurst{id: "b3", at: at, src: bk, dest: Dest{Name: "backup.offsite-vault.example", IP: publicIP(rng)}},
		newMaintenanceNight("b4", rng, org, start, days),
		newToolRollout("b5", rng, org, start, days),
		newTripAbroad("trip1", rng, org, start, days),
	}
}

// newLaptop is a user receiving a new laptop: from its first day on, the user logs
// on to a host never seen before and runs the usual first-day setup.
type newLaptop struct {
	id    string
	from  time.Time
	until time.Time
	user  *User
	host  Host
}

func (n *newLaptop) Emit(em *Emitter, from, to time.Time) {
	for d := n.from; d.Before(n.until); d = d.Add(24 * time.Hour) {
		t := d.Add(time.Duration(n.user.StartHour*float64(time.Hour)) - time.Duration(n.user.Office.Offset)*time.Hour)
		if t.Before(from) || !t.Before(to) {
			continue
		}
		em.Win(t, "", false, 4624, n.host.Name, logonData(n.user, "2", "0x5e71", n.host.Short, "-", "-"))
		if d.Equal(n.from) {
			img := `C:\Windows\System32\msiexec.exe`
			em.Win(t.Add(3*time.Minute), "", true, 1, n.host.Name, []KV{{"ProcessId", "3312"}, {"Image", img}, {"CommandLine", img + ` /i \\fs01\deploy\standard-apps.msi /qn`}, {"User", `CORP\` + n.user.Name}, {"ParentImage", `C:\Windows\explorer.exe`}, {"IntegrityLevel", "High"}})
		}
	}
}

func (n *newLaptop) Truth() TruthBenign {
	return TruthBenign{ID: n.id, Kind: "new_laptop", Start: n.from, End: n.until,
		Entities: []TruthEntity{n.user.Entity(), n.host.Entity()}}
}
