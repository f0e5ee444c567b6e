package vulndb

import (
	"encoding/json"
	"math"
	"strings"

	gocvss20 "github.com/pandatix/go-cvss/20"
	gocvss30 "github.com/pandatix/go-cvss/30"
	gocvss31 "github.com/pandatix/go-cvss/31"
	gocvss40 "github.com/pandatix/go-cvss/40"

	"github.com/vigilsec/vigil/internal/scan"
)

// pickSeverity reads a record's (or an affected entry's) severity: the first
// CVSS v3 vector, else the first v4, else the first v2, whose base score
// gives the level by the CVSS qualitative scale; else GitHub's
// database_specific.severity word (LOW, MODERATE, HIGH, CRITICAL); else
// unknown. A vector that does not parse is passed over.
func pickSeverity(sevs []osvSeverity, dbSeverity json.RawMessage) severity {
	for _, typ := range []string{"CVSS_V3", "CVSS_V4", "CVSS_V2"} {
		for _, s := range sevs {
			if s.Type != typ || len(s.Score) > maxVectorLen {
				continue
			}
			vec := strings.TrimSpace(s.Score)
			if score, ok := cvssBaseScore(typ, vec); ok {
				return severity{Level: levelOfScore(score), CVSS: vec, Score: score}
			}
		}
	}
	var word string
	if len(dbSeverity) > 0 && json.Unmarshal(dbSeverity, &word) == nil {
		if lvl, err := scan.ParseSeverity(word); err == nil {
			return severity{Level: lvl}
		}
	}
	return severity{}
}

// cvssBaseScore computes a vector's base score with go-cvss.
func cvssBaseScore(typ, vec string) (score float64, ok bool) {
	defer func() {
		if recover() != nil { // go-cvss on a vector it did not expect: not a score
			score, ok = 0, false
		}
	}()
	switch typ {
	case "CVSS_V3":
		switch {
		case strings.HasPrefix(vec, "CVSS:3.1/"):
			c, err := gocvss31.ParseVector(vec)
			if err != nil {
				return 0, false
			}
			score = c.BaseScore()
		case strings.HasPrefix(vec, "CVSS:3.0/"):
			c, err := gocvss30.ParseVector(vec)
			if err != nil {
				return 0, false
			}
			score = c.BaseScore()
		default:
			return 0, false
		}
	case "CVSS_V4":
		c, err := gocvss40.ParseVector(vec)
		if err != nil {
			return 0, false
		}
		score = c.Score()
	case "CVSS_V2":
		c, err := gocvss20.ParseVector(strings.TrimPrefix(vec, "CVSS:2.0/"))
		if err != nil {
			return 0, false
		}
		score = c.BaseScore()
	default:
		return 0, false
	}
	if math.IsNaN(score) || score < 0 || score > 10 {
		return 0, false
	}
	return math.Round(score*10) / 10, true
}

// levelOfScore maps a CVSS base score to its qualitative rating: 9.0-10.0
// critical, 7.0-8.9 high, 4.0-6.9 medium, 0.1-3.9 low. A score of 0.0 ("none")
// is reported as low: the record is still an advisory.
func levelOfScore(score float64) scan.Severity {
	switch {
	case score >= 9.0:
		return scan.SeverityCritical
	case score >= 7.0:
		return scan.SeverityHigh
	case score >= 4.0:
		return scan.SeverityMedium
	default:
		return scan.SeverityLow
	}
}
