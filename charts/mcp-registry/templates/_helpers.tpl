{{/* Names and labels. */}}
{{- define "mcp-registry.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mcp-registry.fullname" -}}
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

{{- define "mcp-registry.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "mcp-registry.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component (api, worker, migrate): call with (list . "api"). */}}
{{- define "mcp-registry.selector" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "mcp-registry.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "mcp-registry.serviceAccount" -}}
{{- $root := index . 0 -}}
{{- printf "%s-%s" (default (include "mcp-registry.fullname" $root) $root.Values.serviceAccount.name) (index . 1) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mcp-registry.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Seconds in a duration of the configuration ("20s", "2m", "1m30s", "500ms"), rounded up. */}}
{{- define "mcp-registry.seconds" -}}
{{- $d := toString . -}}
{{- $parts := regexFindAll "[0-9]+(ms|h|m|s)" $d -1 -}}
{{- if or (not $parts) (ne (join "" $parts) $d) -}}
{{- fail (printf "config.shutdown: %q is not a duration the chart reads (such as 20s, 2m or 1m30s)" $d) -}}
{{- end -}}
{{- $total := 0 -}}
{{- range $parts -}}
{{- if hasSuffix "ms" . -}}{{- $total = add $total (div (add (trimSuffix "ms" . | int) 999) 1000) -}}
{{- else if hasSuffix "s" . -}}{{- $total = add $total (trimSuffix "s" . | int) -}}
{{- else if hasSuffix "m" . -}}{{- $total = add $total (mul (trimSuffix "m" . | int) 60) -}}
{{- else -}}{{- $total = add $total (mul (trimSuffix "h" . | int) 3600) -}}
{{- end -}}
{{- end -}}
{{- $total -}}
{{- end -}}

{{/* Bytes in a memory quantity: plain bytes, or Ki, Mi, Gi, Ti, k, M, G, T. */}}
{{- define "mcp-registry.bytes" -}}
{{- $q := toString . -}}
{{- $units := dict "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 -}}
{{- $number := regexFind "^[0-9]+" $q -}}
{{- $unit := trimPrefix $number $q -}}
{{- if not $number -}}
{{- fail (printf "%q is not a memory quantity the chart reads (such as 512Mi or 1G)" $q) -}}
{{- else if not $unit -}}{{- $number | int64 -}}
{{- else if hasKey $units $unit -}}{{- mul ($number | int64) (get $units $unit) -}}
{{- else -}}
{{- fail (printf "%q is not a memory quantity the chart reads (such as 512Mi or 1G)" $q) -}}
{{- end -}}
{{- end -}}

{{/* The checks values must pass before anything renders. */}}
{{- define "mcp-registry.validate" -}}
{{- if not .Values.config.database -}}
{{- fail "config.database is required: the chart runs replicas and workers on PostgreSQL (the embedded SQLite file is for one process)" -}}
{{- end -}}
{{- $shutdown := default dict .Values.config.shutdown -}}
{{- $drain := include "mcp-registry.seconds" (default "5s" $shutdown.drain) | int -}}
{{- $grace := include "mcp-registry.seconds" (default "20s" $shutdown.grace) | int -}}
{{- range $component := list "api" "worker" -}}
{{- $period := index $.Values $component "terminationGracePeriodSeconds" | int -}}
{{- if le $period (add $drain $grace) -}}
{{- fail (printf "%s.terminationGracePeriodSeconds (%d) must be longer than config.shutdown.drain plus grace (%d s)" $component $period (add $drain $grace)) -}}
{{- end -}}
{{- end -}}
{{- $cache := default dict .Values.config.cache -}}
{{- $cacheBytes := ternary $cache.memoryBytes 67108864 (hasKey $cache "memoryBytes") | int64 -}}
{{- $needed := add $cacheBytes (include "mcp-registry.bytes" .Values.api.baseMemory | int64) -}}
{{- $limit := include "mcp-registry.bytes" .Values.api.resources.limits.memory | int64 -}}
{{- if le $limit $needed -}}
{{- fail (printf "api.resources.limits.memory (%s) must be above config.cache.memoryBytes plus api.baseMemory (%d bytes)" .Values.api.resources.limits.memory $needed) -}}
{{- end -}}
{{- end -}}

{{/* The kubernetes registries' namespaces: "" when one of them watches the whole cluster. */}}
{{- define "mcp-registry.discoveryNamespaces" -}}
{{- $namespaces := list -}}
{{- $clusterWide := false -}}
{{- range .Values.config.registries -}}
{{- if hasKey . "kubernetes" -}}
{{- $ns := default list (default dict .kubernetes).namespaces -}}
{{- if empty $ns -}}{{- $clusterWide = true -}}{{- end -}}
{{- $namespaces = concat $namespaces $ns -}}
{{- end -}}
{{- end -}}
{{- if $clusterWide -}}*{{- else -}}{{- $namespaces | uniq | join "," -}}{{- end -}}
{{- end -}}

{{/* Environment every registry container gets: secrets by reference, never inline. */}}
{{- define "mcp-registry.env" -}}
- name: LOG_FORMAT
  value: json
{{- if .Values.secrets.database.existingSecret }}
- name: REGISTRY_DATABASE__PASSWORD_FILE
  value: /var/run/secrets/mcp-registry/database/password
{{- end }}
{{- if .Values.secrets.publisherSigningKey.existingSecret }}
{{- /* Every pod loads the same configuration; only the API's mounts the key, and only the API reads it. */}}
- name: REGISTRY_AUTH__PUBLISHER_TOKENS__SIGNING_KEY_FILE
  value: /var/run/secrets/mcp-registry/publisher-signing/{{ .Values.secrets.publisherSigningKey.key }}
{{- end }}
{{- if .Values.secrets.redis.existingSecret }}
- name: REGISTRY_REDIS__URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.redis.existingSecret }}
      key: {{ .Values.secrets.redis.key }}
{{- end }}
{{- end -}}

{{- define "mcp-registry.volumeMounts" -}}
- name: config
  mountPath: /etc/mcp-registry
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- if .Values.secrets.database.existingSecret }}
- name: database-password
  mountPath: /var/run/secrets/mcp-registry/database
  readOnly: true
{{- end }}
{{- range .Values.secrets.files }}
- name: secret-{{ .name }}
  mountPath: /var/run/secrets/mcp-registry/{{ .name }}
  readOnly: true
{{- end }}
{{- end -}}

{{/* Call with (list . "config map name"). */}}
{{- define "mcp-registry.volumes" -}}
{{- $root := index . 0 -}}
- name: config
  configMap:
    name: {{ index . 1 }}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- if $root.Values.secrets.database.existingSecret }}
- name: database-password
  secret:
    secretName: {{ $root.Values.secrets.database.existingSecret }}
    items:
      - key: {{ $root.Values.secrets.database.key }}
        path: password
{{- end }}
{{- range $root.Values.secrets.files }}
- name: secret-{{ .name }}
  secret:
    secretName: {{ .secretName }}
{{- end }}
{{- end -}}

{{- define "mcp-registry.probes" -}}
startupProbe:
  httpGet: {path: /health, port: internal}
  periodSeconds: 2
  failureThreshold: 30
livenessProbe:
  httpGet: {path: /health, port: internal}
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
readinessProbe:
  httpGet: {path: /readiness, port: internal}
  periodSeconds: 5
  timeoutSeconds: 3
  failureThreshold: 2
{{- end -}}

{{/* Spread over nodes and zones unless the values say otherwise: call with (list . "api"). */}}
{{- define "mcp-registry.spread" -}}
{{- $root := index . 0 -}}
{{- $component := index . 1 -}}
{{- $given := index $root.Values $component "topologySpreadConstraints" -}}
{{- if $given -}}
{{- toYaml $given -}}
{{- else -}}
{{- range $key := list "kubernetes.io/hostname" "topology.kubernetes.io/zone" }}
- maxSkew: 1
  topologyKey: {{ $key }}
  whenUnsatisfiable: ScheduleAnyway
  labelSelector:
    matchLabels:
      {{- include "mcp-registry.selector" (list $root $component) | nindent 6 }}
{{- end -}}
{{- end -}}
{{- end -}}
