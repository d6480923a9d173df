package alertmanager

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"strings"
)

// BearerToken returns the token of an "Authorization: Bearer <token>" header (the scheme
// matched case-insensitively, RFC 6750), or "" when the header is absent or another scheme.
func BearerToken(authorization string) string {
	scheme, token, ok := strings.Cut(strings.TrimSpace(authorization), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// TokenMatches compares a presented token with the expected one in constant time (both are
// hashed first, so neither their contents nor their lengths leak through timing). An empty
// expected token matches nothing.
func TokenMatches(presented, expected string) bool {
	if expected == "" || presented == "" {
		return false
	}
	p, e := sha256.Sum256([]byte(presented)), sha256.Sum256([]byte(expected))
	return subtle.ConstantTimeCompare(p[:], e[:]) == 1
}

// ClientCertVerified reports whether the connection presented a client certificate that
// chains to one of roots and may be used for client authentication. The webhook server only
// requests client certificates (it does not require or verify them, so the API server's
// admission calls are unaffected); the endpoint verifies them here.
func ClientCertVerified(state *tls.ConnectionState, roots *x509.CertPool) bool {
	if state == nil || roots == nil || len(state.PeerCertificates) == 0 {
		return false
	}
	inter := x509.NewCertPool()
	for _, c := range state.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := state.PeerCertificates[0].Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	return err == nil
}
