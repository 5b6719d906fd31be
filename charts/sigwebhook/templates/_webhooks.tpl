{{/*
The webhook entries of the Validating- and MutatingWebhookConfiguration, built from the same
selector, client config and rules so that the two cannot disagree about what they cover.
Kubernetes admission docs: admissionregistration.k8s.io/v1 ValidatingWebhook and MutatingWebhook.
*/}}

{{/* Namespaces never sent to the webhook: the release namespace (the webhook must always be able to
start itself), kube-system, any listed in values, and the config's skipNamespaces (the server
would admit them unverified anyway; left out here, they are not refused while the webhook is down).
Matched by the kubernetes.io/metadata.name label the API server sets on every namespace
(Kubernetes 1.21+). */}}
{{- define "sigwebhook.excludedNamespaces" -}}
{{- $skipped := (include "sigwebhook.config" . | fromYaml).skipNamespaces }}
{{- concat (list .Release.Namespace "kube-system") .Values.webhook.namespaceSelector.exclude $skipped | uniq | toJson }}
{{- end }}

{{- define "sigwebhook.namespaceSelector" -}}
{{- $excluded := include "sigwebhook.excludedNamespaces" . | fromJsonArray }}
{{- /* optIn needs no name labels: an unlabelled namespace is never sent */}}
{{- if and (eq .Values.webhook.namespaceSelector.mode "optOut") (semverCompare "<1.21.0-0" .Capabilities.KubeVersion.Version) (not .Values.webhook.namespaceSelector.nameLabelsApplied) }}
{{- fail (printf "Kubernetes %s does not set the kubernetes.io/metadata.name namespace label that keeps the webhook out of %s: label each of these namespaces with it (kubectl label namespace NS kubernetes.io/metadata.name=NS), then set webhook.namespaceSelector.nameLabelsApplied=true" .Capabilities.KubeVersion.Version (join ", " $excluded)) }}
{{- end }}
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

{{/* clientConfig for one endpoint: (dict "root" $ "path" "/validate"). */}}
{{- define "sigwebhook.clientConfig" -}}
service:
  name: {{ include "sigwebhook.fullname" .root }}
  namespace: {{ .root.Release.Namespace }}
  path: {{ .path }}
  port: {{ .root.Values.service.port }}
{{- with include "sigwebhook.caBundle" .root }}
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

{{/*
Every kind with a pod template, on CREATE and UPDATE (the app reads spec.template, or
spec.jobTemplate.spec.template for CronJobs). Not their scale or status subresources: those change
no image. batch/v1beta1 CronJobs are served until Kubernetes 1.25 (the only CronJob version before
1.21); a rule for a version the cluster does not serve is harmless, and matchPolicy Equivalent sends
a request made through another served version converted to one listed here.
*/}}
{{- define "sigwebhook.workloadRules" -}}
- apiGroups: [""]
  apiVersions: ["v1"]
  operations: ["CREATE", "UPDATE"]
  resources: ["replicationcontrollers"]
  scope: Namespaced
- apiGroups: ["apps"]
  apiVersions: ["v1"]
  operations: ["CREATE", "UPDATE"]
  resources: ["deployments", "replicasets", "statefulsets", "daemonsets"]
  scope: Namespaced
- apiGroups: ["batch"]
  apiVersions: ["v1"]
  operations: ["CREATE", "UPDATE"]
  resources: ["jobs", "cronjobs"]
  scope: Namespaced
- apiGroups: ["batch"]
  apiVersions: ["v1beta1"]
  operations: ["CREATE", "UPDATE"]
  resources: ["cronjobs"]
  scope: Namespaced
{{- end }}

{{/*
Whether /mutate also receives the workload kinds: mutating.objects all, or auto with some policy at
`pinDigest: all` (or its first spelling, `true`). Fails on mutating.objects=pods with such a policy:
it would pin nothing there.
*/}}
{{- define "sigwebhook.mutateWorkloads" -}}
{{- $pinAll := list }}
{{- range .Values.config.policies }}
{{- if has (toString .pinDigest) (list "all" "true") }}
{{- $pinAll = append $pinAll .name }}
{{- end }}
{{- end }}
{{- $objects := .Values.mutating.objects }}
{{- if and $pinAll .Values.mutating.enabled (eq $objects "pods") }}
{{- fail (printf "policies %v have pinDigest: all, but mutating.objects=pods never sends workloads to /mutate: set mutating.objects to all or auto, or pinDigest to pods" $pinAll) }}
{{- end }}
{{- if or (eq $objects "all") (and (eq $objects "auto") $pinAll) }}true{{ end }}
{{- end }}

{{/* What both webhooks share: review version, side effects, failure policy, timeout, selector. */}}
{{- define "sigwebhook.commonWebhookFields" -}}
admissionReviewVersions: ["v1"]
sideEffects: None
failurePolicy: {{ .Values.webhook.failurePolicy }}
matchPolicy: Equivalent
timeoutSeconds: {{ .Values.webhook.timeoutSeconds }}
namespaceSelector:
  {{- include "sigwebhook.namespaceSelector" . | nindent 2 }}
{{- end }}

{{- define "sigwebhook.validatingWebhooks" -}}
- name: {{ include "sigwebhook.webhookName" . }}
  {{- include "sigwebhook.commonWebhookFields" . | nindent 2 }}
  clientConfig:
    {{- include "sigwebhook.clientConfig" (dict "root" . "path" "/validate") | nindent 4 }}
  rules:
    {{- include "sigwebhook.podRules" . | nindent 4 }}
    {{- if .Values.webhook.workloads }}
    {{- include "sigwebhook.workloadRules" . | nindent 4 }}
    {{- end }}
{{- end }}

{{/*
/mutate pins verified images to their digests. It never denies (the validating webhook, which the
API server calls after every mutating one, is the gate), so failurePolicy only matters when the
server cannot be reached, and then /validate fails as well. reinvocationPolicy IfNeeded: if a
mutating webhook that runs after this one changes the object (adds a sidecar, rewrites an image to
a mirror), /mutate is called once more and pins those images; its patch for a pinned image is empty.
*/}}
{{- define "sigwebhook.mutatingWebhooks" -}}
- name: pin.{{ include "sigwebhook.webhookName" . }}
  {{- include "sigwebhook.commonWebhookFields" . | nindent 2 }}
  reinvocationPolicy: {{ .Values.mutating.reinvocationPolicy }}
  clientConfig:
    {{- include "sigwebhook.clientConfig" (dict "root" . "path" "/mutate") | nindent 4 }}
  rules:
    {{- include "sigwebhook.podRules" . | nindent 4 }}
    {{- if include "sigwebhook.mutateWorkloads" . }}
    {{- include "sigwebhook.workloadRules" . | nindent 4 }}
    {{- end }}
{{- end }}

{{- define "sigwebhook.webhookAnnotations" -}}
{{- if eq .Values.tls.mode "certManager" }}
cert-manager.io/inject-ca-from: {{ .Release.Namespace }}/{{ include "sigwebhook.fullname" . }}
{{- end }}
{{- with .Values.webhook.annotations }}
{{ toYaml . }}
{{- end }}
{{- end }}
