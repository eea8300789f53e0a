{{- define "macsec-osm-ee.fullname" -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "macsec-osm-ee.labels" -}}
app.kubernetes.io/name: macsec-osm-ee
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "macsec-osm-ee.selector" -}}
app.kubernetes.io/name: macsec-osm-ee
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
