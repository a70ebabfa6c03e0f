{{- define "wms.labels" -}}
app.kubernetes.io/name: wms
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Values.release.version | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
wms.example.com/instance-id: {{ .Values.instance.id }}
{{- end }}

{{- define "wms.podSecurity" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "wms.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end }}

{{- define "wms.envFrom" -}}
- configMapRef:
    name: {{ .Release.Name }}-config
- secretRef:
    name: {{ .Values.existingSecret }}
{{- end }}

{{- define "wms.volumes" -}}
- name: tmp
  emptyDir: {}
{{- end }}

{{- define "wms.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- end }}
