package sim

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"time"
)

// maintenanceNight is an administrator's patch night: from late evening to the
// small hours (in the admin's time zone) an interactive RDP logon to each Windows
// server in turn, the update installed, the server restarted; then SSH to the Linux
// servers, packages upgraded and services restarted with sudo. Many hosts, odd
// hours, privileged commands: what lateral movement looks like, but announced.
type maintenanceNight struct {
	id    string
	admin *User
	ws    *Host
	start time.Time
	end   time.Time
	win   []*Host
	linux []*Host
	kb    int
}

func newMaintenanceNight(id string, rng *rand.Rand, org *Org, start time.Time, days int) *maintenanceNight {
	m := &maintenanceNight{id: id, kb: 5030000 + rng.IntN(9000)}
	var admins []int
	for i := range org.Users {
		if org.Users[i].Role == "admin" {
			admins = append(admins, i)
		}
	}
	if len(admins) == 0 {
		admins = []int{rng.IntN(len(org.Users))}
	}
	m.admin = &org.Users[admins[rng.IntN(len(admins))]]
	m.ws = &org.Hosts[m.admin.Hosts[0]]
	// A Tuesday or Wednesday night when the run has one, else any night.
	day := start.Add(time.Duration(rng.IntN(days)) * 24 * time.Hour)
	for d := range days {
		c := start.Add(time.Duration(d) * 24 * time.Hour)
		if wd := c.Weekday(); wd == time.Tuesday || wd == time.Wednesday {
			day = c
			if rng.Float64() < 0.5 {
				break
			}
		}
	}
	m.start = day.Add(time.Duration(22-m.admin.Office.Offset)*time.Hour + time.Duration(rng.IntN(40))*time.Minute)
	for _, i := range org.Servers {
		m.win = append(m.win, &org.Hosts[i])
	}
	for _, i := range org.Linux {
		m.linux = append(m.linux, &org.Hosts[i])
	}
	m.end = m.start
	return m
}

func (m *maintenanceNight) Emit(em *Emitter, from, to time.Time) {
	if m.start.Before(from) || !m.start.Before(to) {
		return // the whole night is emitted with the day it begins on
	}
	rng, u := em.rng, m.admin
	t := m.start
	for _, h := range m.win {
		logon := "0x" + strconv.FormatUint(uint64(rng.Uint32()), 16)
		em.Win(t, "", false, 4624, h.Name, logonData(u, "10", logon, m.ws.Short, m.ws.IP.String(), "Negotiate"))
		em.Win(t, "", false, 4672, h.Name, []KV{{"SubjectUserSid", u.SID}, {"SubjectUserName", u.Name}, {"SubjectDomainName", NetBIOSDomain}, {"SubjectLogonId", logon}, {"PrivilegeList", "SeBackupPrivilege SeRestorePrivilege SeDebugPrivilege SeSystemEnvironmentPrivilege"}})
		em.Conn(t.Add(-time.Second), "", m.ws.IP, 50000+rng.IntN(10000), h.IP, 3389, "rdp", time.Duration(20+rng.IntN(20))*time.Minute, int64(2_000_000+rng.IntN(3_000_000)), int64(20_000_000+rng.IntN(30_000_000)))
		t = t.Add(time.Duration(2+rng.IntN(3)) * time.Minute)
		for _, c := range [][2]string{
			{`C:\Windows\System32\wusa.exe`, fmt.Sprintf(`"C:\Windows\system32\wusa.exe" \\fs01\patches\windows10.0-kb%d-x64.msu /quiet /norestart`, m.kb)},
			{`C:\Windows\System32\shutdown.exe`, `shutdown.exe /r /t 60 /c "Monthly patching"`},
		} {
			pid := 2000 + rng.IntN(50000)
			em.Win(t, "", true, 1, h.Name, []KV{{"ProcessId", strconv.Itoa(pid)}, {"Image", c[0]}, {"CommandLine", c[1]}, {"User", `CORP\` + u.Name}, {"ParentImage", `C:\Windows\explorer.exe`}, {"IntegrityLevel", "High"}})
			em.Win(t, "", false, 4688, h.Name, []KV{{"SubjectUserSid", u.SID}, {"SubjectUserName", u.Name}, {"SubjectDomainName", NetBIOSDomain}, {"SubjectLogonId", logon}, {"NewProcessId", "0x" + strconv.FormatInt(int64(pid), 16)}, {"NewProcessName", c[0]}, {"CommandLine", c[1]}, {"ParentProcessName", `C:\Windows\explorer.exe`}, {"TokenElevationType", "%%1937"}})
			t = t.Add(time.Duration(8+rng.IntN(15)) * time.Minute)
		}
		em.Win(t, "", false, 4634, h.Name, []KV{{"TargetUserSid", u.SID}, {"TargetUserName", u.Name}, {"TargetDomainName", NetBIOSDomain}, {"TargetLogonId", logon}, {"LogonType", "10"}})
		t = t.Add(time.Duration(5+rng.IntN(10)) * time.Minute) // the reboot
	}
	for i, h := range m.linux {
		pid := 4000 + rng.IntN(30000)
		em.Syslog(t, "", h.Short, "sshd", pid, fmt.Sprintf("Accepted publickey for %s from %s port %d ssh2: ED25519 SHA256:adm%04d", u.Name, m.ws.IP, 50000+rng.IntN(10000), i))
		em.Syslog(t, "", h.Short, "sshd", pid, fmt.Sprintf("pam_unix(sshd:session): session opened for user %s(uid=%d) by (uid=0)", u.Name, 1500))
		for _, cmd := range []string{"/usr/bin/apt-get update", "/usr/bin/apt-get -y upgrade", "/usr/bin/systemctl restart nginx", "/usr/sbin/reboot"} {
			t = t.Add(time.Duration(30+rng.IntN(240)) * time.Second)
			em.Syslog(t, "", h.Short, "sudo", 0, fmt.Sprintf("   %s : TTY=pts/0 ; PWD=/home/%s ; USER=root ; COMMAND=%s", u.Name, u.Name, cmd))
		}
		t = t.Add(time.Duration(1+rng.IntN(3)) * time.Minute)
		em.Syslog(t, "", h.Short, "sshd", pid, "pam_unix(sshd:session): session closed for user "+u.Name)
	}
	m.end = t
}

func (m *maintenanceNight) Truth() TruthBenign {
	ents := []TruthEntity{m.admin.Entity(), m.ws.Entity()}
	end := m.end
	if end.Before(m.start) || end.Equal(m.start) {
		end = m.start.Add(time.Minute) // not emitted (past the run's end)
	}
	return TruthBenign{ID: m.id, Kind: "maintenance_night", Start: m.start, End: end, Entities: ents}
}

// toolRollout is IT rolling out a new agent: on one weekday the software
// distribution service installs it on every workstation within a few hours; from
// then on it starts with each working day and calls home to a cloud service no
// host talked to before. Org-wide novelty: a new process on every host, a new
// destination for every host.
type toolRollout struct {
	id      string
	at      time.Time
	image   string
	msi     string
	domain  string
	ip      netip.Addr
	hosts   []*Host
	offsets []time.Duration // per host, when its install runs after at
	until   time.Time
}

func newToolRollout(id string, rng *rand.Rand, org *Org, start time.Time, days int) *toolRollout {
	r := &toolRollout{id: id, image: `C:\Program Files\Northwind Secure\Agent\nwagent.exe`, msi: `\\fs01\deploy\NorthwindSecureAgent-4.2.1.msi`,
		domain: "ingest.northwind-secure.example", ip: publicIP(rng), until: start.Add(time.Duration(days) * 24 * time.Hour)}
	d := rng.IntN(days)
	day := start.Add(time.Duration(d) * 24 * time.Hour)
	// a working day: the next one, or the one before when the next is past the
	// end (the rollout must happen before the episode ends)
	step := 24 * time.Hour
	if wd := day.Weekday(); (wd == time.Saturday && d+2 >= days) || (wd == time.Sunday && d+1 >= days) {
		step = -step
	}
	for wd := day.Weekday(); wd == time.Saturday || wd == time.Sunday; wd = day.Weekday() {
		day = day.Add(step)
	}
	r.at = day.Add(time.Duration(9+rng.IntN(4)) * time.Hour)
	for i := range org.Hosts {
		if org.Hosts[i].Kind == "workstation" {
			r.hosts = append(r.hosts, &org.Hosts[i])
			r.offsets = append(r.offsets, time.Duration(rng.Int64N(int64(3*time.Hour))).Truncate(time.Second))
		}
	}
	return r
}

func (r *toolRollout) Emit(em *Emitter, from, to time.Time) {
	rng := em.rng
	if !r.at.Before(from.Add(-24*time.Hour)) && r.at.Before(to) {
		for i, h := range r.hosts {
			t := r.at.Add(r.offsets[i])
			if t.Before(from) || !t.Before(to) {
				continue
			}
			em.Win(t, "", true, 1, h.Name, []KV{{"ProcessId", strconv.Itoa(3000 + rng.IntN(50000))}, {"Image", `C:\Windows\System32\msiexec.exe`}, {"CommandLine", `C:\Windows\system32\msiexec.exe /i "` + r.msi + `" /qn /norestart`}, {"User", `NT AUTHORITY\SYSTEM`}, {"ParentImage", `C:\Windows\CCM\CcmExec.exe`}, {"IntegrityLevel", "System"}})
		}
	}
	// The agent, on every installed host, starts with the day and checks in hourly.
	for day := from.Truncate(24 * time.Hour); day.Before(to); day = day.Add(24 * time.Hour) {
		if !day.Add(24 * time.Hour).After(r.at) {
			continue
		}
		for i, h := range r.hosts {
			inst := r.at.Add(r.offsets[i])
			t := day.Add(time.Duration(6+rng.IntN(3))*time.Hour + time.Duration(rng.IntN(3600))*time.Second)
			if t.Before(inst) {
				t = inst.Add(time.Minute)
			}
			if t.Before(from) || !t.Before(to) {
				continue
			}
			pid := 2000 + rng.IntN(50000)
			em.Win(t, "", true, 1, h.Name, []KV{{"ProcessId", strconv.Itoa(pid)}, {"Image", r.image}, {"CommandLine", `"` + r.image + `" --service`}, {"User", `NT AUTHORITY\SYSTEM`}, {"ParentImage", services}, {"IntegrityLevel", "System"}})
			for k := range 2 {
				c := t.Add(time.Duration(k)*4*time.Hour + time.Duration(rng.IntN(300))*time.Second)
				if !c.Before(to) {
					break
				}
				sp := 49152 + rng.IntN(16000)
				em.DNS(c, "", h.IP, sp, r.domain, r.ip)
				em.Conn(c.Add(20*time.Millisecond), "", h.IP, sp+1, r.ip, 443, "ssl", time.Duration(1+rng.IntN(4))*time.Second, int64(3000+rng.IntN(20000)), int64(1500+rng.IntN(4000)))
			}
		}
	}
}

func (r *toolRollout) Truth() TruthBenign {
	return TruthBenign{ID: r.id, Kind: "new_tool_rollout", Start: r.at, End: r.until,
		Entities: []TruthEntity{{Kind: "process", Value: r.image}, {Kind: "domain", Value: r.domain}, ipEntity(r.ip)}}
}
