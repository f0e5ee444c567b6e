package sim

import "time"

// Truth is the ground-truth file (truth.json); docs/TRUTH.md documents it.
type Truth struct {
	Version   int             `json:"version"`
	Generator string          `json:"generator"`
	Seed      uint64          `json:"seed"`
	Start     time.Time       `json:"start"`
	End       time.Time       `json:"end"`
	Campaigns []TruthCampaign `json:"campaigns"`
	Benign    []TruthBenign   `json:"benign"`
}

// TruthCampaign is one attack campaign.
type TruthCampaign struct {
	ID         string        `json:"id"`
	Name       string        `json:"name"`
	Start      time.Time     `json:"start"`
	End        time.Time     `json:"end"`
	Techniques []string      `json:"techniques"`
	Entities   []TruthEntity `json:"entities"`
	Events     []TruthEvent  `json:"events"`
}

// TruthBenign is one benign novelty episode.
type TruthBenign struct {
	ID       string        `json:"id"`
	Kind     string        `json:"kind"`
	Start    time.Time     `json:"start"`
	End      time.Time     `json:"end"`
	Entities []TruthEntity `json:"entities"`
	Events   []TruthEvent  `json:"events"`
}

// TruthEntity is a user (name@domain), host (FQDN) or ip, canonical and lower case,
// with the other names it goes by in the logs (CORP\name in Windows events, the
// identity provider's login, a host's address).
type TruthEntity struct {
	Kind    string   `json:"kind"`
	Value   string   `json:"value"`
	Aliases []string `json:"aliases,omitempty"`
}

// TruthEvent locates one record: file relative to the output directory, byte
// offset of its first byte, 1-based line.
type TruthEvent struct {
	File      string    `json:"file"`
	Offset    int64     `json:"offset"`
	Line      int64     `json:"line"`
	Time      time.Time `json:"time"`
	Technique string    `json:"technique,omitempty"`
}

type tagKind uint8

const (
	tagNone tagKind = iota
	tagCampaign
	tagBenign
)

// tag marks a record as part of a campaign or episode.
type tag struct {
	kind      tagKind
	idx       int
	technique string
}
