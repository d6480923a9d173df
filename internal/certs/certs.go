// Package certs issues the webhook serving certificate when the operator manages its own:
// a self-signed CA and a serving certificate for the webhook Service's DNS names. It is pure:
// callers pass the clock and store the result.
package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"
)

// Lifetimes of what Issue creates, and how early a serving certificate is renewed.
const (
	CALifetime      = 10 * 365 * 24 * time.Hour
	ServingLifetime = 365 * 24 * time.Hour
	RenewBefore     = 30 * 24 * time.Hour
)

// Bundle is a CA and a serving certificate signed by it, PEM-encoded.
type Bundle struct {
	CACert, CAKey, Cert, Key []byte
}

// Issue creates a serving certificate for dnsNames, signed by the bundle's CA when it has a
// valid one (so that webhook configurations keep trusting it), else by a new CA.
func Issue(ca *Bundle, dnsNames []string, now time.Time) (*Bundle, error) {
	if len(dnsNames) == 0 {
		return nil, errors.New("no DNS names")
	}
	out := &Bundle{}
	var caCert *x509.Certificate
	var caKey *ecdsa.PrivateKey
	if ca != nil && len(ca.CACert) > 0 {
		c, k, err := parsePair(ca.CACert, ca.CAKey)
		if err == nil && now.Add(ServingLifetime).Before(c.NotAfter) {
			caCert, caKey, out.CACert, out.CAKey = c, k, ca.CACert, ca.CAKey
		}
	}
	if caCert == nil {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		tmpl := &x509.Certificate{
			SerialNumber:          serial(),
			Subject:               pkix.Name{CommonName: "itops-operator-webhook-ca"},
			NotBefore:             now.Add(-time.Hour),
			NotAfter:              now.Add(CALifetime),
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
			BasicConstraintsValid: true,
			IsCA:                  true,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			return nil, err
		}
		if caCert, err = x509.ParseCertificate(der); err != nil {
			return nil, err
		}
		caKey = key
		out.CACert = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
		if out.CAKey, err = encodeKey(key); err != nil {
			return nil, err
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: dnsNames[0]},
		DNSNames:     dnsNames,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(ServingLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	out.Cert = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if out.Key, err = encodeKey(key); err != nil {
		return nil, err
	}
	return out, nil
}

// RenewAt returns when the bundle's serving certificate must be renewed, or the zero time when
// it is unusable now (missing, unparsable, not for dnsNames, not signed by the bundle's CA).
func RenewAt(b *Bundle, dnsNames []string, now time.Time) time.Time {
	if b == nil {
		return time.Time{}
	}
	cert, _, err := parsePair(b.Cert, b.Key)
	if err != nil {
		return time.Time{}
	}
	ca, _, err := parsePair(b.CACert, b.CAKey)
	if err != nil || cert.CheckSignatureFrom(ca) != nil {
		return time.Time{}
	}
	for _, n := range dnsNames {
		if !slices.Contains(cert.DNSNames, n) {
			return time.Time{}
		}
	}
	renew := cert.NotAfter.Add(-RenewBefore)
	if !now.Before(renew) {
		return time.Time{}
	}
	return renew
}

func parsePair(certPEM, keyPEM []byte) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, nil, errors.New("not PEM")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, nil, fmt.Errorf("key does not match certificate %q", cert.Subject.CommonName)
	}
	return cert, key, nil
}

func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return big.NewInt(time.Now().UnixNano())
	}
	return n
}
