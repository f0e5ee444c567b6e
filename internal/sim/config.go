package sim

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// OrgFile is the organisation file of vigil simulate --config: what the flags do
// not say. Every key is optional; flags given on the command line win over it.
//
//	seed: 7
//	users: 500
//	days: 21
//	start: 2026-03-02
//	hosts: {servers: 12, linux: 8, domain_controllers: 3, second_device_share: 0.15}
//	offices:
//	  - {name: paris, utc_offset: 1, country: FR}
//	departments: [engineering, sales, finance]
//	campaigns: [spray, ransomware]      # which kinds run (default: all)
//	warmup: 0.4                         # share of days before the first attack
type OrgFile struct {
	Seed        *uint64      `yaml:"seed"`
	Users       int          `yaml:"users"`
	Days        int          `yaml:"days"`
	Start       string       `yaml:"start"`
	Hosts       HostCounts   `yaml:"hosts"`
	Offices     []OfficeSpec `yaml:"offices"`
	Departments []string     `yaml:"departments"`
	Campaigns   []string     `yaml:"campaigns"`
	Warmup      *float64     `yaml:"warmup"`
}

// HostCounts sizes the machines; zero means "derived from the number of users".
type HostCounts struct {
	Servers           int      `yaml:"servers"`
	Linux             int      `yaml:"linux"`
	DomainControllers int      `yaml:"domain_controllers"`
	SecondDeviceShare *float64 `yaml:"second_device_share"`
}

// OfficeSpec is an office in the organisation file.
type OfficeSpec struct {
	Name      string `yaml:"name"`
	UTCOffset int    `yaml:"utc_offset"`
	Country   string `yaml:"country"`
}

// maxOrgFile bounds the organisation file: it is a few lines.
const maxOrgFile = 1 << 20

// ParseOrgFile reads and validates an organisation file; unknown keys are errors
// (a misspelt key silently ignored would simulate another organisation).
func ParseOrgFile(r io.Reader) (OrgFile, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxOrgFile+1))
	if err != nil {
		return OrgFile{}, err
	}
	if len(data) > maxOrgFile {
		return OrgFile{}, fmt.Errorf("larger than %d bytes", maxOrgFile)
	}
	var f OrgFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return OrgFile{}, err
	}
	return f, f.validate()
}

func (f *OrgFile) validate() error {
	if f.Users != 0 && (f.Users < 5 || f.Users > 100000) {
		return fmt.Errorf("users: want 5..100000, got %d", f.Users)
	}
	if f.Days != 0 && (f.Days < 1 || f.Days > 366) {
		return fmt.Errorf("days: want 1..366, got %d", f.Days)
	}
	if f.Start != "" {
		if _, err := time.Parse("2006-01-02", f.Start); err != nil {
			return fmt.Errorf("start: want YYYY-MM-DD: %w", err)
		}
	}
	h := f.Hosts
	for _, c := range []struct {
		name string
		n    int
		max  int
	}{{"hosts.servers", h.Servers, 240}, {"hosts.linux", h.Linux, 240}, {"hosts.domain_controllers", h.DomainControllers, 20}} {
		if c.n < 0 || c.n > c.max {
			return fmt.Errorf("%s: want 0..%d, got %d", c.name, c.max, c.n)
		}
	}
	if s := h.SecondDeviceShare; s != nil && (*s < 0 || *s > 1) {
		return fmt.Errorf("hosts.second_device_share: want 0..1, got %g", *s)
	}
	geo := newGeography()
	for i, o := range f.Offices {
		if o.Name == "" || len(o.Country) != 2 || strings.ToUpper(o.Country) != o.Country {
			return fmt.Errorf("offices[%d]: want a name and a two-letter upper-case country code", i)
		}
		// Sign-ins come from the office's egress network, which must geolocate
		// in its country: only countries the geography has office networks for.
		if !geo.Egress(Office{Country: o.Country}).IsValid() {
			return fmt.Errorf("offices[%d] (%s): no office network known in %s (known: %s)", i, o.Name, o.Country, strings.Join(geo.officeCountries(), ", "))
		}
		if o.UTCOffset < -12 || o.UTCOffset > 14 {
			return fmt.Errorf("offices[%d] (%s): utc_offset %d outside -12..14", i, o.Name, o.UTCOffset)
		}
	}
	for i, d := range f.Departments {
		if strings.TrimSpace(d) == "" {
			return fmt.Errorf("departments[%d]: empty", i)
		}
	}
	known := CampaignKinds()
	for _, c := range f.Campaigns {
		if !slices.Contains(known, c) {
			return fmt.Errorf("campaigns: unknown kind %q (known: %s)", c, strings.Join(known, ", "))
		}
	}
	if w := f.Warmup; w != nil && (*w < 0 || *w >= 1) {
		return fmt.Errorf("warmup: want 0 <= warmup < 1, got %g", *w)
	}
	return nil
}
