// Package webhookcert manages the webhook serving certificate when none is provided in
// --webhook-cert-dir: a CA and a serving certificate kept in a Secret in the operator
// namespace (shared by every replica), written to the certificate directory, with the CA
// injected into the operator's webhook configurations, and renewed before expiry.
package webhookcert

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/itops-dev/itops-operator/internal/certs"
)

// Secret keys.
const (
	keyCACert = "ca.crt"
	keyCAKey  = "ca.key"
	keyCert   = corev1.TLSCertKey
	keyKey    = corev1.TLSPrivateKeyKey
)

// HasCertificate reports whether dir already holds a serving certificate (then the operator
// serves it and manages none).
func HasCertificate(dir string) bool {
	for _, f := range []string{keyCert, keyKey} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return false
		}
	}
	return true
}

// Manager issues, stores, writes, injects and renews the serving certificate.
type Manager struct {
	// Client must read live (not from a cache that has not started yet).
	Client      client.Client
	Namespace   string
	SecretName  string
	ServiceName string
	CertDir     string
	// WebhookConfiguration is the name of the operator's MutatingWebhookConfiguration and of
	// its ValidatingWebhookConfiguration (the install gives both the same name). The CA is
	// injected into these two and no other; RBAC lets the operator patch nothing else.
	WebhookConfiguration string
	Clock                clock.PassiveClock
}

func (m *Manager) now() time.Time {
	if m.Clock == nil {
		return time.Now()
	}
	return m.Clock.Now()
}

// DNSNames are the names the serving certificate is for.
func (m *Manager) DNSNames() []string {
	svc := m.ServiceName + "." + m.Namespace + ".svc"
	return []string{svc, svc + ".cluster.local"}
}

// Ensure makes the Secret hold a usable bundle (issuing or renewing as needed, tolerating
// other replicas doing the same), writes the serving pair to CertDir, injects the CA into the
// webhook configurations, and returns when the certificate must be renewed.
func (m *Manager) Ensure(ctx context.Context) (time.Time, error) {
	bundle, err := m.ensureSecret(ctx)
	if err != nil {
		return time.Time{}, err
	}
	if err := m.writeFiles(bundle); err != nil {
		return time.Time{}, err
	}
	if err := m.injectCA(ctx, bundle.CACert); err != nil {
		return time.Time{}, err
	}
	return certs.RenewAt(bundle, m.DNSNames(), m.now()), nil
}

func (m *Manager) ensureSecret(ctx context.Context) (*certs.Bundle, error) {
	for range 5 {
		secret := &corev1.Secret{}
		err := m.Client.Get(ctx, client.ObjectKey{Namespace: m.Namespace, Name: m.SecretName}, secret)
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, err
		}
		exists := err == nil
		current := &certs.Bundle{CACert: secret.Data[keyCACert], CAKey: secret.Data[keyCAKey], Cert: secret.Data[keyCert], Key: secret.Data[keyKey]}
		if exists && !certs.RenewAt(current, m.DNSNames(), m.now()).IsZero() {
			return current, nil
		}
		next, err := certs.Issue(current, m.DNSNames(), m.now())
		if err != nil {
			return nil, err
		}
		secret.Name, secret.Namespace, secret.Type = m.SecretName, m.Namespace, corev1.SecretTypeTLS
		secret.Labels = map[string]string{"app.kubernetes.io/managed-by": "itops-operator"}
		secret.Data = map[string][]byte{keyCACert: next.CACert, keyCAKey: next.CAKey, keyCert: next.Cert, keyKey: next.Key}
		if exists {
			err = m.Client.Update(ctx, secret)
		} else {
			err = m.Client.Create(ctx, secret)
		}
		switch {
		case err == nil:
			ctrl.LoggerFrom(ctx).Info("issued the webhook serving certificate", "secret", m.Namespace+"/"+m.SecretName, "dnsNames", m.DNSNames())
			return next, nil
		case apierrors.IsAlreadyExists(err) || apierrors.IsConflict(err):
			continue // another replica got there first: use theirs
		default:
			return nil, fmt.Errorf("storing the webhook certificate in secret %s/%s: %w", m.Namespace, m.SecretName, err)
		}
	}
	return nil, fmt.Errorf("secret %s/%s keeps changing under us", m.Namespace, m.SecretName)
}

func (m *Manager) writeFiles(b *certs.Bundle) error {
	if err := os.MkdirAll(m.CertDir, 0o700); err != nil {
		return err
	}
	for name, data := range map[string][]byte{keyCert: b.Cert, keyKey: b.Key} {
		path := filepath.Join(m.CertDir, name)
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
			continue
		}
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			return err
		}
		if err := os.Rename(tmp, path); err != nil {
			return err
		}
	}
	return nil
}

// injectCA sets caBundle on every webhook of the operator's own webhook configurations (by
// name; a configuration that does not exist is skipped), and on nothing else: another
// product's webhooks are not ours to redirect, whatever their names.
func (m *Manager) injectCA(ctx context.Context, ca []byte) error {
	mutating := &admissionregistrationv1.MutatingWebhookConfiguration{}
	err := m.injectInto(ctx, "MutatingWebhookConfiguration", mutating, ca, func() []*admissionregistrationv1.WebhookClientConfig {
		out := make([]*admissionregistrationv1.WebhookClientConfig, 0, len(mutating.Webhooks))
		for i := range mutating.Webhooks {
			out = append(out, &mutating.Webhooks[i].ClientConfig)
		}
		return out
	})
	if err != nil {
		return err
	}
	validating := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	return m.injectInto(ctx, "ValidatingWebhookConfiguration", validating, ca, func() []*admissionregistrationv1.WebhookClientConfig {
		out := make([]*admissionregistrationv1.WebhookClientConfig, 0, len(validating.Webhooks))
		for i := range validating.Webhooks {
			out = append(out, &validating.Webhooks[i].ClientConfig)
		}
		return out
	})
}

// injectInto reads the configuration of the given kind named m.WebhookConfiguration into cfg
// and patches ca into every client config clientConfigs returns from it, when any differs.
func (m *Manager) injectInto(ctx context.Context, kind string, cfg client.Object, ca []byte,
	clientConfigs func() []*admissionregistrationv1.WebhookClientConfig) error {
	err := m.Client.Get(ctx, client.ObjectKey{Name: m.WebhookConfiguration}, cfg)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s %s: %w", kind, m.WebhookConfiguration, err)
	}
	base, ok := cfg.DeepCopyObject().(client.Object)
	if !ok {
		return fmt.Errorf("copying %s %s", kind, m.WebhookConfiguration)
	}
	changed := false
	for _, cc := range clientConfigs() {
		if !bytes.Equal(cc.CABundle, ca) {
			cc.CABundle, changed = ca, true
		}
	}
	if !changed {
		return nil
	}
	// A strategic merge patch keyed by webhook name touches only the caBundles, never the
	// namespaceSelector the scope controller (controllers/webhookscope) maintains meanwhile.
	if err := m.Client.Patch(ctx, cfg, client.StrategicMergeFrom(base)); err != nil {
		return fmt.Errorf("injecting the CA into %s %s: %w", kind, m.WebhookConfiguration, err)
	}
	return nil
}

// Start renews the certificate at exactly its renewal time, for as long as the manager runs
// (a manager.Runnable; every replica runs it, since every replica serves webhooks).
func (m *Manager) Start(ctx context.Context) error {
	log := ctrl.LoggerFrom(ctx).WithName("webhookcert")
	for {
		renewAt, err := m.Ensure(ctx)
		wait := time.Until(renewAt)
		if err != nil {
			log.Error(err, "ensuring the webhook certificate; retrying in a minute")
			wait = time.Minute
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// NeedLeaderElection is false: every replica serves webhooks and needs the files.
func (m *Manager) NeedLeaderElection() bool { return false }

// The operator reads and patches its own webhook configurations only. The name is the
// kustomize install's; the Helm chart substitutes its release's (hack/sync-chart.sh).
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=mutatingwebhookconfigurations;validatingwebhookconfigurations,verbs=get;patch,resourceNames=itops-operator
