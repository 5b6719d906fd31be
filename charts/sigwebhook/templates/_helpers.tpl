{{/*
Names, labels and the values every template derives from (config, TLS material, Secret access).
Derivations live here once, so the ConfigMap, the RBAC and the webhook configuration cannot
disagree about them.
*/}}

{{- define "sigwebhook.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sigwebhook.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "sigwebhook.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sigwebhook.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sigwebhook.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels of the short-lived pods (the readiness gate Job, the helm test pod): not the webhook's
selector labels, so the Service never routes admission calls to them (they have no readiness
probe, so Kubernetes would count them ready), the PodDisruptionBudget does not count them (a pod
owned by a Job would make it allow no disruption) and the anti-affinity ignores them.
(dict "root" $ "component" "registration")
*/}}
{{- define "sigwebhook.helperPodLabels" -}}
app.kubernetes.io/name: {{ include "sigwebhook.name" .root }}-{{ .component }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/part-of: sigwebhook
sigwebhook.dev/helper-pod: "true"
{{- end }}

{{- define "sigwebhook.labels" -}}
helm.sh/chart: {{ include "sigwebhook.chart" . }}
{{ include "sigwebhook.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: sigwebhook
{{- end }}

{{- define "sigwebhook.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sigwebhook.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "sigwebhook.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{- define "sigwebhook.tlsSecretName" -}}
{{- if eq .Values.tls.mode "existingSecret" }}
{{- .Values.tls.existingSecret.name }}
{{- else }}
{{- printf "%s-tls" (include "sigwebhook.fullname" .) }}
{{- end }}
{{- end }}

{{/*
The name of the objects outside the release namespace (the webhook configurations, the
ClusterRole(Binding)) and of the key Roles in other namespaces: the release namespace is part of it,
so two releases of the same name in two namespaces never take over or delete each other's objects
(Helm does not check the ownership of hook objects).
*/}}
{{- define "sigwebhook.clusterName" -}}
{{- printf "%s-%s" (include "sigwebhook.fullname" .) .Release.Namespace | trunc 253 | trimSuffix "-" }}
{{- end }}

{{/*
What a webhook pod runs, as a short digest of its image and config: set in the pod as
SIGWEBHOOK_REVISION and reported by /readyz, so the registration gate of an upgrade waits for a pod
of the new release (old pods keep answering /readyz through the Service while the rollout runs).
*/}}
{{- define "sigwebhook.revision" -}}
{{- printf "%s\n%s" (include "sigwebhook.image" .) (include "sigwebhook.config" .) | sha256sum | trunc 16 }}
{{- end }}

{{- define "sigwebhook.webhookName" -}}
{{- printf "%s.%s.sigwebhook.dev" (include "sigwebhook.fullname" .) .Release.Namespace }}
{{- end }}

{{- define "sigwebhook.serviceHost" -}}
{{- printf "%s.%s.svc" (include "sigwebhook.fullname" .) .Release.Namespace }}
{{- end }}

{{/*
The config file the server reads (app/config is its authority). `config` from values, with
`{{ .Release.Namespace }}` expanded, plus what the chart owns: the server block (the TLS files
mounted from the Secret), in-cluster Kubernetes access, the metrics block (from `metrics`, as the
container and Service ports must agree with it), and the release namespace and kube-system always
in skipNamespaces. Fails when the deadline is not at least 1 s below the webhook timeout: the
server must answer (deny) before the API server gives up on it.
*/}}
{{- define "sigwebhook.config" -}}
{{- $cfg := tpl (toYaml .Values.config) . | fromYaml }}
{{- $skip := concat (list .Release.Namespace "kube-system") ($cfg.skipNamespaces | default list) | uniq }}
{{- $_ := set $cfg "skipNamespaces" $skip }}
{{- $tls := dict "certFile" "/etc/sigwebhook/tls/tls.crt" "keyFile" "/etc/sigwebhook/tls/tls.key" "selfSignedDir" nil }}
{{- $_ := set $cfg "server" (dict "host" "0.0.0.0" "port" 8443 "tls" $tls "docs" false) }}
{{- $_ := set $cfg "kubernetes" (dict "kubeconfig" nil) }}
{{- $_ := set $cfg "metrics" (dict "enabled" .Values.metrics.enabled "host" "0.0.0.0" "port" (int .Values.metrics.port)) }}
{{- /* at least 1 s of headroom: the server answers up to 0.5 s after its deadline, and the answer
still has to reach the API server (with failurePolicy Ignore, a late answer would admit the pod) */}}
{{- if gt (addf (float64 $cfg.deadlineSeconds) 1.0) (float64 .Values.webhook.timeoutSeconds) }}
{{- fail (printf "config.deadlineSeconds (%v) must be below webhook.timeoutSeconds (%v) by at least 1 second: the server must answer before the API server stops waiting" $cfg.deadlineSeconds .Values.webhook.timeoutSeconds) }}
{{- end }}
{{- if not .Values.mutating.enabled }}
{{- range $cfg.policies }}
{{- if has (toString .pinDigest) (list "all" "true") }}
{{- fail (printf "policy %q has pinDigest: %v, but mutating.enabled=false registers no /mutate webhook: nothing would be pinned. Enable mutating or set pinDigest to none" .name .pinDigest) }}
{{- end }}
{{- end }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}

{{/*
The Secrets the webhook reads, as YAML {namespace: [name, ...]}: every `k8s://namespace/name` key
of every policy ({secret: ...}) and the registry pull secret.
The RBAC grants get/list/watch on exactly these (resourceNames), one Role per namespace.
*/}}
{{- define "sigwebhook.secretRefs" -}}
{{- $cfg := include "sigwebhook.config" . | fromYaml }}
{{- $uris := list }}
{{- range $cfg.policies }}
{{- range .keys }}
{{- if .secret }}
{{- $uris = append $uris .secret }}
{{- end }}
{{- end }}
{{- end }}
{{- with $cfg.registries }}
{{- if .pullSecret }}
{{- $uris = append $uris .pullSecret }}
{{- end }}
{{- end }}
{{- $refs := dict }}
{{- range $uris }}
{{- if hasPrefix "k8s://" . }}
{{- $parts := splitList "/" (trimPrefix "k8s://" .) }}
{{- if or (ne (len $parts) 2) (not (index $parts 0)) (not (index $parts 1)) }}
{{- fail (printf "key or pull secret %q is not of the form k8s://namespace/name" .) }}
{{- end }}
{{- $ns := index $parts 0 }}
{{- $names := get $refs $ns | default list }}
{{- $_ := set $refs $ns (append $names (index $parts 1) | uniq | sortAlpha) }}
{{- end }}
{{- end }}
{{- toYaml $refs }}
{{- end }}

{{/* Whether the pods' own pull credentials are read (config.registries.podPullSecrets). */}}
{{- define "sigwebhook.podPullSecrets" -}}
{{- if and .Values.config.registries .Values.config.registries.podPullSecrets }}true{{ end }}
{{- end }}

{{/* Whether the pod needs an API token at all: to watch the Secrets above, or to read pods'
pull Secrets and ServiceAccounts. */}}
{{- define "sigwebhook.needsApiAccess" -}}
{{- if or (include "sigwebhook.secretRefs" . | fromYaml) (include "sigwebhook.podPullSecrets" .) }}true{{ end }}
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

{{/*
TLS material for tls.mode=generate, as YAML {ca, crt, key} (base64). Reused from the Secret of a
previous release when it is there (lookup), so upgrades keep the CA the webhook configuration
trusts; generated otherwise. Computed once per render and memoised, as both the Secret and the
webhook configuration need the same CA.
*/}}
{{- define "sigwebhook.generatedTLS" -}}
{{- if not (hasKey .Values "__generatedTLS") }}
{{- $name := include "sigwebhook.fullname" . }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "sigwebhook.tlsSecretName" .) }}
{{- $data := dict }}
{{- if and $existing $existing.data }}
{{- $data = $existing.data }}
{{- end }}
{{- if and (index $data "ca.crt") (index $data "tls.crt") (index $data "tls.key") }}
{{- $_ := set .Values "__generatedTLS" (dict "ca" (index $data "ca.crt") "crt" (index $data "tls.crt") "key" (index $data "tls.key")) }}
{{- else }}
{{- $days := int .Values.tls.generate.validityDays }}
{{- $host := include "sigwebhook.serviceHost" . }}
{{- $dns := list $name (printf "%s.%s" $name .Release.Namespace) $host (printf "%s.cluster.local" $host) }}
{{- $ca := genCA (printf "%s-ca" $name) $days }}
{{- $cert := genSignedCert $host nil $dns $days $ca }}
{{- $_ := set .Values "__generatedTLS" (dict "ca" ($ca.Cert | b64enc) "crt" ($cert.Cert | b64enc) "key" ($cert.Key | b64enc)) }}
{{- end }}
{{- end }}
{{- toYaml .Values.__generatedTLS }}
{{- end }}

{{/*
The caBundle of the webhook configuration. For cert-manager its cainjector sets it; on an upgrade
the chart also writes the ca.crt cert-manager already put in the serving Secret (lookup), because
the registration hook re-creates the configuration, and until the cainjector has filled in a
configuration without a caBundle, the API server cannot call the webhook (failurePolicy Fail would
refuse every pod for that moment). On a first install there is no Secret yet: the cainjector sets it.
*/}}
{{- define "sigwebhook.caBundle" -}}
{{- if eq .Values.tls.mode "generate" }}
{{- (include "sigwebhook.generatedTLS" . | fromYaml).ca }}
{{- else if eq .Values.tls.mode "existingSecret" }}
{{- .Values.tls.existingSecret.caBundle }}
{{- else if eq .Values.tls.mode "certManager" }}
{{- $issued := lookup "v1" "Secret" .Release.Namespace (include "sigwebhook.tlsSecretName" .) }}
{{- if and $issued $issued.data (index $issued.data "ca.crt") }}
{{- index $issued.data "ca.crt" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The pod and container security settings every pod of the chart uses. */}}
{{- define "sigwebhook.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
fsGroup: {{ .Values.securityContext.runAsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "sigwebhook.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
Checkov findings that are deliberate, with the reason (checkov reads `checkov.io/skipN`
annotations). Every other check must pass: tests/chart/test_lint.py runs checkov over every values set.
*/}}
{{- define "sigwebhook.checkovImageSkips" -}}
{{- if not .Values.image.digest }}
checkov.io/skip1: CKV_K8S_43=The chart cannot know the digest of an image built after it; set image.digest (docs/install.md) to pin it.
{{- end }}
checkov.io/skip2: CKV_K8S_15=IfNotPresent on purpose - a restarted webhook must not depend on the registry being up; pin image.digest so the cached image is the right one.
{{- end }}

{{- define "sigwebhook.checkovShortLivedSkips" -}}
checkov.io/skip3: CKV_K8S_8=Short-lived pod running one bounded script; it serves nothing to probe.
checkov.io/skip4: CKV_K8S_9=Short-lived pod running one bounded script; it serves nothing to probe.
{{- end }}
