{{/*
The serving certificate's material and the CA the webhook configurations trust.
*/}}

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
