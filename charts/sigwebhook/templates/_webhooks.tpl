{{/*
The webhook entries of the ValidatingWebhookConfiguration. Kept apart from the object so that a
later mutating webhook, more workload kinds or a warn mode can reuse the selector and client config.
Kubernetes admission docs: admissionregistration.k8s.io/v1 ValidatingWebhook.
*/}}

{{/* Namespaces never sent to the webhook: the release namespace (the webhook must always be able to
start itself), kube-system, and any listed in values. Matched by the kubernetes.io/metadata.name
label the API server sets on every namespace (Kubernetes 1.21+). */}}
{{- define "sigwebhook.namespaceSelector" -}}
{{- $excluded := concat (list .Release.Namespace "kube-system") .Values.webhook.namespaceSelector.exclude | uniq }}
{{- $sel := .Values.webhook.namespaceSelector }}
matchExpressions:
  - key: kubernetes.io/metadata.name
    operator: NotIn
    values:
      {{- toYaml $excluded | nindent 6 }}
  {{- if eq $sel.mode "optIn" }}
  - key: {{ $sel.labelKey }}
    operator: In
    values: ["enabled"]
  {{- else }}
  - key: {{ $sel.labelKey }}
    operator: NotIn
    values: ["disabled"]
  {{- end }}
{{- end }}

{{- define "sigwebhook.clientConfig" -}}
service:
  name: {{ include "sigwebhook.fullname" . }}
  namespace: {{ .Release.Namespace }}
  path: /validate
  port: {{ .Values.service.port }}
{{- with include "sigwebhook.caBundle" . }}
caBundle: {{ . }}
{{- end }}
{{- end }}

{{/* Pods and the ephemeralcontainers subresource (`kubectl debug`), on CREATE and UPDATE. */}}
{{- define "sigwebhook.podRules" -}}
- apiGroups: [""]
  apiVersions: ["v1"]
  operations: ["CREATE", "UPDATE"]
  resources: ["pods", "pods/ephemeralcontainers"]
  scope: Namespaced
{{- end }}

{{- define "sigwebhook.validatingWebhooks" -}}
- name: {{ include "sigwebhook.webhookName" . }}
  admissionReviewVersions: ["v1"]
  sideEffects: None
  failurePolicy: {{ .Values.webhook.failurePolicy }}
  matchPolicy: Equivalent
  timeoutSeconds: {{ .Values.webhook.timeoutSeconds }}
  clientConfig:
    {{- include "sigwebhook.clientConfig" . | nindent 4 }}
  rules:
    {{- include "sigwebhook.podRules" . | nindent 4 }}
  namespaceSelector:
    {{- include "sigwebhook.namespaceSelector" . | nindent 4 }}
{{- end }}

{{- define "sigwebhook.webhookAnnotations" -}}
{{- if eq .Values.tls.mode "certManager" }}
cert-manager.io/inject-ca-from: {{ .Release.Namespace }}/{{ include "sigwebhook.fullname" . }}
{{- end }}
{{- with .Values.webhook.annotations }}
{{ toYaml . }}
{{- end }}
{{- end }}
