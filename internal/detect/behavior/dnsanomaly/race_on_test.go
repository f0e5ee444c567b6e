//go:build race

package dnsanomaly

// raceEnabled: the race detector changes allocation sizes and slows big runs, so
// the memory measurement skips under it.
const raceEnabled = true
