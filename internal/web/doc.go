// Package web is the analysts' console: a single-page application in plain
// HTML, CSS and JavaScript modules (no framework, no build step, nothing
// fetched from outside the origin), embedded in the binary and served by
// [Handler].
//
// The files hold no data, so they are public; everything the console shows
// comes from the authenticated REST API (/api/v1, internal/api and
// internal/auth). The console runs under the Content-Security-Policy
// "default-src 'self'": index.html has no inline script or style, and no
// element carries a style attribute (the unit tests check this).
//
// Pages use hash routing: #/incidents (the queue), #/incidents/{id},
// #/entities/{kind}/{value}, #/search?q=, #/feedback, #/outbox, #/audit.
// README.md lists the pages, the keyboard shortcuts and how to run the
// browser test (e2e_test.go with e2e/console.mjs, headless Chromium through
// playwright-core).
package web
