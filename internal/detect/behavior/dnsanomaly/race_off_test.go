//go:build !race

package dnsanomaly

const raceEnabled = false
