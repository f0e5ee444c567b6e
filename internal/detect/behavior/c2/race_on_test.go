//go:build race

package c2

// raceEnabled: the race detector slows the three-day corpus replay several
// times over, so under -race the corpus test replays one day.
const raceEnabled = true
