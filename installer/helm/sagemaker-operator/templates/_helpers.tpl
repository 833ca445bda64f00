{{/* Names and labels. */}}
{{- define "sagemaker-operator.fullname" -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "sagemaker-operator.serviceAccountName" -}}
{{- .Values.serviceAccount.name | default (include "sagemaker-operator.fullname" .) -}}
{{- end -}}

{{- define "sagemaker-operator.selectorLabels" -}}
app.kubernetes.io/name: sagemaker-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "sagemaker-operator.labels" -}}
app.kubernetes.io/name: sagemaker-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: sagemaker-operator
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The plurals of the chart's SageMaker CRDs (crds/), so that a new kind needs no template edit. */}}
{{- define "sagemaker-operator.plurals" -}}
{{- $plurals := list -}}
{{- range $path, $_ := .Files.Glob "crds/sagemaker.aws.amazon.com_*.yaml" -}}
{{- $crd := $.Files.Get $path | fromYaml -}}
{{- $plurals = append $plurals $crd.spec.names.plural -}}
{{- end -}}
{{- toJson $plurals -}}
{{- end -}}

{{/*
The rules the operator needs where it serves resources (a ClusterRole cluster-wide, a Role per
namespace otherwise). Exactly what kopf 1.45 does: list/watch/get/patch on our kinds (merge-patch
of annotations, JSON-patch of finalizers; never PUT), patch on their status, create Events.
The argument is a dict: root (the chart context) and peering (the peering resource's plural).
*/}}
{{- define "sagemaker-operator.servingRules" -}}
{{- $root := .root -}}
{{- $plurals := include "sagemaker-operator.plurals" $root | fromJsonArray -}}
- apiGroups: [sagemaker.aws.amazon.com]
  resources: {{ toJson $plurals }}
  verbs: [get, list, watch, patch]
- apiGroups: [sagemaker.aws.amazon.com]
  resources:
  {{- range $plurals }}
    - {{ . }}/status
  {{- end }}
  verbs: [patch]
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- if $root.Values.peering.enabled }}
- apiGroups: [kopf.dev]
  resources: [{{ .peering }}]
  verbs: [get, list, watch, patch]
{{- end }}
{{- if $root.Values.inClusterFallback.enabled }}
- apiGroups: [""]
  resources: [pods, services, configmaps]
  verbs: [create, get, list, watch, delete]
- apiGroups: [sagemaker.aws.amazon.com]
  resources:
  {{- range $plurals }}
    - {{ . }}/finalizers
  {{- end }}
  verbs: [update]
{{- end }}
{{- end -}}
