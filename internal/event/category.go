package event

import "strings"

// Category is a set of ECS event.category values, held as a bit set because
// ECS allows several per event and the allowed values are a closed list.
type Category uint32

// ECS event.category allowed values.
const (
	CatAPI Category = 1 << iota
	CatAuthentication
	CatConfiguration
	CatDatabase
	CatDriver
	CatEmail
	CatFile
	CatHost
	CatIAM
	CatIntrusionDetection
	CatLibrary
	CatMalware
	CatNetwork
	CatPackage
	CatProcess
	CatRegistry
	CatSession
	CatThreat
	CatVulnerability
	CatWeb
)

var categoryNames = []string{
	"api", "authentication", "configuration", "database", "driver", "email", "file", "host",
	"iam", "intrusion_detection", "library", "malware", "network", "package", "process",
	"registry", "session", "threat", "vulnerability", "web",
}

// Type is a set of ECS event.type values.
type Type uint32

// ECS event.type allowed values.
const (
	TypeAccess Type = 1 << iota
	TypeAdmin
	TypeAllowed
	TypeChange
	TypeConnection
	TypeCreation
	TypeDeletion
	TypeDenied
	TypeEnd
	TypeError
	TypeGroup
	TypeIndicator
	TypeInfo
	TypeInstallation
	TypeProtocol
	TypeStart
	TypeUser
)

var typeNames = []string{
	"access", "admin", "allowed", "change", "connection", "creation", "deletion", "denied",
	"end", "error", "group", "indicator", "info", "installation", "protocol", "start", "user",
}

// Names returns the ECS names of the categories in c, in ECS order.
func (c Category) Names() []string { return bitNames(uint32(c), categoryNames) }

// Has reports whether every category in o is in c.
func (c Category) Has(o Category) bool { return c&o == o }

// Names returns the ECS names of the types in t, in ECS order.
func (t Type) Names() []string { return bitNames(uint32(t), typeNames) }

// Has reports whether every type in o is in t.
func (t Type) Has(o Type) bool { return t&o == o }

// ParseCategory returns the category named s (case-insensitive).
func ParseCategory(s string) (Category, bool) {
	i := indexFold(categoryNames, s)
	if i < 0 {
		return 0, false
	}
	return Category(1) << i, true
}

// ParseType returns the type named s (case-insensitive).
func ParseType(s string) (Type, bool) {
	i := indexFold(typeNames, s)
	if i < 0 {
		return 0, false
	}
	return Type(1) << i, true
}

func bitNames(bits uint32, names []string) []string {
	if bits == 0 {
		return nil
	}
	var out []string
	for i, n := range names {
		if bits&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

func indexFold(names []string, s string) int {
	for i, n := range names {
		if strings.EqualFold(n, s) {
			return i
		}
	}
	return -1
}
