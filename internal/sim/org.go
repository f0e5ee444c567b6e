package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
)

// Domain is the simulated organisation's DNS domain.
const Domain = "corp.example"

// Office is a site with a time zone (a fixed offset: no daylight saving) and country.
type Office struct {
	Name    string
	Offset  int // hours from UTC
	Country string
}

var offices = []Office{{"london", 0, "GB"}, {"newyork", -5, "US"}, {"berlin", 1, "DE"}, {"singapore", 8, "SG"}}

var departments = []string{"engineering", "sales", "finance", "hr", "marketing", "it", "legal", "support"}

// User is one employee.
type User struct {
	Name       string // sAMAccountName, lower case
	Full       string
	Department string
	Role       string // staff, manager, admin, developer
	Manager    int    // index of the manager, -1 for none
	Office     Office
	StartHour  float64 // local working hours
	WorkHours  float64
	Traveller  bool
	Activity   float64 // lognormal volume multiplier (heavy tail across users)
	Hosts      []int   // workstations
	SID        string
}

// Host is a machine.
type Host struct {
	Name  string // FQDN, lower case
	Short string
	IP    netip.Addr
	Kind  string // workstation, server, dc, linux
}

// Dest is an internet destination.
type Dest struct {
	Name   string
	IP     netip.Addr
	Bytes  float64 // median response bytes (lognormal per destination)
	Weight float64
}

// Org is the whole simulated organisation.
type Org struct {
	Users    []User
	Hosts    []Host
	Servers  []int // Windows member servers
	DCs      []int
	Linux    []int
	Popular  []Dest
	Tail     []Dest
	tailCDF  []float64
	Resolver netip.Addr
	Geo      *Geography // sign-in places: office egress, homes, travel, attackers
	Kube     *Cluster
	Cloud    *CloudAccount
}

var firstNames = []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "yara", "zoe", "liam", "emma", "noah", "ava", "mia", "lucas", "sofia", "omar", "priya", "chen", "kenji", "fatima", "diego", "lena", "marta"}
var lastNames = []string{"smith", "jones", "taylor", "brown", "wilson", "evans", "thomas", "roberts", "walker", "wright", "muller", "schmidt", "garcia", "martin", "lee", "tan", "wong", "kumar", "singh", "rossi", "novak", "silva", "kim", "park", "nguyen", "cohen", "ali", "hansen", "larsen", "dubois"}

var popular = []string{"login.microsoftonline.com", "outlook.office365.com", "www.google.com", "slack.com", "zoom.us", "github.com", "api.github.com", "salesforce.com", "www.dropbox.com", "d1.cloudfront.net", "ajax.googleapis.com", "fonts.gstatic.com", "update.microsoft.com", "teams.microsoft.com", "www.linkedin.com", "s3.amazonaws.com", "cdn.jsdelivr.net", "www.youtube.com", "okta.com", "atlassian.net"}
var tailWords = []string{"blue", "data", "cloud", "net", "shop", "news", "tech", "soft", "media", "link", "apex", "nova", "metric", "pixel", "track", "stat", "open", "fast", "bright", "north", "river", "stone", "green", "hub", "lab", "forge", "point", "wave"}
var tlds = []string{"com", "net", "io", "org", "co", "de", "info"}

func publicIP(rng *rand.Rand) netip.Addr {
	firsts := []byte{13, 20, 23, 34, 35, 44, 52, 54, 104, 142, 151, 157, 172, 185, 199}
	return netip.AddrFrom4([4]byte{firsts[rng.IntN(len(firsts))], byte(rng.IntN(254) + 1), byte(rng.IntN(256)), byte(rng.IntN(254) + 1)})
}

// NewOrg builds an organisation of n users.
func NewOrg(rng *rand.Rand, n int) *Org { return NewOrgFrom(rng, OrgSpec{Users: n}) }

// OrgSpec describes an organisation beyond its size; zero fields take defaults.
type OrgSpec struct {
	Users       int
	Hosts       HostCounts
	Offices     []Office
	Departments []string
}

// NewOrgFrom builds the organisation spec describes.
func NewOrgFrom(rng *rand.Rand, spec OrgSpec) *Org {
	n := spec.Users
	offs, depts := spec.Offices, spec.Departments
	if len(offs) == 0 {
		offs = offices
	}
	if len(depts) == 0 {
		depts = departments
	}
	second := 0.1
	if spec.Hosts.SecondDeviceShare != nil {
		second = *spec.Hosts.SecondDeviceShare
	}
	o := &Org{Resolver: netip.MustParseAddr("10.0.0.10")}
	used := map[string]bool{}
	for i := range n {
		f, l := firstNames[rng.IntN(len(firstNames))], lastNames[rng.IntN(len(lastNames))]
		name := f + "." + l
		for k := 2; used[name]; k++ {
			name = fmt.Sprintf("%s.%s%d", f, l, k)
		}
		used[name] = true
		dept := depts[rng.IntN(len(depts))]
		role := "staff"
		switch {
		case dept == "it" && rng.Float64() < 0.5:
			role = "admin"
		case dept == "engineering" && rng.Float64() < 0.7:
			role = "developer"
		case rng.Float64() < 0.12:
			role = "manager"
		}
		u := User{Name: name, Full: f + " " + l, Department: dept, Role: role, Manager: -1,
			Office: offs[rng.IntN(len(offs))], StartHour: 7 + 3*rng.Float64(), WorkHours: 7.5 + 2*rng.Float64(),
			Traveller: rng.Float64() < 0.06, Activity: math.Exp(rng.NormFloat64() * 0.9),
			SID: fmt.Sprintf("S-1-5-21-3623811015-3361044348-30300820-%d", 1100+i)}
		// Workstations in 10.64.0.0/10 and laptops in 10.128.0.0/10: 62,500 per /16.
		h := o.addHost(fmt.Sprintf("ws-%03d", i+1), "workstation", clientIP(64, i))
		u.Hosts = []int{h}
		if rng.Float64() < second {
			u.Hosts = append(u.Hosts, o.addHost(fmt.Sprintf("lt-%03d", i+1), "workstation", clientIP(128, i)))
		}
		o.Users = append(o.Users, u)
	}
	// Managers: per department, a manager (or the first user) manages the others.
	for _, d := range depts {
		head := -1
		for i := range o.Users {
			if o.Users[i].Department == d && (head < 0 || o.Users[i].Role == "manager" && o.Users[head].Role != "manager") {
				head = i
			}
		}
		for i := range o.Users {
			if o.Users[i].Department == d && i != head {
				o.Users[i].Manager = head
			}
		}
	}
	ndc := spec.Hosts.DomainControllers
	if ndc == 0 {
		ndc = 2
	}
	for i := range ndc {
		o.DCs = append(o.DCs, o.addHost(fmt.Sprintf("dc%02d", i+1), "dc", netip.AddrFrom4([4]byte{10, 0, 0, byte(10 + i)})))
	}
	ns := spec.Hosts.Servers
	if ns == 0 {
		ns = min(max(3, n/40), 240)
	}
	for i := range ns {
		names := []string{"fs", "app", "sql", "web", "bk", "mail"}
		o.Servers = append(o.Servers, o.addHost(fmt.Sprintf("%s%02d", names[i%len(names)], i/len(names)+1), "server", netip.AddrFrom4([4]byte{10, 0, 1, byte(10 + i)})))
	}
	nl := spec.Hosts.Linux
	if nl == 0 {
		nl = min(max(2, n/50), 240)
	}
	for i := range nl {
		o.Linux = append(o.Linux, o.addHost(fmt.Sprintf("lnx%02d", i+1), "linux", netip.AddrFrom4([4]byte{10, 0, 2, byte(10 + i)})))
	}
	for i, p := range popular {
		o.Popular = append(o.Popular, Dest{Name: p, IP: publicIP(rng), Bytes: 20000 * math.Exp(rng.NormFloat64()), Weight: 1 / float64(i+1)})
	}
	nt := 200 + 20*n
	cum := 0.0
	for i := range nt {
		name := tailWords[rng.IntN(len(tailWords))] + tailWords[rng.IntN(len(tailWords))] + fmt.Sprintf("%d", i) + "." + tlds[rng.IntN(len(tlds))]
		cum += 1 / math.Pow(float64(i+1), 1.1) // Zipf popularity
		o.Tail = append(o.Tail, Dest{Name: name, IP: publicIP(rng), Bytes: 8000 * math.Exp(1.2*rng.NormFloat64())})
		o.tailCDF = append(o.tailCDF, cum)
	}
	o.Kube = NewCluster(rng, o)
	o.Cloud = NewCloudAccount(rng, o)
	o.Geo = newGeography()
	return o
}

// clientIP is the address of client i in 10.first.0.0 and the /16s after it.
func clientIP(first, i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(first + i/62500), byte(i / 250 % 250), byte(i%250 + 2)})
}

func (o *Org) addHost(short, kind string, ip netip.Addr) int {
	o.Hosts = append(o.Hosts, Host{Name: short + "." + Domain, Short: short, IP: ip, Kind: kind})
	return len(o.Hosts) - 1
}

// pickDest draws a destination: popular ones most of the time, else the Zipf tail.
func (o *Org) pickDest(rng *rand.Rand) *Dest {
	if rng.Float64() < 0.65 {
		// popularity ~ 1/rank
		r := rng.Float64() * 3.6
		acc := 0.0
		for i := range o.Popular {
			acc += o.Popular[i].Weight
			if r < acc {
				return &o.Popular[i]
			}
		}
		return &o.Popular[0]
	}
	x := rng.Float64() * o.tailCDF[len(o.tailCDF)-1]
	lo, hi := 0, len(o.tailCDF)-1
	for lo < hi {
		m := (lo + hi) / 2
		if o.tailCDF[m] < x {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return &o.Tail[lo]
}

// UserID is the canonical user entity.
func (u *User) UserID() string { return u.Name + "@" + Domain }

// NetBIOSDomain is the domain's pre-Windows 2000 name, as Windows events write it.
const NetBIOSDomain = "CORP"

// Entity is the user as a truth entity, with the names other logs give it.
func (u *User) Entity() TruthEntity {
	return TruthEntity{Kind: "user", Value: u.UserID(), Aliases: []string{NetBIOSDomain + `\` + u.Name}}
}

// Entity is the host as a truth entity (its address is an entity of its own kind).
func (h *Host) Entity() TruthEntity { return TruthEntity{Kind: "host", Value: h.Name} }

// ipEntity is an address as a truth entity.
func ipEntity(a netip.Addr) TruthEntity { return TruthEntity{Kind: "ip", Value: a.String()} }
