{{- define "itops-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "itops-operator.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "itops-operator.labels" -}}
app.kubernetes.io/name: {{ include "itops-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: itops-operator
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "itops-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "itops-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The operator's ServiceAccount: created by the chart (serviceAccount.create) or given. */}}
{{- define "itops-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "itops-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create=false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The image: repository@digest when a digest is given, else repository:tag (default appVersion). */}}
{{- define "itops-operator.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding the webhook serving certificate, for the certManager and secret sources. */}}
{{- define "itops-operator.webhookCertSecret" -}}
{{- if eq .Values.webhook.certificate.source "secret" -}}
{{- required "webhook.certificate.secretName is required with webhook.certificate.source=secret" .Values.webhook.certificate.secretName -}}
{{- else -}}
{{- default (printf "%s-webhook-tls" (include "itops-operator.fullname" .)) .Values.webhook.certificate.secretName -}}
{{- end -}}
{{- end -}}

{{/* Annotations of the webhook configurations: cert-manager's cainjector, when it issues the certificate. */}}
{{- define "itops-operator.webhookAnnotations" -}}
{{- if eq .Values.webhook.certificate.source "certManager" -}}
annotations:
  cert-manager.io/inject-ca-from: {{ .Release.Namespace }}/{{ include "itops-operator.fullname" . }}-webhook
{{- end -}}
{{- end -}}
