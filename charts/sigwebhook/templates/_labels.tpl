{{/*
Labels: the release's own objects, the webhook pods' selector, and the short-lived helper pods.
*/}}

{{- define "sigwebhook.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sigwebhook.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "sigwebhook.labels" -}}
helm.sh/chart: {{ include "sigwebhook.chart" . }}
{{ include "sigwebhook.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: sigwebhook
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
