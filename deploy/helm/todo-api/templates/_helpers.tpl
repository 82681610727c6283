{{/* Names: the chart's (nameOverride) and the release's full prefix, both DNS labels. */}}
{{- define "todo-api.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "todo-api.fullname" -}}
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

{{/* Labels of every resource; selector labels add the component (api, relay, ...). */}}
{{- define "todo-api.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "todo-api.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "todo-api.selectorLabels" -}}
app.kubernetes.io/name: {{ include "todo-api.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "todo-api.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/*
The checks every render passes before anything is written: the settings that are secrets
never come in as plain values, and the parts that need a secret have it.
*/}}
{{- define "todo-api.checks" -}}
{{- $secretNames := list "DATABASE_URL" "WORKER_DATABASE_URL" "BETTER_AUTH_SECRET" "METRICS_TOKEN" "EVENTS_URL" "EVENTS_WEBHOOK_SECRET" "LIVE_LISTEN_URL" }}
{{- range $name := $secretNames }}
{{- if hasKey $.Values.env $name }}
{{- fail (printf "env.%s: %s is a secret setting; put it in the Secret %q and name its key in secrets.keys" $name $name $.Values.secrets.existingSecret) }}
{{- end }}
{{- end }}
{{- range $entry := .Values.extraEnv }}
{{- if and (has $entry.name $secretNames) (hasKey $entry "value") }}
{{- fail (printf "extraEnv %s: a secret setting must come from a Secret (valueFrom), not a value" $entry.name) }}
{{- end }}
{{- end }}
{{- if not .Values.secrets.existingSecret }}
{{- fail "secrets.existingSecret: the chart needs the name of the Secret holding DATABASE_URL and the rest" }}
{{- end }}
{{- if not .Values.secrets.keys.databaseUrl }}
{{- fail "secrets.keys.databaseUrl: production needs DATABASE_URL" }}
{{- end }}
{{- if and (not .Values.secrets.keys.betterAuthSecret) (not .Values.env.JWT_JWKS_URL) }}
{{- fail "secrets.keys.betterAuthSecret is empty and env.JWT_JWKS_URL is not set: tokens could not be verified" }}
{{- end }}
{{- if and .Values.relay.enabled (not .Values.secrets.keys.eventsUrl) }}
{{- fail "relay.enabled needs secrets.keys.eventsUrl (the relay delivers to EVENTS_URL)" }}
{{- end }}
{{- if and .Values.serviceMonitor.enabled (not .Values.secrets.keys.metricsToken) }}
{{- fail "serviceMonitor.enabled needs secrets.keys.metricsToken (production serves /metrics only with METRICS_TOKEN)" }}
{{- end }}
{{- end }}

{{/* One env entry read from the Secret: name, key. */}}
{{- define "todo-api.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .root.Values.secrets.existingSecret }}
      key: {{ .key }}
{{- end }}

{{/*
The environment of a todo-api container. `component` is api, relay, scheduler or migrate:
each gets only the secrets it uses. The API leaves relaying and scheduling to their own
Deployments when those are enabled.
*/}}
{{- define "todo-api.env" -}}
{{- $root := .root }}
{{- $v := $root.Values }}
{{- $keys := $v.secrets.keys }}
{{- $component := .component }}
{{- if eq $component "migrate" }}
{{ include "todo-api.secretEnv" (dict "root" $root "name" "DATABASE_URL" "key" (default (default $keys.databaseUrl $keys.directDatabaseUrl) $keys.migrationDatabaseUrl)) }}
{{- else }}
{{ include "todo-api.secretEnv" (dict "root" $root "name" "DATABASE_URL" "key" $keys.databaseUrl) }}
{{- if $keys.workerDatabaseUrl }}
{{ include "todo-api.secretEnv" (dict "root" $root "name" "WORKER_DATABASE_URL" "key" $keys.workerDatabaseUrl) }}
{{- end }}
{{- end }}
{{- if eq $component "api" }}
{{- if $keys.betterAuthSecret }}
{{ include "todo-api.secretEnv" (dict "root" $root "name" "BETTER_AUTH_SECRET" "key" $keys.betterAuthSecret) }}
{{- end }}
{{- if $keys.metricsToken }}
{{ include "todo-api.secretEnv" (dict "root" $root "name" "METRICS_TOKEN" "key" $keys.metricsToken) }}
{{- end }}
{{- if not $v.liveUpdates.listen }}
- name: LIVE_LISTEN_URL
  value: "off"
{{- else if $keys.directDatabaseUrl }}
{{ include "todo-api.secretEnv" (dict "root" $root "name" "LIVE_LISTEN_URL" "key" $keys.directDatabaseUrl) }}
{{- end }}
{{- if $v.scheduler.enabled }}
- name: REMINDERS_IN_PROCESS
  value: "false"
{{- end }}
- name: WORKERS
  value: {{ $v.workers | quote }}
{{- end }}
{{- if or (eq $component "relay") (and (eq $component "api") (not $v.relay.enabled)) }}
{{- if $keys.eventsUrl }}
{{ include "todo-api.secretEnv" (dict "root" $root "name" "EVENTS_URL" "key" $keys.eventsUrl) }}
{{- end }}
{{- if $keys.eventsWebhookSecret }}
{{ include "todo-api.secretEnv" (dict "root" $root "name" "EVENTS_WEBHOOK_SECRET" "key" $keys.eventsWebhookSecret) }}
{{- end }}
{{- end }}
{{- range $name := keys $v.env | sortAlpha }}
- name: {{ $name }}
  value: {{ get $v.env $name | toString | quote }}
{{- end }}
{{- with $v.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The pod-level parts every todo-api pod shares (security, scheduling, /tmp). */}}
{{- define "todo-api.podCommon" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.serviceAccountName }}
serviceAccountName: {{ . }}
{{- end }}
automountServiceAccountToken: false
enableServiceLinks: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{- define "todo-api.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- end }}

{{- define "todo-api.tmpMount" -}}
- name: tmp
  mountPath: /tmp
{{- end }}

{{/* Dapr sidecar annotations for an app id (the API's, or the relay's). */}}
{{- define "todo-api.daprAnnotations" -}}
{{- $v := .root.Values.dapr }}
{{- if $v.enabled }}
dapr.io/enabled: "true"
dapr.io/app-id: {{ .appId | quote }}
{{- with .appPort }}
dapr.io/app-port: {{ . | quote }}
{{- end }}
{{- with $v.config }}
dapr.io/config: {{ . | quote }}
{{- end }}
{{- range $name, $value := $v.annotations }}
{{ $name }}: {{ $value | toString | quote }}
{{- end }}
{{- end }}
{{- end }}
