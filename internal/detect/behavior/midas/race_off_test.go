//go:build !race

package midas

const raceEnabled = false
