{{/* Chart name, possibly overridden. */}}
{{- define "airlock.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name of the release's objects. */}}
{{- define "airlock.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "airlock.selectorLabels" -}}
app.kubernetes.io/name: {{ include "airlock.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "airlock.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "airlock.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "airlock.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Where the ticket file is mounted (ticket.mode=file). */}}
{{- define "airlock.ticketDir" -}}/run/secrets/airlock{{- end -}}

{{- define "airlock.ticketSecret" -}}
{{- default (printf "%s-ticket" (include "airlock.fullname" .)) .Values.ticket.existingSecret -}}
{{- end -}}

{{- define "airlock.stateClaim" -}}
{{- default (printf "%s-state" (include "airlock.fullname" .)) .Values.state.persistence.existingClaim -}}
{{- end -}}

{{/*
The node's configuration file: .Values.config with the default name and the ticket line.
Empty lists and maps are left out.
*/}}
{{- define "airlock.nodeConfig" -}}
{{- $mode := .Values.ticket.mode -}}
{{- if not (has $mode (list "file" "env" "none")) -}}
{{- fail (printf "ticket.mode must be file, env or none (got %q)" $mode) -}}
{{- end -}}
{{- $cfg := dict -}}
{{- range $k, $v := .Values.config -}}
{{- if not (empty $v) -}}
{{- $_ := set $cfg $k $v -}}
{{- end -}}
{{- end -}}
{{- if not $cfg.name -}}
{{- $_ := set $cfg "name" (include "airlock.fullname" .) -}}
{{- end -}}
{{- if hasKey $cfg "ticket" -}}
{{- fail "set the ticket with ticket.value or ticket.existingSecret, not config.ticket" -}}
{{- end -}}
{{- if eq $mode "file" -}}
{{- $_ := set $cfg "ticket" (printf "%s/%s" (include "airlock.ticketDir" .) .Values.ticket.key) -}}
{{- else if eq $mode "env" -}}
{{- $_ := set $cfg "ticket" "${ENROLLMENT_TICKET}" -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}
