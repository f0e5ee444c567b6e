package main

import (
	"net"
	"net/http"
	"net/url"
	"strings"
)

func ssrfGet(w http.ResponseWriter, r *http.Request) {
	resp, err := http.Get(r.FormValue("url")) // want VGL-GO-004
	if err == nil {
		_ = resp.Body.Close()
	}
	resp, err = http.Get("https://api.example.com/status") // safe
	if err == nil {
		_ = resp.Body.Close()
	}
}

func (s *server) ssrfRequest(w http.ResponseWriter, r *http.Request) {
	backend := r.Header.Get("X-Backend")
	req, err := http.NewRequest(http.MethodGet, "http://"+backend+"/health", nil) // want VGL-GO-004
	if err == nil {
		resp, err := s.http.Do(req)
		if err == nil {
			_ = resp.Body.Close()
		}
	}
	q := r.URL.Query().Get("q")
	req, err = http.NewRequestWithContext(r.Context(), http.MethodGet, "https://api.example.com/search?q="+url.QueryEscape(q), nil) // safe
	if err == nil {
		resp, err := s.http.Do(req)
		if err == nil {
			_ = resp.Body.Close()
		}
	}
}

// fetch gets a URL with a client.
func fetch(c *http.Client, target string) error {
	resp, err := c.Get(target) // want VGL-GO-004
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

func (s *server) ssrfHelper(w http.ResponseWriter, r *http.Request) {
	_ = fetch(s.http, strings.TrimSpace(r.PostFormValue("feed")))
	_ = fetch(s.http, "https://feeds.example.com/rss") // safe
}

// webhook is a callback registration.
type webhook struct {
	URL   string
	Event string
}

func notify(h *webhook) {
	resp, err := http.Post(h.URL, "text/plain", strings.NewReader(h.Event)) // want VGL-GO-004
	if err == nil {
		_ = resp.Body.Close()
	}
}

func ssrfStruct(w http.ResponseWriter, r *http.Request) {
	notify(&webhook{URL: r.FormValue("callback"), Event: "created"})
	notify(&webhook{URL: "https://hooks.example.com/x", Event: r.FormValue("event")}) // safe
}

func ssrfDial(w http.ResponseWriter, r *http.Request) {
	c, err := net.Dial("tcp", r.FormValue("addr")) // want VGL-GO-004
	if err == nil {
		_ = c.Close()
	}
	c, err = net.Dial("tcp", "localhost:6379") // safe
	if err == nil {
		_ = c.Close()
	}
}
