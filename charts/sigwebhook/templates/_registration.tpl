{{/*
When the webhook configurations are registered and removed: Helm hooks, so that nothing is
registered before a webhook pod of the release answers, and nothing is left behind on uninstall.
*/}}

{{/*
The hook annotations that register a webhook configuration: after the readiness gate Job
(webhook-ready-job.yaml, weight 0) has seen the webhook answer through its Service.
*/}}
{{- define "sigwebhook.registrationHook" -}}
helm.sh/hook: post-install,post-upgrade,post-rollback
helm.sh/hook-weight: "10"
helm.sh/hook-delete-policy: before-hook-creation
{{- end }}

{{/*
The handover copy of a registered configuration (same webhooks, another name) for the moment an
upgrade or rollback deletes and re-creates the registered one: created after the readiness gate and
before the registration (weight 5), deleted by Helm once all the phase's hooks ran, or when a later
one failed (hook-succeeded). Nothing to hand over on install. Removed on uninstall too
(webhook-cleanup.yaml), in case an upgrade was interrupted.
*/}}
{{- define "sigwebhook.handoverHook" -}}
helm.sh/hook: post-upgrade,post-rollback
helm.sh/hook-weight: "5"
helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
{{- end }}

{{- define "sigwebhook.handoverName" -}}
{{- printf "%s-handover" (include "sigwebhook.clusterName" .) | trunc 253 }}
{{- end }}

{{/*
A hook that removes a registered webhook configuration: Helm first deletes any object of the same
kind and name (before-hook-creation: the registered one), creates this empty one (no webhooks: it
intercepts nothing) and deletes it again once applied (hook-succeeded). Needs no Job, so no kubelet.
(dict "root" $ "kind" "MutatingWebhookConfiguration" "hook" "pre-delete"), optionally "name" (default:
sigwebhook.clusterName) and "weight" (default "0").
*/}}
{{- define "sigwebhook.removalHook" -}}
apiVersion: admissionregistration.k8s.io/v1
kind: {{ .kind }}
metadata:
  name: {{ .name | default (include "sigwebhook.clusterName" .root) }}
  labels:
    {{- include "sigwebhook.labels" .root | nindent 4 }}
  annotations:
    helm.sh/hook: {{ .hook }}
    helm.sh/hook-weight: {{ .weight | default "0" | quote }}
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
webhooks: []
{{- end }}

{{/*
Removal hooks for the webhook configurations an earlier chart version registered under the release's
full name alone (before the release namespace became part of the name): found with `lookup`, and
removed only when they call this release's Service, never another release's. After the new ones are
registered (weight 20), so pods are never left without a webhook. Renders nothing under `helm
template` (no cluster to look in). (dict "root" $ "hook" "post-upgrade,post-rollback")
*/}}
{{- define "sigwebhook.legacyRemovals" -}}
{{- $root := .root }}
{{- $legacy := include "sigwebhook.fullname" $root }}
{{- range $kind := list "ValidatingWebhookConfiguration" "MutatingWebhookConfiguration" }}
{{- $found := lookup "admissionregistration.k8s.io/v1" $kind "" $legacy }}
{{- $ours := false }}
{{- range ($found.webhooks | default list) }}
{{- with .clientConfig.service }}
{{- if and (eq .namespace $root.Release.Namespace) (eq .name $legacy) }}
{{- $ours = true }}
{{- end }}
{{- end }}
{{- end }}
{{- if and $ours (ne $legacy (include "sigwebhook.clusterName" $root)) }}
---
{{ include "sigwebhook.removalHook" (dict "root" $root "kind" $kind "hook" $.hook "name" $legacy "weight" "20") }}
{{- end }}
{{- end }}
{{- end }}
