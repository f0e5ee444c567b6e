package attack

import "sort"

// Progress says how far a sequence of tactics advances along the kill chain.
type Progress struct {
	// Score is (Distinct + Longest) / (2 x 14), in [0, 1]: every distinct tactic
	// counts once, and every tactic on the longest rising chain counts once more.
	// The same set of tactics therefore scores higher when observed in kill-chain
	// order, and a full 14-stage rising chain scores 1.
	Score float64
	// Rising is true when at least two distinct tactics were seen and all of them
	// lie on one rising chain (Longest == Distinct): the sequence moved forward
	// through the kill chain, repeats aside.
	Rising bool
	// Distinct is the number of distinct known tactics.
	Distinct int
	// Longest is the length of the longest strictly rising chain of kill-chain
	// stages taken in sequence order (a longest increasing subsequence).
	Longest int
	// First and Last are the earliest and furthest kill-chain stages seen (zero
	// Tactic when none is known).
	First, Last Tactic
	// Unknown counts entries that are not tactics (they are ignored).
	Unknown int
}

// Progression measures an ordered sequence of tactics (ids, short names or
// names, as [LookupTactic] accepts), typically the tactics of an incident's
// signals sorted by event time.
//
// Definition: map each entry to its kill-chain stage 1..14 (unknown entries are
// counted and skipped). Distinct is the number of different stages; Longest is
// the longest strictly increasing subsequence of the stage sequence (computed in
// O(n log n) by patience sorting), i.e. the most stages an attacker can be shown
// to have advanced through in order. Score = (Distinct + Longest) / 28, so
// breadth and forward motion weigh equally and a rising sequence weighs up to
// twice the same tactics seen in reverse (reverse order gives Longest = 1).
// Longest rather than "every step rises" keeps the measure robust to the usual
// interleaving (defense evasion or discovery reappearing between later stages).
func Progression(tactics []string) Progress {
	t := load()
	var p Progress
	var seen [TacticCount + 1]bool
	// tails[k] is the smallest stage ending a rising chain of length k+1.
	tails := make([]int, 0, TacticCount)
	first, last := 0, 0
	for _, s := range tactics {
		i, ok := t.tacticKey[normTactic(s)]
		if !ok {
			p.Unknown++
			continue
		}
		stage := i + 1
		if !seen[stage] {
			seen[stage] = true
			p.Distinct++
		}
		if first == 0 || stage < first {
			first = stage
		}
		if stage > last {
			last = stage
		}
		k := sort.SearchInts(tails, stage) // strictly increasing: replace the first >= stage
		if k == len(tails) {
			tails = append(tails, stage)
		} else {
			tails[k] = stage
		}
	}
	p.Longest = len(tails)
	p.Score = float64(p.Distinct+p.Longest) / (2 * TacticCount)
	p.Rising = p.Distinct >= 2 && p.Longest == p.Distinct
	if first > 0 {
		p.First, p.Last = t.tactics[first-1], t.tactics[last-1]
	}
	return p
}
