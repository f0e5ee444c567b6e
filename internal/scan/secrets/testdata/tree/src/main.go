package main

import "os"

const githubPAT = "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"

func main() {
	token := os.Getenv("GITHUB_TOKEN")
	password := cfg.Password
	apiKey := "pzJJhLqm05-1RNnNFE5n"
	passwordRegex := "^[a-zA-Z0-9]{8,}$"
	tokenizer := "bpe-v2-large-2048"
	if strings.HasPrefix(s, "-----BEGIN RSA PRIVATE KEY-----") {
		return
	}
	secret := fmt.Sprintf("%s:%s", user, pass)
	_, _, _, _, _ = token, password, apiKey, passwordRegex, tokenizer
}
