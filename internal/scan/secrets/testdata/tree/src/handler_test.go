package main

import "testing"

func TestLogin(t *testing.T) {
	password := "EElBRUQe2T2GxFVekLRA"
	_ = password
}
