package sim

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseOrgFile(t *testing.T) {
	good := `
seed: 7
users: 50
days: 3
start: 2026-05-04
hosts: {servers: 4, linux: 2, domain_controllers: 1, second_device_share: 0.5}
offices:
  - {name: berlin, utc_offset: 1, country: DE}
departments: [engineering, it]
campaigns: [spray, kubernetes]
warmup: 0.5
`
	f, err := ParseOrgFile(strings.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	if *f.Seed != 7 || f.Users != 50 || f.Hosts.Servers != 4 || *f.Hosts.SecondDeviceShare != 0.5 || len(f.Offices) != 1 || f.Campaigns[1] != "kubernetes" || *f.Warmup != 0.5 {
		t.Errorf("parsed %+v", f)
	}
	if _, err := ParseOrgFile(strings.NewReader("")); err != nil {
		t.Errorf("empty file: %v", err)
	}
	for _, tt := range []struct{ doc, want string }{
		{"userz: 5", "field userz not found"},
		{"users: 3", "users: want 5..100000"},
		{"days: 400", "days: want 1..366"},
		{"start: tomorrow", "start: want YYYY-MM-DD"},
		{"hosts: {servers: -1}", "hosts.servers"},
		{"hosts: {domain_controllers: 99}", "hosts.domain_controllers"},
		{"hosts: {second_device_share: 2}", "second_device_share"},
		{"offices: [{name: x, utc_offset: 0, country: gb}]", "two-letter upper-case"},
		{"offices: [{name: x, utc_offset: 20, country: GB}]", "utc_offset 20"},
		{"offices: [{name: x, utc_offset: 0, country: ZZ}]", "no office network known in ZZ"},
		{"departments: ['']", "departments[0]: empty"},
		{"campaigns: [phishing]", `unknown kind "phishing"`},
		{"warmup: 1", "warmup"},
		{"users: [1]", "cannot unmarshal"},
	} {
		_, err := ParseOrgFile(strings.NewReader(tt.doc))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want one containing %q", tt.doc, err, tt.want)
		}
	}
}

// TestOrgFileShapesTheRun: host counts, offices and campaign kinds from the file
// reach the generated data.
func TestOrgFileShapesTheRun(t *testing.T) {
	dir := t.TempDir()
	share := 0.0
	if _, err := Run(Config{Seed: 3, Users: 20, Days: 4, Out: dir, Hosts: HostCounts{Servers: 7, Linux: 3, DomainControllers: 1, SecondDeviceShare: &share},
		Offices: []OfficeSpec{{Name: "singapore", UTCOffset: 8, Country: "SG"}}, Campaigns: []string{"ransomware"}}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "truth.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tr Truth
	if err := json.Unmarshal(b, &tr); err != nil {
		t.Fatal(err)
	}
	if len(tr.Campaigns) != 1 || tr.Campaigns[0].ID != "rw1" {
		t.Errorf("campaigns %v, want only rw1", tr.Campaigns)
	}
	org := NewOrgFrom(rand.New(rand.NewPCG(3, 4)), OrgSpec{Users: 20, Hosts: HostCounts{Servers: 7, Linux: 3, DomainControllers: 1, SecondDeviceShare: &share}})
	if len(org.Servers) != 7 || len(org.Linux) != 3 || len(org.DCs) != 1 || len(org.Hosts) != 20+7+3+1 {
		t.Errorf("servers %d linux %d dcs %d hosts %d", len(org.Servers), len(org.Linux), len(org.DCs), len(org.Hosts))
	}
}

// TestClientAddressesUnique: workstation and laptop addresses stay distinct at the
// largest organisation size.
func TestClientAddressesUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, first := range []int{64, 128} {
		for i := range 100000 {
			a := clientIP(first, i).String()
			if seen[a] {
				t.Fatalf("client %d (%d): %s used twice", i, first, a)
			}
			seen[a] = true
		}
	}
}

// FuzzParseOrgFile: any bytes give an error or a file that passes validation and
// whose campaign kinds all exist; never a panic.
func FuzzParseOrgFile(f *testing.F) {
	f.Add([]byte("users: 50\nhosts: {servers: 4}\noffices: [{name: a, utc_offset: 1, country: DE}]\ncampaigns: [spray]\n"))
	f.Add([]byte("warmup: 0.5\nseed: 3\nstart: 2026-01-01\n"))
	f.Add([]byte("hosts: [1, 2]\n"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		of, err := ParseOrgFile(bytes.NewReader(doc))
		if err != nil {
			return
		}
		if err := of.validate(); err != nil {
			t.Fatalf("accepted file fails validation: %v", err)
		}
		for _, k := range of.Campaigns {
			if !slices.Contains(CampaignKinds(), k) {
				t.Fatalf("unknown kind %q accepted", k)
			}
		}
	})
}
