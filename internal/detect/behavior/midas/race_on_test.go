//go:build race

package midas

// raceEnabled: the race detector slows the full DARPA stream tenfold, so the
// corpus test skips under it.
const raceEnabled = true
