//go:build !race

package c2

const raceEnabled = false
