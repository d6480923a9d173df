package certs

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"
)

var now = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

func TestIssue(t *testing.T) {
	names := []string{"webhook.itops-system.svc", "webhook.itops-system.svc.cluster.local"}
	b, err := Issue(nil, names, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.X509KeyPair(b.Cert, b.Key); err != nil {
		t.Fatalf("serving pair unusable: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b.CACert) {
		t.Fatal("CA not PEM")
	}
	cert, _, err := parsePair(b.Cert, b.Key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: names[1], CurrentTime: now}); err != nil {
		t.Errorf("serving cert does not verify against the CA: %v", err)
	}
	if got, want := RenewAt(b, names, now), now.Add(ServingLifetime-RenewBefore); !got.Equal(want) {
		t.Errorf("RenewAt = %s, want %s", got, want)
	}

	// Renewal keeps the CA, so webhook configurations keep trusting the new certificate.
	later := now.Add(ServingLifetime - RenewBefore + time.Hour)
	if !RenewAt(b, names, later).IsZero() {
		t.Error("a certificate inside its renewal window must be renewed")
	}
	renewed, err := Issue(b, names, later)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(renewed.CACert, b.CACert) || bytes.Equal(renewed.Cert, b.Cert) {
		t.Error("renewal must keep the CA and issue a new serving certificate")
	}
}

func TestRenewAtRejectsUnusableBundles(t *testing.T) {
	names := []string{"a.svc"}
	b, err := Issue(nil, names, now)
	if err != nil {
		t.Fatal(err)
	}
	other, err := Issue(nil, names, now)
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]*Bundle{
		"nil":              nil,
		"garbage":          {CACert: []byte("x"), CAKey: []byte("y"), Cert: []byte("z"), Key: []byte("w")},
		"foreign CA":       {CACert: other.CACert, CAKey: other.CAKey, Cert: b.Cert, Key: b.Key},
		"mismatched key":   {CACert: b.CACert, CAKey: b.CAKey, Cert: b.Cert, Key: other.Key},
		"missing DNS name": b,
	}
	for name, bundle := range tests {
		dns := names
		if name == "missing DNS name" {
			dns = []string{"a.svc", "b.svc"}
		}
		if got := RenewAt(bundle, dns, now); !got.IsZero() {
			t.Errorf("%s: RenewAt = %s, want zero (unusable)", name, got)
		}
	}
}
