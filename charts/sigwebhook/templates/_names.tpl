{{/*
Names of the chart's objects and of what they point at (image, Service host, TLS Secret), derived
once so that no two templates can spell one differently.
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

{{/*
The name of the objects outside the release namespace (the webhook configurations, the
ClusterRole(Binding)) and of the key Roles in other namespaces: the release namespace is part of it,
so two releases of the same name in two namespaces never take over or delete each other's objects
(Helm does not check the ownership of hook objects).
*/}}
{{- define "sigwebhook.clusterName" -}}
{{- printf "%s-%s" (include "sigwebhook.fullname" .) .Release.Namespace | trunc 253 | trimSuffix "-" }}
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

{{- define "sigwebhook.webhookName" -}}
{{- printf "%s.%s.sigwebhook.dev" (include "sigwebhook.fullname" .) .Release.Namespace }}
{{- end }}

{{- define "sigwebhook.serviceHost" -}}
{{- printf "%s.%s.svc" (include "sigwebhook.fullname" .) .Release.Namespace }}
{{- end }}
