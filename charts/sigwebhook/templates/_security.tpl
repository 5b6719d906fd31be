{{/*
The security settings every pod of the chart runs with, and the checkov findings that are
deliberate.
*/}}

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
checkov.io/skip3: CKV_K8S_8=Short-lived pod running one bounded check; it serves nothing to probe.
checkov.io/skip4: CKV_K8S_9=Short-lived pod running one bounded check; it serves nothing to probe.
{{- end }}
