package certexpiry

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// CertManagerCertificateAnnotation names the cert-manager Certificate that issued a Secret.
const CertManagerCertificateAnnotation = "cert-manager.io/certificate-name"

// TrimSecret is the cache transform of TLS Secrets: it parses tls.crt into the annotations
// AnnotationNotAfter, AnnotationSubject and AnnotationIssuer (or AnnotationError) and keeps
// only the name, namespace, uid, resourceVersion, owner references, type and the cert-manager
// certificate-name annotation; it is idempotent. Every data key is dropped: no certificate, and above all no
// private key, stays in the operator's memory. Other objects pass through.
func TrimSecret(obj any) (any, error) {
	s, ok := obj.(*corev1.Secret)
	if !ok {
		return obj, nil
	}
	ann := map[string]string{}
	if c := s.Annotations[CertManagerCertificateAnnotation]; c != "" {
		ann[CertManagerCertificateAnnotation] = c
	}
	crt, ok := s.Data[corev1.TLSCertKey]
	if !ok && s.Data == nil && (s.Annotations[AnnotationNotAfter] != "" || s.Annotations[AnnotationError] != "") {
		// Already trimmed: client-go may apply a transform to an object it holds again (a
		// resync, a relist). The function is idempotent.
		for _, k := range []string{AnnotationNotAfter, AnnotationSubject, AnnotationIssuer, AnnotationError} {
			if v, ok := s.Annotations[k]; ok {
				ann[k] = v
			}
		}
	} else if info, err := Parse(crt); err != nil {
		ann[AnnotationError] = err.Error()
	} else {
		ann[AnnotationNotAfter] = info.NotAfter.UTC().Format(time.RFC3339)
		ann[AnnotationSubject] = info.Subject
		ann[AnnotationIssuer] = info.Issuer
	}
	return &corev1.Secret{
		TypeMeta: s.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name: s.Name, Namespace: s.Namespace, UID: s.UID, ResourceVersion: s.ResourceVersion,
			CreationTimestamp: s.CreationTimestamp, DeletionTimestamp: s.DeletionTimestamp,
			OwnerReferences: s.OwnerReferences, Annotations: ann,
		},
		Type: s.Type,
	}, nil
}

// InfoOf reads the certificate facts TrimSecret recorded; ok is false when tls.crt could not
// be parsed (or the Secret was not trimmed).
func InfoOf(s *corev1.Secret) (Info, bool) {
	t, err := time.Parse(time.RFC3339, s.Annotations[AnnotationNotAfter])
	if err != nil {
		return Info{}, false
	}
	return Info{NotAfter: t, Subject: s.Annotations[AnnotationSubject], Issuer: s.Annotations[AnnotationIssuer]}, true
}
