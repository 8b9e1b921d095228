{{/* The Deployment of the API or the worker: call with (list . "api") or (list . "worker"). */}}
{{- define "mcp-registry.deployment" -}}
{{- $root := index . 0 -}}
{{- $component := index . 1 -}}
{{- $values := index $root.Values $component -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "mcp-registry.fullname" $root }}-{{ $component }}
  labels:
    {{- include "mcp-registry.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ $component }}
spec:
  {{- if not $values.autoscaling.enabled }}
  replicas: {{ $values.replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "mcp-registry.selector" (list $root $component) | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "mcp-registry.labels" $root | nindent 8 }}
        app.kubernetes.io/component: {{ $component }}
      annotations:
        # A new configuration rolls the pods.
        checksum/config: {{ toYaml $root.Values.config | sha256sum }}
        {{- with $values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "mcp-registry.serviceAccount" (list $root $component) }}
      # The API reads the cluster's key set with its token (the kubernetes auth provider); the worker lists
      # and watches ToolHive's kinds with it.
      automountServiceAccountToken: true
      terminationGracePeriodSeconds: {{ $values.terminationGracePeriodSeconds }}
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      topologySpreadConstraints:
        {{- include "mcp-registry.spread" (list $root $component) | nindent 8 }}
      containers:
        - name: {{ $component }}
          image: {{ include "mcp-registry.image" $root }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          {{- if eq $component "api" }}
          command: [registry-api, serve, --config, /etc/mcp-registry/config.yaml, --address, ":8080"]
          {{- else }}
          command: [registry-worker, run, --config, /etc/mcp-registry/config.yaml]
          {{- end }}
          env:
            {{- include "mcp-registry.env" $root | nindent 12 }}
            - name: REGISTRY_SERVER__INTERNAL_ADDRESS
              value: ":8081"
            {{- if eq $component "worker" }}
            - name: REGISTRY_WORKER__DATA_DIR
              value: /data
            {{- end }}
          ports:
            {{- if eq $component "api" }}
            - name: http
              containerPort: 8080
            {{- end }}
            - name: internal
              containerPort: 8081
          {{- include "mcp-registry.probes" $root | nindent 10 }}
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          resources:
            {{- toYaml $values.resources | nindent 12 }}
          volumeMounts:
            {{- include "mcp-registry.volumeMounts" $root | nindent 12 }}
            {{- if eq $component "worker" }}
            - name: data
              mountPath: /data
            {{- end }}
            {{- if and (eq $component "api") $root.Values.secrets.publisherSigningKey.existingSecret }}
            - name: publisher-signing
              mountPath: /var/run/secrets/mcp-registry/publisher-signing
              readOnly: true
            {{- end }}
      volumes:
        {{- include "mcp-registry.volumes" (list $root (include "mcp-registry.fullname" $root)) | nindent 8 }}
        {{- if eq $component "worker" }}
        - name: data
          emptyDir:
            sizeLimit: {{ $values.dataSizeLimit }}
        {{- end }}
        {{- if and (eq $component "api") $root.Values.secrets.publisherSigningKey.existingSecret }}
        - name: publisher-signing
          secret:
            secretName: {{ $root.Values.secrets.publisherSigningKey.existingSecret }}
        {{- end }}
      {{- with $values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $values.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end -}}

{{/* The HorizontalPodAutoscaler of the API or the worker, when enabled: call with (list . "api"). */}}
{{- define "mcp-registry.hpa" -}}
{{- $root := index . 0 -}}
{{- $component := index . 1 -}}
{{- $scaling := (index $root.Values $component).autoscaling -}}
{{- if $scaling.enabled }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "mcp-registry.fullname" $root }}-{{ $component }}
  labels:
    {{- include "mcp-registry.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ $component }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "mcp-registry.fullname" $root }}-{{ $component }}
  minReplicas: {{ $scaling.minReplicas }}
  maxReplicas: {{ $scaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $scaling.targetCPUUtilizationPercentage }}
{{- end }}
{{- end -}}
