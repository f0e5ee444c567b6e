package main

import (
	"database/sql"
	"net/url"
	"os"
)

const dbPassword = "Sup3rS3cret!2024" // want VGL-GO-016

// config is a service configuration.
type config struct {
	Username string
	Password string
	TokenURL string
	APIKey   string
}

func configs(password string) []config {
	a := config{Username: "admin", Password: "hunter2hunter2"}    // want VGL-GO-016
	b := config{Password: os.Getenv("APP_PASSWORD")}              // safe
	c := config{TokenURL: "https://auth.example.com/oauth/token"} // safe
	d := config{Password: "changeme"}                             // safe: placeholder
	e := config{Password: "${DB_PASSWORD}"}                       // safe: placeholder
	var f config
	f.APIKey = "q8Zr2LmX4vNp7TwK"  // want VGL-GO-016
	if password == "letmein123!" { // want VGL-GO-016
		return nil
	}
	passwordPrompt := "Enter your password:" // safe
	_ = passwordPrompt
	passwordEnv := "DB_PASSWORD" // safe
	_ = passwordEnv
	return []config{a, b, c, d, e, f}
}

func connect() {
	db, err := sql.Open("postgres", "postgres://app:Pa55w0rdXyz@db:5432/app") // want VGL-GO-016
	if err == nil {
		_ = db.Close()
	}
	db, err = sql.Open("postgres", "host=db user=app password="+os.Getenv("PGPASSWORD")) // safe
	if err == nil {
		_ = db.Close()
	}
	_ = url.UserPassword("svc", "Zx9!kQ2#wE")              // want VGL-GO-016
	_ = url.UserPassword("svc", os.Getenv("SVC_PASSWORD")) // safe
}
