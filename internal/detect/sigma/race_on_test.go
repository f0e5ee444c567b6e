//go:build race

package sigma

// raceEnabled: the race detector slows the corpus-wide differential tests tenfold,
// so they sample events.
const raceEnabled = true
