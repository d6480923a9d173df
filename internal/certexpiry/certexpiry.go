// Package certexpiry judges TLS certificates by their expiry (reason CertificateExpiring,
// docs/detectors.md): it parses a Secret's tls.crt into the few facts the detector needs and
// computes the signal and the exact time of the next threshold crossing. Pure: no client, the
// time is given.
package certexpiry

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	itopsv1alpha1 "github.com/itops-dev/itops-operator/api/v1alpha1"
	"github.com/itops-dev/itops-operator/internal/priority"
)

// Annotations on a trimmed Secret that carry the parsed leaf certificate (the cache transform
// writes them and drops every data key: no key material stays in memory).
const (
	AnnotationNotAfter = "certexpiry.itops.dev/not-after"
	AnnotationSubject  = "certexpiry.itops.dev/subject"
	AnnotationIssuer   = "certexpiry.itops.dev/issuer"
	AnnotationError    = "certexpiry.itops.dev/error"
)

// Info is what the detector keeps of a certificate.
type Info struct {
	// NotAfter is the leaf certificate's expiry.
	NotAfter time.Time
	// Subject and Issuer are the distinguished names, as x509's String() gives them.
	Subject, Issuer string
}

// Parse reads the leaf (first) certificate of a PEM bundle, as kubernetes.io/tls Secrets
// carry it in tls.crt (leaf first, then intermediates). Errors: no PEM CERTIFICATE block, or
// an unparsable certificate.
func Parse(pemBytes []byte) (Info, error) {
	for rest := pemBytes; len(rest) > 0; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return Info{}, fmt.Errorf("parsing the leaf certificate: %w", err)
		}
		return Info{NotAfter: cert.NotAfter, Subject: cert.Subject.String(), Issuer: cert.Issuer.String()}, nil
	}
	return Info{}, errors.New("tls.crt holds no PEM CERTIFICATE block")
}

// Stage is how close a certificate is to its expiry.
type Stage int

// Stages, in order.
const (
	// Valid: expires after warnBefore.
	Valid Stage = iota
	// Expiring: within warnBefore; low priority (impact Medium, urgency Low: P4).
	Expiring
	// Critical: within criticalBefore; high priority (impact High, urgency Medium: P2).
	Critical
	// Expired: past NotAfter; highest (impact High, urgency High: P1).
	Expired
)

// Judgement is the detector's decision on one certificate.
type Judgement struct {
	Stage Stage
	// Impact, Urgency and Priority of the signal (empty while Valid).
	Impact, Urgency itopsv1alpha1.Level
	Priority        itopsv1alpha1.Priority
	// Message says when the certificate expires (or expired), for a person.
	Message string
	// Next is the next threshold crossing (when the stage changes without the certificate
	// changing): NotAfter-warnBefore, NotAfter-criticalBefore, NotAfter; zero once Expired.
	Next time.Time
}

// Judge places the certificate among the thresholds at now. A certificate expiring exactly at
// a threshold is in the later stage (at NotAfter-warnBefore it is Expiring).
func Judge(info Info, now time.Time, warnBefore, criticalBefore time.Duration) Judgement {
	warnAt, critAt := info.NotAfter.Add(-warnBefore), info.NotAfter.Add(-criticalBefore)
	exp := info.NotAfter.UTC().Format(time.RFC3339)
	who := fmt.Sprintf("certificate %q issued by %q", info.Subject, info.Issuer)
	j := Judgement{}
	switch {
	case !now.Before(info.NotAfter):
		j = Judgement{Stage: Expired, Impact: itopsv1alpha1.LevelHigh, Urgency: itopsv1alpha1.LevelHigh,
			Message: fmt.Sprintf("%s expired at %s", who, exp)}
	case !now.Before(critAt):
		j = Judgement{Stage: Critical, Impact: itopsv1alpha1.LevelHigh, Urgency: itopsv1alpha1.LevelMedium,
			Message: fmt.Sprintf("%s expires at %s (in %s)", who, exp, left(info.NotAfter.Sub(now))), Next: info.NotAfter}
	case !now.Before(warnAt):
		j = Judgement{Stage: Expiring, Impact: itopsv1alpha1.LevelMedium, Urgency: itopsv1alpha1.LevelLow,
			Message: fmt.Sprintf("%s expires at %s (in %s)", who, exp, left(info.NotAfter.Sub(now))), Next: critAt}
	default:
		return Judgement{Stage: Valid, Next: warnAt}
	}
	j.Priority = priority.For(j.Impact, j.Urgency)
	return j
}

// left rounds a remaining duration for a message: days when a day or more, else hours and
// minutes.
func left(d time.Duration) string {
	if d >= 24*time.Hour {
		return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	}
	return d.Truncate(time.Minute).String()
}
