"""A realistic remediation-workflow catalog and incident paraphrases for semantic-search tests.

Every workflow carries the same labels (``LABELS``), so ranking depends only on title and
description. Some entries are deliberately close neighbours (two memory workflows, two disk
workflows, two certificate workflows, ...) so that precision@1 is a meaningful check.
"""

from __future__ import annotations

from typing import NamedTuple


class CatalogWorkflow(NamedTuple):
    workflow_name: str
    title: str
    description: str


CATALOG: tuple[CatalogWorkflow, ...] = (
    CatalogWorkflow(
        "oomkill-increase-memory-limit",
        "Increase memory limit after OOMKill",
        "Remediates containers terminated with reason OOMKilled by the kernel out-of-memory killer. "
        "Raises the container memory limit and request in the deployment spec and rolls it out.",
    ),
    CatalogWorkflow(
        "memory-leak-restart-pod",
        "Restart pod with a suspected memory leak",
        "For a service whose memory usage (RSS) climbs steadily over hours or days and is never released. "
        "Captures a heap profile, then restarts the pod to reclaim memory before it crashes.",
    ),
    CatalogWorkflow(
        "crashloop-rollback-deployment",
        "Roll back a bad release causing crash loops",
        "For pods crashing and restarting in a loop (CrashLoopBackOff) once a new version is rolled out. "
        "Rolls the deployment back to the previous revision with kubectl rollout undo.",
    ),
    CatalogWorkflow(
        "imagepull-refresh-registry-secret",
        "Refresh image pull secret on registry authentication failure",
        "Remediates ImagePullBackOff and ErrImagePull when a container image cannot be pulled because the "
        "registry returns unauthorized. "
        "Regenerates the docker-registry imagePullSecret and re-creates the pods.",
    ),
    CatalogWorkflow(
        "node-notready-cordon-drain",
        "Cordon and drain NotReady node",
        "For a worker node reporting NotReady because the kubelet stopped posting status. "
        "Cordons the node, drains its workloads to healthy nodes and restarts the kubelet.",
    ),
    CatalogWorkflow(
        "node-disk-pressure-cleanup",
        "Clean up node disk pressure",
        "For a node with the DiskPressure condition where the root or image filesystem is nearly full. "
        "Prunes unused container images, stopped containers and old logs on the host.",
    ),
    CatalogWorkflow(
        "pvc-expand-volume",
        "Expand a full persistent volume claim",
        "For an application data volume (PersistentVolumeClaim) running out of space. "
        "Increases the PVC storage request so the storage class resizes the volume online.",
    ),
    CatalogWorkflow(
        "cert-manager-renew-certificate",
        "Renew expiring TLS certificate",
        "For an HTTPS serving certificate that is about to expire within days. "
        "Triggers cert-manager to reissue the Certificate resource and reloads the ingress with the new secret.",
    ),
    CatalogWorkflow(
        "tls-handshake-cipher-mismatch",
        "Fix TLS handshake failures between services",
        "For clients failing the TLS handshake because of protocol version, cipher suite or CA bundle mismatch. "
        "Aligns the TLS configuration and distributes the correct CA bundle to callers.",
    ),
    CatalogWorkflow(
        "dns-resolution-failure-fix",
        "Repair in-pod DNS resolution failures",
        "For pods that cannot resolve service or external hostnames (NXDOMAIN, lookup timeouts). "
        "Checks resolv.conf, ndots and search domains and restores the cluster DNS service endpoint.",
    ),
    CatalogWorkflow(
        "coredns-crashloop-restore",
        "Recover crashing CoreDNS pods",
        "For CoreDNS pods themselves crash looping, often due to a forwarding loop or a broken Corefile. "
        "Restores the last known good Corefile ConfigMap and restarts the coredns deployment.",
    ),
    CatalogWorkflow(
        "hpa-scale-out-latency",
        "Scale out on high request latency",
        "For a service whose p99 response time exceeds its SLO during traffic spikes because too few replicas "
        "are running. "
        "Raises the HorizontalPodAutoscaler max replicas and scales the deployment out.",
    ),
    CatalogWorkflow(
        "etcd-defragment",
        "Defragment etcd database",
        "For etcd members whose database size approaches the backend quota or shows a NOSPACE alarm. "
        "Compacts revisions, defragments each member in turn and disarms the alarm.",
    ),
    CatalogWorkflow(
        "namespace-terminating-finalizers",
        "Remove finalizers from namespace stuck Terminating",
        "For a namespace that stays in Terminating phase forever after deletion. "
        "Finds the resources with pending finalizers and clears them so deletion completes.",
    ),
    CatalogWorkflow(
        "evicted-pods-cleanup",
        "Delete evicted pods",
        "For large numbers of pods left in Failed status with reason Evicted after node resource pressure. "
        "Deletes the evicted pod objects across namespaces.",
    ),
    CatalogWorkflow(
        "cpu-throttling-raise-limit",
        "Raise CPU limit for throttled container",
        "For containers hitting CFS CPU throttling because their CPU limit is too low. "
        "Raises the CPU limit and request so the workload gets enough CPU quota.",
    ),
    CatalogWorkflow(
        "liveness-probe-fix",
        "Fix misconfigured liveness probe",
        "For healthy containers restarted by the kubelet because the liveness health check uses a wrong path, "
        "port or timeout. Corrects the probe settings and initial delay in the pod template.",
    ),
    CatalogWorkflow(
        "readiness-probe-failing-endpoints",
        "Fix readiness probe removing pods from service endpoints",
        "For pods that run but never become Ready, so the Service has an empty endpoint list and load balancing "
        "has nowhere to route. "
        "Corrects the readiness probe and verifies endpoints are populated again.",
    ),
    CatalogWorkflow(
        "db-connection-pool-exhaustion",
        "Resolve database connection pool exhaustion",
        "For applications unable to obtain a database connection because the pool is exhausted or the "
        "PostgreSQL or MySQL server reached max_connections. Kills idle sessions and raises the pool size.",
    ),
    CatalogWorkflow(
        "kafka-consumer-lag-scale",
        "Scale Kafka consumers on consumer lag",
        "For a Kafka consumer group falling behind with growing partition lag. "
        "Scales consumer replicas up to the partition count and restarts stuck consumers.",
    ),
    CatalogWorkflow(
        "ingress-502-bad-gateway",
        "Fix ingress 502 Bad Gateway errors",
        "For the ingress controller returning 502 Bad Gateway because upstream pods are unreachable or reset "
        "connections. Checks backend service ports and endpoints and reloads the ingress controller.",
    ),
    CatalogWorkflow(
        "networkpolicy-blocking-traffic",
        "Repair NetworkPolicy blocking traffic",
        "For pod-to-pod connections that are silently dropped after a NetworkPolicy change. "
        "Identifies the denying policy and adds an allow rule for the required ports and namespaces.",
    ),
    CatalogWorkflow(
        "file-descriptor-leak",
        "Recover from leaked file descriptors",
        "For processes failing with 'too many open files' as open file descriptors approach the ulimit. "
        "Restarts the affected process and raises the nofile limit.",
    ),
    CatalogWorkflow(
        "ntp-clock-skew",
        "Correct node clock skew",
        "For nodes whose system clock has drifted from NTP, breaking token validation and TLS. "
        "Restarts chronyd, forces a time sync and verifies the offset.",
    ),
    CatalogWorkflow(
        "serviceaccount-token-expired",
        "Refresh expired service account token",
        "For workloads getting 401 Unauthorized from the Kubernetes API because their projected service "
        "account token expired. Restarts pods so a fresh token is mounted.",
    ),
    CatalogWorkflow(
        "resourcequota-exceeded",
        "Handle namespace ResourceQuota exceeded",
        "For pod creation forbidden because the namespace ResourceQuota is exhausted. "
        "Reports current usage, removes orphaned workloads and raises the quota if approved.",
    ),
    CatalogWorkflow(
        "job-backofflimit-exceeded",
        "Retry job that hit backoffLimit",
        "For a batch Job marked Failed with BackoffLimitExceeded after its pods failed repeatedly. "
        "Collects pod logs, fixes the input and re-creates the job.",
    ),
    CatalogWorkflow(
        "cronjob-missed-schedules",
        "Recover CronJob missing its schedule",
        "For a CronJob that stopped starting runs (too many missed start times or suspended). "
        "Resets startingDeadlineSeconds, unsuspends it and triggers a manual run.",
    ),
    CatalogWorkflow(
        "pdb-blocking-drain",
        "Unblock drain held by PodDisruptionBudget",
        "For node drains or cluster upgrades stalled because a PodDisruptionBudget allows zero disruptions, "
        "so the eviction API rejects every pod eviction. "
        "Scales the workload up or temporarily relaxes minAvailable so eviction can proceed.",
    ),
    CatalogWorkflow(
        "zombie-process-reaping",
        "Clean up zombie processes in container",
        "For containers accumulating defunct child processes because PID 1 does not reap them. "
        "Restarts the container and adds an init process such as tini.",
    ),
    CatalogWorkflow(
        "pid-limit-exhausted",
        "Handle node PID exhaustion",
        "For nodes where new processes cannot be forked because the pid limit is reached. "
        "Identifies the pod spawning processes, kills it and sets podPidsLimit.",
    ),
    CatalogWorkflow(
        "log-volume-full-rotate",
        "Rotate logs filling the log volume",
        "For the /var/log partition filling up from application or container log files. "
        "Compresses and rotates logs, truncates the largest files and fixes logrotate settings.",
    ),
    CatalogWorkflow(
        "kube-proxy-iptables-sync",
        "Fix kube-proxy iptables sync failures",
        "For service ClusterIPs not routing on a node because kube-proxy fails to sync iptables rules. "
        "Restarts kube-proxy and flushes stale conntrack entries.",
    ),
    CatalogWorkflow(
        "statefulset-stuck-rollout",
        "Unstick StatefulSet rolling update",
        "For a StatefulSet update that halts partway with one ordinal pod never becoming ready. "
        "Deletes the stuck pod, fixes the revision and resumes the ordered rolling update.",
    ),
    CatalogWorkflow(
        "configmap-drift-restore",
        "Restore drifted ConfigMap from Git",
        "For a ConfigMap edited by hand in the cluster so it no longer matches the version in Git. "
        "Re-applies the declared configuration and restarts consumers.",
    ),
    CatalogWorkflow(
        "secret-rotation",
        "Rotate compromised or aged secret",
        "For credentials in a Kubernetes Secret that leaked or passed their rotation age. "
        "Generates new credentials, updates the secret and restarts the workloads that use it.",
    ),
    CatalogWorkflow(
        "redis-eviction-maxmemory",
        "Handle Redis key evictions at maxmemory",
        "For a Redis cache evicting keys because used memory reached maxmemory. "
        "Raises maxmemory, reviews the eviction policy and scales the Redis instance.",
    ),
    CatalogWorkflow(
        "jvm-heap-exhaustion",
        "Increase JVM heap size",
        "For Java services throwing java.lang.OutOfMemoryError: Java heap space. "
        "Raises -Xmx and MaxRAMPercentage and captures a heap dump before restart.",
    ),
    CatalogWorkflow(
        "jvm-gc-pause-tuning",
        "Tune long garbage collection pauses",
        "For JVM services with long stop-the-world GC pauses causing request timeouts. "
        "Switches to G1 or ZGC, tunes pause targets and adjusts heap sizing.",
    ),
    CatalogWorkflow(
        "slow-query-kill",
        "Terminate slow database queries",
        "For long-running SQL statements holding locks and saturating the database. "
        "Identifies queries over the threshold, cancels them and records plans for indexing.",
    ),
    CatalogWorkflow(
        "db-replication-lag",
        "Reduce database replication lag",
        "For read replicas falling far behind the primary. "
        "Pauses heavy batch writes, checks replica IO and re-seeds the replica if lag keeps growing.",
    ),
    CatalogWorkflow(
        "node-kernel-panic-replace",
        "Replace node after kernel panic",
        "For a host that crashed with a kernel panic or soft lockup and rebooted unexpectedly. "
        "Collects the crash dump, cordons the node and replaces the instance.",
    ),
    CatalogWorkflow(
        "gpu-xid-error-reset",
        "Handle GPU Xid errors",
        "For NVIDIA GPUs reporting Xid errors or falling off the bus. "
        "Drains GPU workloads, resets the device and marks the node unschedulable if errors persist.",
    ),
    CatalogWorkflow(
        "pending-pods-insufficient-capacity",
        "Add capacity for unschedulable pending pods",
        "For pods stuck Pending with FailedScheduling due to insufficient cpu or memory on all nodes. "
        "Scales up the node pool through the cluster autoscaler.",
    ),
    CatalogWorkflow(
        "pvc-pending-provisioning",
        "Fix PersistentVolumeClaim stuck Pending",
        "For a PVC that never binds because dynamic provisioning fails or no storage class matches. "
        "Checks the provisioner, storage class and zone and re-creates the claim.",
    ),
    CatalogWorkflow(
        "volume-multi-attach-error",
        "Resolve volume Multi-Attach error",
        "For pods failing to start because a ReadWriteOnce volume is still attached to another node. "
        "Force-detaches the stale VolumeAttachment from the old node.",
    ),
    CatalogWorkflow(
        "api-server-high-latency",
        "Mitigate Kubernetes API server overload",
        "For kube-apiserver requests slowing down or being throttled with 429 responses. "
        "Identifies noisy clients flooding LIST and WATCH calls and tunes API priority and fairness.",
    ),
    CatalogWorkflow(
        "webhook-timeout-bypass",
        "Bypass failing admission webhook",
        "For resource creation rejected because a validating or mutating admission webhook times out. "
        "Sets the webhook failurePolicy to Ignore and restarts the webhook service.",
    ),
    CatalogWorkflow(
        "conntrack-table-full",
        "Raise conntrack table size",
        "For nodes dropping packets with 'nf_conntrack: table full'. "
        "Raises nf_conntrack_max and lowers timeouts for closed connections.",
    ),
    CatalogWorkflow(
        "mtu-mismatch-fix",
        "Fix MTU mismatch in overlay network",
        "For large packets dropped between pods on different nodes while small requests succeed. "
        "Aligns the CNI overlay MTU with the underlying network MTU.",
    ),
    CatalogWorkflow(
        "loadbalancer-service-pending",
        "Fix LoadBalancer service without external IP",
        "For a Service of type LoadBalancer whose external IP stays pending. "
        "Checks cloud controller manager errors, quotas and subnet annotations.",
    ),
    CatalogWorkflow(
        "rabbitmq-queue-backlog",
        "Drain RabbitMQ queue backlog",
        "For RabbitMQ queues growing without bound because consumers are slow or disconnected. "
        "Restarts consumers, adds workers and sets a queue length limit.",
    ),
    CatalogWorkflow(
        "elasticsearch-cluster-red",
        "Recover Elasticsearch red cluster health",
        "For Elasticsearch reporting red status with unassigned primary shards. "
        "Explains allocation, frees disk watermarks and reroutes shards.",
    ),
    CatalogWorkflow(
        "prometheus-high-cardinality",
        "Reduce Prometheus series cardinality",
        "For Prometheus running out of memory from a metric label explosion. "
        "Finds top series by label, drops them via relabeling and restarts Prometheus.",
    ),
    CatalogWorkflow(
        "kubelet-certificate-rotation",
        "Rotate expired kubelet client certificate",
        "For a kubelet that can no longer authenticate to the API server because its client certificate "
        "expired. Approves pending CSRs and restarts the kubelet.",
    ),
    CatalogWorkflow(
        "container-runtime-restart",
        "Restart unresponsive container runtime",
        "For containerd or the CRI runtime hanging so pods stay in ContainerCreating and PLEG is unhealthy. "
        "Bounces the containerd service on the node and verifies the runtime socket responds.",
    ),
    CatalogWorkflow(
        "cni-ip-exhaustion",
        "Fix pod IP address exhaustion",
        "For new pods failing sandbox creation because the CNI has no free IP addresses in the subnet. "
        "Releases leaked IPs and expands the pod CIDR or subnet.",
    ),
    CatalogWorkflow(
        "rate-limit-429-upstream",
        "Back off from third-party API rate limiting",
        "For outbound calls to an external provider returning 429 Too Many Requests. "
        "Enables client-side rate limiting and retry with exponential backoff.",
    ),
    CatalogWorkflow(
        "error-rate-spike-feature-flag",
        "Disable feature flag on error rate spike",
        "For an elevated HTTP 5xx error rate tied to a recently enabled feature flag. "
        "Turns the flag off and confirms the error rate returns to baseline.",
    ),
    CatalogWorkflow(
        "thread-pool-deadlock-dump",
        "Recover from application deadlock",
        "For a service that stops responding while CPU is idle because worker threads are deadlocked. "
        "Takes a thread dump and restarts the pod.",
    ),
    CatalogWorkflow(
        "backup-job-failed-rerun",
        "Re-run failed database backup",
        "For a scheduled database backup that failed or produced no snapshot. "
        "Checks object storage credentials and space and re-runs the backup.",
    ),
    CatalogWorkflow(
        "ssl-cert-chain-incomplete",
        "Fix incomplete certificate chain",
        "For some clients rejecting a certificate as untrusted because the intermediate CA is missing. "
        "Rebuilds the secret with the full chain.",
    ),
    CatalogWorkflow(
        "node-high-load-cpu-saturation",
        "Rebalance pods off CPU-saturated node",
        "For a node at 100% CPU with high load average slowing every pod on it. "
        "Evicts the heaviest pods to other nodes and adds anti-affinity.",
    ),
    CatalogWorkflow(
        "inode-exhaustion-cleanup",
        "Free exhausted inodes",
        "For a filesystem reporting no space left while bytes are free because inodes are used up by "
        "millions of small files. Deletes temp files and session caches.",
    ),
)
"""Remediation workflows; ``workflow_name`` is unique."""

QUERIES: tuple[tuple[str, str], ...] = (
    ("container killed for using too much memory", "oomkill-increase-memory-limit"),
    ("pods keep restarting right after the new release went out", "crashloop-rollback-deployment"),
    ("service RSS creeps up all week until it falls over", "memory-leak-restart-pod"),
    ("kubelet can't fetch the image, auth denied by the registry", "imagepull-refresh-registry-secret"),
    ("worker node went unhealthy and stopped reporting heartbeats", "node-notready-cordon-drain"),
    ("the host's root filesystem is almost out of space from old images", "node-disk-pressure-cleanup"),
    ("postgres data volume is 95% used, need more storage", "pvc-expand-volume"),
    ("our https cert runs out in three days", "cert-manager-renew-certificate"),
    ("apps can't look up hostnames, getting nxdomain", "dns-resolution-failure-fix"),
    ("checkout endpoint is sluggish at peak, p95 way past the objective", "hpa-scale-out-latency"),
    ("etcd db size near quota, alarm raised", "etcd-defragment"),
    ("deleted the namespace an hour ago and it still won't go away", "namespace-terminating-finalizers"),
    ("tons of failed evicted pod records cluttering kubectl get pods", "evicted-pods-cleanup"),
    ("app is slow and container_cpu_cfs_throttled is very high", "cpu-throttling-raise-limit"),
    ("health check hits the wrong port so kubelet keeps killing a fine container", "liveness-probe-fix"),
    ("api can't get a connection to postgres, too many clients", "db-connection-pool-exhaustion"),
    ("order events consumer group is falling way behind", "kafka-consumer-lag-scale"),
    ("nginx in front of the app is returning bad gateway", "ingress-502-bad-gateway"),
    ("after applying a new policy, frontend can't reach backend pods", "networkpolicy-blocking-traffic"),
    ("EMFILE errors: process ran out of open file handles", "file-descriptor-leak"),
    ("time on a couple of nodes is off by minutes", "ntp-clock-skew"),
    ("in-cluster client gets 401 from the apiserver, its token is stale", "serviceaccount-token-expired"),
    ("can't create new pods in team namespace, exceeded quota", "resourcequota-exceeded"),
    ("nightly batch job gave up after too many retries", "job-backofflimit-exceeded"),
    ("the hourly cron task hasn't fired since yesterday", "cronjob-missed-schedules"),
    ("node upgrade hangs because eviction is refused by the budget", "pdb-blocking-drain"),
    ("lots of defunct processes piling up inside the container", "zombie-process-reaping"),
    ("/var/log on the host is completely full", "log-volume-full-rotate"),
    ("java service dies with heap space OutOfMemoryError", "jvm-heap-exhaustion"),
    ("stop-the-world collections taking seconds cause timeouts", "jvm-gc-pause-tuning"),
    ("read replica is minutes behind the primary", "db-replication-lag"),
    ("cache is dropping keys because it's out of memory", "redis-eviction-maxmemory"),
    ("nvidia device fell off the bus on a training node", "gpu-xid-error-reset"),
    ("box went down hard with a kernel oops and came back on its own", "node-kernel-panic-replace"),
    ("the cluster DNS server keeps crashing, logs say loop detected", "coredns-crashloop-restore"),
    ("new replicas won't schedule, the cluster has no spare cpu left", "pending-pods-insufficient-capacity"),
    (
        "clients fail to negotiate TLS with the payments service, protocol version not supported",
        "tls-handshake-cipher-mismatch",
    ),
    (
        "pods are up but traffic never reaches them, the service shows zero backends",
        "readiness-probe-failing-endpoints",
    ),
    ("disk says no space left but df shows plenty of free bytes", "inode-exhaustion-cleanup"),
    (
        "kubelet on node-7 can't log in to the control plane anymore, its cert has lapsed",
        "kubelet-certificate-rotation",
    ),
    ("older android phones say our site's certificate isn't trusted, desktop is fine", "ssl-cert-chain-incomplete"),
    (
        "rescheduled pod can't start because its disk is still mounted on the previous machine",
        "volume-multi-attach-error",
    ),
    ("new pods can't get an address from the network plugin", "cni-ip-exhaustion"),
    ("5xx errors jumped right after we turned on the new checkout toggle", "error-rate-spike-feature-flag"),
    ("prometheus keeps getting OOM killed due to exploding label values", "prometheus-high-cardinality"),
    ("elasticsearch went red after a node died", "elasticsearch-cluster-red"),
)
"""(incident description, expected workflow_name): paraphrases, not copies of workflow wording."""

LABELS: dict[str, str] = {
    "signal_type": "PrometheusAlert",
    "severity": "*",
    "component": "*",
    "environment": "*",
    "priority": "*",
}
"""The labels every catalog workflow is stored with, so only title and description affect ranking."""
