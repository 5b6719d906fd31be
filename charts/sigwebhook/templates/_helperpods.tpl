{{/*
The pods the chart runs besides the webhook: the registration gate Job and the `helm test` pod.
Both run a `sigwebhook` check in the webhook's own image (no other image to trust or pull).
*/}}

{{/*
The address and CA trust of a check (`sigwebhook wait-ready`, `sigwebhook self-test`): the Service,
trusted through the caBundle the API server is given, or the ca.crt of the serving Secret (mounted
at /etc/sigwebhook/ca).
*/}}
{{- define "sigwebhook.webhookCheckArgs" -}}
- {{ printf "--url=https://%s:%v" (include "sigwebhook.serviceHost" .) .Values.service.port | quote }}
{{- if eq .Values.tls.mode "existingSecret" }}
- {{ printf "--ca-bundle=%s" .Values.tls.existingSecret.caBundle | quote }}
{{- else }}
- "--ca-file=/etc/sigwebhook/ca/ca.crt"
{{- end }}
{{- end }}
