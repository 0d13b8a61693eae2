{{/*
Chart name, truncated to the 63 characters Kubernetes allows in names.
*/}}
{{- define "proactive.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of the release's resources; the release name alone when it already contains the
chart name.
*/}}
{{- define "proactive.fullname" -}}
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

{{/*
Chart name and version for the helm.sh/chart label.
*/}}
{{- define "proactive.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels on every resource.
*/}}
{{- define "proactive.labels" -}}
helm.sh/chart: {{ include "proactive.chart" . }}
{{ include "proactive.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Labels that select the pods (immutable on a Deployment: never add to them).
*/}}
{{- define "proactive.selectorLabels" -}}
app.kubernetes.io/name: {{ include "proactive.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Name of the ServiceAccount the pods run as.
*/}}
{{- define "proactive.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "proactive.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Image reference: repository@digest when a digest is given, repository:tag otherwise (the
tag defaults to the chart's appVersion).
*/}}
{{- define "proactive.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
Name of the Secret holding the Gemini API key: the existing one, else the chart's own.
*/}}
{{- define "proactive.apiKeySecretName" -}}
{{- if .Values.model.apiKey.existingSecret }}
{{- .Values.model.apiKey.existingSecret }}
{{- else }}
{{- include "proactive.fullname" . }}
{{- end }}
{{- end }}

{{/*
Whether the chart creates the API key Secret ("true" or empty).
*/}}
{{- define "proactive.createSecret" -}}
{{- if and (or (eq .Values.model.provider "gemini") (contains "gemini:" .Values.model.fallbacks)) .Values.model.apiKey.value (not .Values.model.apiKey.existingSecret) }}true{{- end }}
{{- end }}

{{/*
Whether the Service gets a GKE BackendConfig ("true" or empty).
*/}}
{{- define "proactive.backendConfig" -}}
{{- if and .Values.ingress.enabled .Values.ingress.backendConfig.enabled }}true{{- end }}
{{- end }}

{{/*
Rules across values that a JSON Schema cannot express; each failure names the value to fix.
*/}}
{{- define "proactive.validate" -}}
{{- $_ := required "auth.firebaseProjectId is required: the server refuses AUTH_MODE=none on 0.0.0.0" .Values.auth.firebaseProjectId }}
{{- if and (or (eq .Values.model.provider "gemini") (contains "gemini:" .Values.model.fallbacks)) (not .Values.model.apiKey.existingSecret) (not .Values.model.apiKey.value) }}
{{- fail "model.provider=gemini (or a gemini: fallback) needs model.apiKey.existingSecret (preferred) or model.apiKey.value" }}
{{- end }}
{{- if and (or (eq .Values.model.provider "vertex") (contains "vertex:" .Values.model.fallbacks)) (not .Values.model.vertex.project) }}
{{- fail "model.provider=vertex (or a vertex: fallback) needs model.vertex.project" }}
{{- end }}
{{- if and (or (eq .Values.model.provider "openai") (contains "openai:" .Values.model.fallbacks)) (not .Values.model.openai.baseUrl) (not .Values.model.openai.apiKey.existingSecret) }}
{{- fail "model.provider=openai (or an openai: fallback) on api.openai.com needs model.openai.apiKey.existingSecret" }}
{{- end }}
{{- if eq (int .Values.metrics.port) (int .Values.containerPort) }}
{{- fail "metrics.port must differ from containerPort: metrics are never served on the public port" }}
{{- end }}
{{- if le (int .Values.timeouts.analysisMs) (int .Values.timeouts.toolResultMs) }}
{{- fail "timeouts.analysisMs must be larger than timeouts.toolResultMs" }}
{{- end }}
{{- $drainSec := div (add (int .Values.timeouts.drainMs) 999) 1000 }}
{{- $needed := add $drainSec (int .Values.lifecycle.preStopSleepSeconds) }}
{{- if le (int .Values.terminationGracePeriodSeconds) (int $needed) }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be greater than timeouts.drainMs / 1000 + lifecycle.preStopSleepSeconds (%d)" (int .Values.terminationGracePeriodSeconds) (int $needed)) }}
{{- end }}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- fail "autoscaling.minReplicas must not exceed autoscaling.maxReplicas" }}
{{- end }}
{{- end }}
