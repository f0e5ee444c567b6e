package main

import (
	"crypto/aes"
	"crypto/des"
	"crypto/hmac"
	"crypto/md5"
	crand "crypto/rand"
	"crypto/rc4"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	mrand "math/rand"
)

func hashes(data []byte) {
	_ = md5.Sum(data)               // want VGL-GO-010
	mac := hmac.New(sha1.New, data) // want VGL-GO-010
	_ = mac
	_ = sha256.Sum256(data) // safe
}

func ciphers(key []byte) {
	_, _ = des.NewCipher(key) // want VGL-GO-011
	_, _ = rc4.NewCipher(key) // want VGL-GO-011
	_, _ = aes.NewCipher(key) // safe
}

func rsaKeys() {
	_, _ = rsa.GenerateKey(crand.Reader, 1024) // want VGL-GO-012
	_, _ = rsa.GenerateKey(crand.Reader, 2048) // safe
	const small = 512
	_, _ = rsa.GenerateKey(crand.Reader, small) // want VGL-GO-012
}

func tlsConfigs() []*tls.Config {
	a := &tls.Config{InsecureSkipVerify: true}     // want VGL-GO-013
	b := &tls.Config{MinVersion: tls.VersionTLS10} // want VGL-GO-014
	c := &tls.Config{MinVersion: tls.VersionTLS12} // safe
	d := &tls.Config{}
	d.InsecureSkipVerify = true     // want VGL-GO-013
	d.MinVersion = tls.VersionTLS11 // want VGL-GO-014
	return []*tls.Config{a, b, c, d}
}

const letters = "abcdefghijklmnopqrstuvwxyz0123456789"

func tokens(keys []string) string {
	token := fmt.Sprintf("%x", mrand.Int63()) // want VGL-GO-015
	key := keys[mrand.Intn(len(keys))]        // safe: picks an element
	idx := mrand.Intn(10)                     // safe
	sessionKey := make([]byte, 16)
	_, _ = crand.Read(sessionKey) // safe
	return token + key + fmt.Sprint(idx)
}

func generateAPIKey() string {
	b := make([]byte, 24)
	for i := range b {
		b[i] = letters[mrand.Intn(len(letters))] // want VGL-GO-015
	}
	return string(b)
}
