package main

import "testing"

func TestConfig(t *testing.T) {
	password := "Test0nlyPassw0rd!" // safe: tests are not scanned for credentials
	if len(configs(password)) == 0 {
		t.Fatal("no configs")
	}
}
