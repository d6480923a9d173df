package alertmanager

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	am "github.com/itops-dev/itops-operator/internal/alertmanager"
	"github.com/itops-dev/itops-operator/internal/config"
)

// tokenRereadAfterRefusal bounds how often a refused token makes the operator read its Secret
// again (a token just rotated is honoured at once, and unauthenticated callers cannot make the
// operator hammer the API server).
const tokenRereadAfterRefusal = 5 * time.Second

// authenticate reports whether the request carries the bearer token (when tokenSecretRef is
// set) or a client certificate the policy's clientCA trusts (when clientCA is set). An error
// means the token cannot be read: the request can be neither accepted nor refused.
func (r *Receiver) authenticate(req *http.Request) (bool, error) {
	if r.Policy.ClientCA != "" && am.ClientCertVerified(req.TLS, r.caPool()) {
		return true, nil
	}
	if r.Policy.TokenSecretRef == nil {
		return false, nil
	}
	presented := am.BearerToken(req.Header.Get("Authorization"))
	if presented == "" {
		return false, nil
	}
	token, err := r.currentToken(req.Context(), false)
	if err != nil {
		return false, err
	}
	if am.TokenMatches(presented, token) {
		return true, nil
	}
	// Perhaps the token was rotated since it was read.
	token, err = r.currentToken(req.Context(), true)
	if err != nil {
		return false, err
	}
	return am.TokenMatches(presented, token), nil
}

// currentToken returns the token, read from its Secret at most once per tokenTTL (refresh:
// at most once per tokenRereadAfterRefusal).
func (r *Receiver) currentToken(ctx context.Context, refresh bool) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	age := now.Sub(r.tokenRead)
	if r.token != "" && age < tokenTTL && (!refresh || age < tokenRereadAfterRefusal) {
		return r.token, nil
	}
	ref := r.Policy.TokenSecretRef
	secret := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: r.Namespace, Name: ref.Name}, secret); err != nil {
		return "", fmt.Errorf("reading the token Secret %s/%s (alertmanager.tokenSecretRef): %w", r.Namespace, ref.Name, err)
	}
	token := string(secret.Data[ref.Key])
	if token == "" {
		return "", fmt.Errorf("the token Secret %s/%s has no key %q, or it is empty (alertmanager.tokenSecretRef)", r.Namespace, ref.Name, ref.Key)
	}
	r.token, r.tokenRead = token, now
	return token, nil
}

// caPool is the policy's clientCA, parsed once (the policy validated it).
func (r *Receiver) caPool() *x509.CertPool {
	r.caOnce.Do(func() {
		pool := x509.NewCertPool()
		if pool.AppendCertsFromPEM([]byte(r.Policy.ClientCA)) {
			r.clientCAs = pool
		}
	})
	return r.clientCAs
}

// TLSOptions returns the webhook server's TLS options: base, plus, when the policy enables
// mTLS (alertmanager.clientCA), a request for a client certificate. The server asks for one
// but neither requires nor verifies it in the handshake, so admission requests from the API
// server are unaffected; the Alertmanager endpoint verifies it against the clientCA.
func TLSOptions(base []func(*tls.Config), p config.AlertmanagerPolicy) []func(*tls.Config) {
	if !p.Enabled || p.ClientCA == "" {
		return base
	}
	return append(append([]func(*tls.Config){}, base...), func(c *tls.Config) {
		if c.ClientAuth == tls.NoClientCert {
			c.ClientAuth = tls.RequestClientCert
		}
	})
}
