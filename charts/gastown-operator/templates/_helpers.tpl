{{/* The release's base name: "gastown-operator" for a release of that name, else <release>-gastown-operator. */}}
{{- define "gastown.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "gastown.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Recommended labels (app.kubernetes.io/*) on every object; component is passed in. */}}
{{- define "gastown.labels" -}}
{{ include "gastown.selectorLabels" .root }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: gastown-operator
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/component: {{ .component }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* metadata.labels and metadata.annotations of an object: (dict "root" $ "component" "x"). */}}
{{- define "gastown.metadata" -}}
labels:
  {{- include "gastown.labels" . | nindent 2 }}
{{- with .root.Values.commonAnnotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "gastown.serviceAccountName" -}}
{{- default (include "gastown.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* The operator's identity as the apiserver sees it (for the admission policies). */}}
{{- define "gastown.username" -}}
{{- printf "system:serviceaccount:%s:%s" .Release.Namespace (include "gastown.serviceAccountName" .) -}}
{{- end -}}

{{- define "gastown.watchNamespace" -}}
{{- default .Release.Namespace .Values.watchNamespace -}}
{{- end -}}

{{- define "gastown.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The name of the leader-election Lease (leader-election.ts default). */}}
{{- define "gastown.leaseName" -}}gastown-operator{{- end -}}
