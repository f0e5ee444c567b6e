//go:build !race

package travel

// raceEnabled is false without the race detector.
const raceEnabled = false
