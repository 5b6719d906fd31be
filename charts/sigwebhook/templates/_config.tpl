{{/*
The config file the server reads, and what the chart derives from it (the pods' revision, the
Secrets the RBAC opens, whether the pod needs an API token), computed here once so that the
ConfigMap, the RBAC and the Deployment cannot disagree.
*/}}

{{/*
The config file the server reads (app/config is its authority). `config` from values, with
`{{ .Release.Namespace }}` expanded, plus what the chart owns: the server block (the TLS files
mounted from the Secret), in-cluster Kubernetes access, the metrics block (from `metrics`, as the
container and Service ports must agree with it), `trustedRoots` (the files the top-level
`trustedRoots` values are mounted as), and the release namespace and kube-system always in
skipNamespaces. Fails when the deadline is not at least 1 s below the webhook timeout: the
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
{{- $roots := dict }}
{{- range $name, $root := .Values.trustedRoots }}
{{- $_ := set $roots $name (dict "file" (printf "%s/%s.json" (include "sigwebhook.trustedRootsDir" $) $name)) }}
{{- end }}
{{- if $roots }}
{{- $_ := set $cfg "trustedRoots" $roots }}
{{- end }}
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
What a webhook pod runs, as a short digest of its image and config: set in the pod as
SIGWEBHOOK_REVISION and reported by /readyz, so the registration gate of an upgrade waits for a pod
of the new release (old pods keep answering /readyz through the Service while the rollout runs).
*/}}
{{- define "sigwebhook.revision" -}}
{{- printf "%s\n%s\n%s" (include "sigwebhook.image" .) (include "sigwebhook.config" .) (toJson .Values.trustedRoots) | sha256sum | trunc 16 }}
{{- end }}

{{/*
Where the trusted roots of `trustedRoots` are mounted in the pod: one file <name>.json each, from the
config ConfigMap (inline `json`, key trusted-root-<name>.json) or the ConfigMap an entry names
(`configMap: {name, key}`).
*/}}
{{- define "sigwebhook.trustedRootsDir" -}}/etc/sigwebhook/trusted-roots{{- end }}

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
