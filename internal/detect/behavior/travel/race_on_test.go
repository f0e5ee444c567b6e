//go:build race

package travel

// raceEnabled: the race detector slows the simulator several times over, so under
// -race the simulated-organisation test runs one seed.
const raceEnabled = true
