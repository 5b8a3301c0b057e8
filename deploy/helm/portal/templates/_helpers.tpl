{{/* Chart name, possibly overridden. */}}
{{- define "portal.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Prefix of every object name: the release name, plus the chart name unless the release has it. */}}
{{- define "portal.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "portal.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Labels every object carries. */}}
{{- define "portal.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "portal.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: portal
{{- end -}}

{{/* Labels selecting every pod of the release (the deny-all NetworkPolicy uses them). */}}
{{- define "portal.releaseSelectorLabels" -}}
app.kubernetes.io/name: {{ include "portal.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Selector labels of one service's pods. Call with (list $ "billing"). */}}
{{- define "portal.selectorLabels" -}}
{{- $root := index . 0 -}}
{{- include "portal.releaseSelectorLabels" $root }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{/* Labels of one service's objects. Call with (list $ "billing"). */}}
{{- define "portal.serviceLabels" -}}
{{- $root := index . 0 -}}
{{- include "portal.labels" $root }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{/* Name of one service's objects. Call with (list $ "billing"). */}}
{{- define "portal.serviceName" -}}
{{- printf "%s-%s" (include "portal.fullname" (index . 0)) (index . 1) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "portal.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/*
Deep merge: copies every key of src into dst (a map it mutates), recursing where both sides are maps.
Unlike sprig's mergeOverwrite, a false, 0 or "" in src does override dst.
Call with (list $dst $src).
*/}}
{{- define "portal.deepMerge" -}}
{{- $dst := index . 0 -}}
{{- range $key, $value := index . 1 -}}
{{- if and (kindIs "map" $value) (kindIs "map" (get $dst $key)) -}}
{{- include "portal.deepMerge" (list (get $dst $key) $value) -}}
{{- else -}}
{{- $_ := set $dst $key $value -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Every enabled service with serviceDefaults merged under it, as JSON: {"billing": {...,"name":"billing"}}.
Templates read it with: $services := include "portal.services" . | fromJson
*/}}
{{- define "portal.services" -}}
{{- $out := dict -}}
{{- range $name, $raw := .Values.services -}}
{{- if $raw.enabled -}}
{{- $svc := deepCopy $.Values.serviceDefaults -}}
{{- include "portal.deepMerge" (list $svc (deepCopy $raw)) -}}
{{- $_ := set $svc "name" $name -}}
{{- $_ := set $out $name $svc -}}
{{- end -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/*
The container env of one service: the settings the chart computes, then serviceDefaults.env and the
service's env over them (a map, so values files merge), then the settings read from Secrets.
Call with (list $ $svc $services).
*/}}
{{- define "portal.env" -}}
{{- $root := index . 0 -}}
{{- $svc := index . 1 -}}
{{- $services := index . 2 -}}
{{- $p := $svc.envPrefix -}}
{{- $env := dict -}}
{{- $_ := set $env (printf "%s_ENV" $p) "prod" -}}
{{- /* Listen on every interface: the kubelet probes and peers connect to the pod IP. */ -}}
{{- if eq $svc.kind "http" -}}
{{- $_ := set $env (printf "%s_HTTP_HOST" $p) "0.0.0.0" -}}
{{- $_ := set $env (printf "%s_HTTP_PORT" $p) (toString (int $svc.port)) -}}
{{- $_ := set $env (printf "%s_PUBLIC_URL" $p) $root.Values.portalUrl -}}
{{- if $root.Values.agentIngress.enabled -}}
{{- /* What the staff console prints in `portal-agent enrol --server …` (a service's env may override it). */ -}}
{{- $_ := set $env (printf "%s_AGENT_PUBLIC_ADDRESS" $p) (printf "%s:443" $root.Values.agentIngress.host) -}}
{{- end -}}
{{- if and $root.Values.ingress.enabled (eq $svc.name $root.Values.ingress.service) $root.Values.ingress.trustedProxies -}}
{{- /* X-Forwarded-For is believed only from these peers (gateway/edge/proxies.py). */ -}}
{{- $_ := set $env (printf "%s_TRUSTED_PROXIES" $p) (join "," $root.Values.ingress.trustedProxies) -}}
{{- end -}}
{{- else -}}
{{- $_ := set $env (printf "%s_GRPC_HOST" $p) "0.0.0.0" -}}
{{- $_ := set $env (printf "%s_GRPC_PORT" $p) (toString (int $svc.port)) -}}
{{- end -}}
{{- $_ := set $env (printf "%s_METRICS_PORT" $p) (toString (int $svc.metricsPort)) -}}
{{- /* Prometheus scrapes the pod IP; the processes default to loopback (as in `make run`). */ -}}
{{- $_ := set $env (printf "%s_METRICS_HOST" $p) "0.0.0.0" -}}
{{- if not $root.Values.nats.existingSecret.name -}}
{{- $_ := set $env (printf "%s_NATS_URL" $p) $root.Values.nats.url -}}
{{- end -}}
{{- range $peer := $svc.calls -}}
{{- $target := get $services $peer -}}
{{- if $target -}}
{{- $addr := printf "%s:%d" (include "portal.serviceName" (list $root $peer)) (int $target.port) -}}
{{- $_ := set $env (printf "%s_%s_ADDR" $p (upper $peer)) $addr -}}
{{- with get ($svc.peerAddressEnv | default dict) $peer -}}
{{- $_ := set $env . $addr -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if ($svc.agents | default dict).enabled -}}
{{- $_ := set $env (printf "%s_AGENT_HOST" $p) "0.0.0.0" -}}
{{- $_ := set $env (printf "%s_AGENT_PORT" $p) (toString (int $svc.agents.port)) -}}
{{- if $svc.agents.tlsSecretName -}}
{{- $_ := set $env (printf "%s_AGENT_TLS_CERT_FILE" $p) "/etc/portal/agent-tls/tls.crt" -}}
{{- $_ := set $env (printf "%s_AGENT_TLS_KEY_FILE" $p) "/etc/portal/agent-tls/tls.key" -}}
{{- end -}}
{{- end -}}
{{- range $var, $ref := ($svc.secretFiles | default dict) -}}
{{- $_ := set $env $var (printf "/etc/portal/files/%s/%s" (include "portal.secretFileVolume" $var) $ref.key) -}}
{{- end -}}
{{- if $svc.blobs.enabled -}}
{{- $bs := $root.Values.blobStore -}}
{{- $_ := set $env (printf "%s_BLOB_STORE" $p) (printf "s3://%s/%s" (required "blobStore.bucket is required" $bs.bucket) $svc.name) -}}
{{- $_ := set $env "AWS_REGION" $bs.region -}}
{{- if $bs.endpoint -}}
{{- $_ := set $env "AWS_ENDPOINT_URL" $bs.endpoint -}}
{{- end -}}
{{- end -}}
{{- if eq $svc.principalKey "verify" -}}
{{- $_ := set $env (printf "%s_PRINCIPAL_PUBLIC_KEY_FILE" $p) "/etc/portal/principal/public-key.pem" -}}
{{- else if eq $svc.principalKey "sign" -}}
{{- $_ := set $env (printf "%s_SIGNING_KEY_FILE" $p) "/etc/portal/signing/signing-key.pem" -}}
{{- $_ := set $env (printf "%s_SECRETS_KEY_FILE" $p) "/etc/portal/secrets/secrets.key" -}}
{{- end -}}
{{- if $svc.mail -}}
{{- $_ := set $env (printf "%s_SMTP_HOST" $p) $root.Values.smtp.host -}}
{{- $_ := set $env (printf "%s_SMTP_PORT" $p) (toString (int $root.Values.smtp.port)) -}}
{{- $_ := set $env (printf "%s_MAIL_FROM" $p) $root.Values.smtp.from -}}
{{- $_ := set $env (printf "%s_PORTAL_URL" $p) $root.Values.portalUrl -}}
{{- end -}}
{{- $_ := set $env "OTEL_SERVICE_NAME" $svc.name -}}
{{- $attrs := "service.namespace=portal,k8s.namespace.name=$(POD_NAMESPACE),k8s.pod.name=$(POD_NAME)" -}}
{{- if $root.Values.telemetry.resourceAttributes -}}
{{- $attrs = printf "%s,%s" $attrs $root.Values.telemetry.resourceAttributes -}}
{{- end -}}
{{- $_ := set $env "OTEL_RESOURCE_ATTRIBUTES" $attrs -}}
{{- if $root.Values.telemetry.otlpEndpoint -}}
{{- $_ := set $env "OTEL_EXPORTER_OTLP_ENDPOINT" $root.Values.telemetry.otlpEndpoint -}}
{{- $_ := set $env "OTEL_TRACES_EXPORTER" "otlp" -}}
{{- else -}}
{{- $_ := set $env "OTEL_TRACES_EXPORTER" "none" -}}
{{- end -}}
{{- /* glibc malloc: a fixed mmap threshold, so that large transient blocks (identity's 19 MiB argon2 buffers) are
unmapped when freed instead of staying in a thread's arena. Why, measured: ALLOCATOR_ENV in
deploy/local/src/portal_local/topology.py (the runner sets the same; tests/deploy/test_topology.py holds the two
alike). A service's env may override it. */ -}}
{{- $_ := set $env "MALLOC_MMAP_THRESHOLD_" "4194304" -}}
{{- range $k, $v := $svc.env -}}
{{- $_ := set $env $k (toString $v) -}}
{{- end -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- range $k := keys $env | sortAlpha }}
- name: {{ $k }}
  value: {{ get $env $k | quote }}
{{- end }}
{{- if $root.Values.nats.existingSecret.name }}
- name: {{ printf "%s_NATS_URL" $p }}
  valueFrom:
    secretKeyRef:
      name: {{ $root.Values.nats.existingSecret.name }}
      key: {{ $root.Values.nats.existingSecret.key }}
{{- end }}
{{- if $svc.database.enabled }}
- name: {{ printf "%s_DATABASE_URL" $p }}
  valueFrom:
    secretKeyRef:
      name: {{ required (printf "services.%s.database.secretName is required" $svc.name) $svc.database.secretName }}
      key: {{ $svc.database.key }}
{{- end }}
{{- if and $svc.blobs.enabled $root.Values.blobStore.existingSecret }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ $root.Values.blobStore.existingSecret }}
      key: {{ $root.Values.blobStore.accessKeyIdKey }}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $root.Values.blobStore.existingSecret }}
      key: {{ $root.Values.blobStore.secretAccessKeyKey }}
{{- end }}
{{- range $k := keys $svc.secretEnv | sortAlpha }}
{{- $ref := get $svc.secretEnv $k }}
- name: {{ $k }}
  valueFrom:
    secretKeyRef:
      name: {{ $ref.secretName }}
      key: {{ $ref.key }}
      {{- if hasKey $ref "optional" }}
      optional: {{ $ref.optional }}
      {{- end }}
{{- end }}
{{- end -}}

{{/* The volume (and folder under /etc/portal/files) of one secretFiles entry: file-remote-command-key-file. */}}
{{- define "portal.secretFileVolume" -}}
{{- printf "file-%s" (. | lower | replace "_" "-") | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Volumes of one service's pods. Call with (list $ $svc). */}}
{{- define "portal.volumes" -}}
{{- $root := index . 0 -}}
{{- $svc := index . 1 -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ $svc.tmpSizeLimit }}
{{- if eq $svc.principalKey "verify" }}
{{- $pk := $root.Values.principalKeys.publicKey }}
- name: principal-public-key
  {{- if $pk.configMapName }}
  configMap:
    name: {{ $pk.configMapName }}
  {{- else }}
  secret:
    secretName: {{ $pk.secretName }}
  {{- end }}
    defaultMode: 0444
    items:
      - key: {{ $pk.key }}
        path: public-key.pem
{{- else if eq $svc.principalKey "sign" }}
- name: signing-key
  secret:
    secretName: {{ $root.Values.principalKeys.signingKey.secretName }}
    defaultMode: 0440
    items:
      - key: {{ $root.Values.principalKeys.signingKey.key }}
        path: signing-key.pem
- name: secrets-key
  secret:
    secretName: {{ $root.Values.principalKeys.secretsKey.secretName }}
    defaultMode: 0440
    items:
      - key: {{ $root.Values.principalKeys.secretsKey.key }}
        path: secrets.key
{{- end }}
{{- range $var := keys ($svc.secretFiles | default dict) | sortAlpha }}
{{- $ref := get $svc.secretFiles $var }}
- name: {{ include "portal.secretFileVolume" $var }}
  secret:
    secretName: {{ $ref.secretName }}
    defaultMode: 0440
    items:
      - key: {{ $ref.key }}
        path: {{ $ref.key }}
{{- end }}
{{- if and ($svc.agents | default dict).enabled $svc.agents.tlsSecretName }}
- name: agent-tls
  secret:
    secretName: {{ $svc.agents.tlsSecretName }}
    defaultMode: 0440
    items:
      - {key: tls.crt, path: tls.crt}
      - {key: tls.key, path: tls.key}
{{- end }}
{{- end -}}

{{- define "portal.volumeMounts" -}}
{{- $svc := . -}}
- name: tmp
  mountPath: /tmp
{{- if eq $svc.principalKey "verify" }}
- name: principal-public-key
  mountPath: /etc/portal/principal
  readOnly: true
{{- else if eq $svc.principalKey "sign" }}
- name: signing-key
  mountPath: /etc/portal/signing
  readOnly: true
- name: secrets-key
  mountPath: /etc/portal/secrets
  readOnly: true
{{- end }}
{{- range $var := keys ($svc.secretFiles | default dict) | sortAlpha }}
- name: {{ include "portal.secretFileVolume" $var }}
  mountPath: {{ printf "/etc/portal/files/%s" (include "portal.secretFileVolume" $var) }}
  readOnly: true
{{- end }}
{{- if and ($svc.agents | default dict).enabled $svc.agents.tlsSecretName }}
- name: agent-tls
  mountPath: /etc/portal/agent-tls
  readOnly: true
{{- end }}
{{- end -}}

{{- define "portal.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ int .Values.securityContext.runAsUser }}
runAsGroup: {{ int .Values.securityContext.runAsGroup }}
fsGroup: {{ int .Values.securityContext.fsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "portal.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ int .Values.securityContext.runAsUser }}
runAsGroup: {{ int .Values.securityContext.runAsGroup }}
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}
