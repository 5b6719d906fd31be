#!/usr/bin/env bash
# A one-node Kubernetes v1.20 cluster on this machine, without Docker: `scripts/cluster.sh up|down|env`.
#
#   up    builds (or reuses) the binaries, starts etcd, kube-apiserver, kube-controller-manager,
#         kube-scheduler, containerd + runc with the CNI bridge, the kubelet, kube-proxy, a cluster DNS
#         for Service names and a plain-HTTP image registry, then waits until the node is Ready.
#         Prints the state directory and the lines to paste (KUBECONFIG, PATH) last.
#   down  stops everything by the PIDs `up` recorded and undoes every change to the machine (mounts,
#         the bridge, the node address, iptables rules, sysctls, cgroups, paths the daemons hard-code).
#         Safe to run again, and after a crash.
#   env   prints the export lines again.
#
# Addresses: everything the cluster serves listens on 127.0.0.1 or on 10.200.0.1, an address `up` adds
# to `lo` (the kubelet refuses a loopback node IP). Pods get 10.88.0.0/16 on the bridge cni0 with routes
# to the node address and the Service range only (no default route, no masquerade): nothing is routed
# off the machine. Services: 10.96.0.0/16 (kube-proxy, iptables mode); the API server calls webhook
# Services by endpoint (--enable-aggregator-routing). Registry: http://10.200.0.1:5000, which the node
# (containerd) and pods (the webhook) both reach. Only one such cluster can run on a machine at a time.
#
# Environment: SIGWEBHOOK_CLUSTER_DIR state directory (default ~/.local/state/sigwebhook-cluster);
# KUBE_APISERVER_CACHE where the binaries are built and cached (see scripts/build-kube-node.sh).
# Needs root (apt-get, mounts, iptables). Kernel facts this relies on are in docs/cluster.md.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
STATE=$(realpath -m "${SIGWEBHOOK_CLUSTER_DIR:-$HOME/.local/state/sigwebhook-cluster}")
NODE_IP=10.200.0.1 NODE_NAME=sigwebhook-node
POD_CIDR=10.88.0.0/16 POD_GATEWAY=10.88.0.1 SERVICE_CIDR=10.96.0.0/16 KUBERNETES_SVC=10.96.0.1
REGISTRY=$NODE_IP:5000
OWNER=/run/sigwebhook-cluster   # made by the `up` that holds the machine-wide resources; `state` names it
P=$STATE/pki L=$STATE/logs R=$STATE/run B=$STATE/baseline SOCK=$STATE/containerd/containerd.sock
export KUBECONFIG=$P/admin.kubeconfig
# host paths the daemons create whatever their flags say (removed by `down` unless they were there)
HOST_PATHS=(/var/lib/kubelet /var/log/pods /var/log/containers /var/lib/cni /etc/cni
            /usr/libexec/kubernetes /run/containerd /var/lib/containerd /opt/containerd)
SYSCTLS=(net.ipv4.ip_forward net.ipv4.conf.all.route_localnet vm.overcommit_memory vm.panic_on_oom
         kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys kernel.keys.root_maxbytes
         net.bridge.bridge-nf-call-iptables)

T0=$(date +%s%N)
say() { echo "cluster [$((($(date +%s%N) - T0) / 1000000)) ms] $*" >&2; }
die() { echo "cluster: $*" >&2; exit 1; }
# PID (DIR): a running process of the cluster in state directory DIR (default ours); every daemon's
# command line names a path in it. Not a process that exited, a zombie not reaped yet (its command line
# is empty), or an unrelated one that reuses the PID of a daemon that died.
ours() { { tr '\0' ' ' <"/proc/$1/cmdline"; } 2>/dev/null | grep -qF -- "${2:-$STATE}/"; }
gone() { ! ours "$1"; }
alive() { [[ -f $R/$1.pid ]] && ours "$(cat "$R/$1.pid")"; }
start() { # NAME CMD...: in its own session, output to logs/NAME.log, PID to run/NAME.pid
  local name=$1; shift
  setsid "$@" >"$L/$name.log" 2>&1 </dev/null &
  echo $! >"$R/$name.pid"
}
wait_for() { # WHAT SECONDS LOG CMD...: poll CMD every 0.2 s
  local what=$1 seconds=$2 log=$3; shift 3
  local deadline=$(($(date +%s) + seconds))
  until "$@" >/dev/null 2>&1; do
    if (($(date +%s) > deadline)); then
      if [[ -f $L/$log.log ]]; then # how it crashed, if it did, then how it ended
        grep -m 3 -A 3 -E '^(fatal error|panic:|F[0-9]{4} )' "$L/$log.log" >&2 || true
        tail -n 20 "$L/$log.log" >&2
      fi
      die "$what not ready after ${seconds}s"
    fi
    sleep 0.2
  done
  say "$what ready"
}

ensure_packages() {
  local need=()
  command -v containerd >/dev/null || need+=(containerd)
  command -v runc >/dev/null || need+=(runc)
  [[ -x /usr/lib/cni/bridge ]] || need+=(containernetworking-plugins)
  command -v conntrack >/dev/null || need+=(conntrack)
  command -v iptables >/dev/null || need+=(iptables)
  command -v etcd >/dev/null || need+=(etcd-server)
  command -v docker-registry >/dev/null || need+=(docker-registry)
  command -v skopeo >/dev/null || need+=(skopeo)
  command -v openssl >/dev/null || need+=(openssl)
  command -v gcc >/dev/null || need+=(gcc libc6-dev)
  command -v curl >/dev/null || need+=(curl)
  if ((${#need[@]})); then
    say "installing ${need[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
}

record_baseline() { # what `down` must put back, recorded before anything changes
  mkdir -p "$B"
  for key in "${SYSCTLS[@]}"; do echo "$key = $(sysctl -n "$key")"; done >"$B/sysctl.conf"
  for path in "${HOST_PATHS[@]}"; do [[ -e $path ]] && echo "$path"; done >"$B/paths" || true
  nft list tables >"$B/nft-tables" 2>/dev/null || true
  ls -d /sys/fs/cgroup/*/kubepods 2>/dev/null >"$B/cgroups" || true
}

cert() { # NAME CN O EXTENSIONS: an EC P-256 key and a certificate signed by the cluster CA
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -out "$1.csr" \
    -subj "/CN=$2${3:+/O=$3}" 2>/dev/null
  printf '%b\n' "$4" >"$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 365 -out "$1.crt" \
    -extfile "$1.ext" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
kubeconfig() { # FILE USER CERTNAME
  cat >"$1" <<YAML
apiVersion: v1
kind: Config
clusters:
- name: sigwebhook
  cluster: {server: "https://$NODE_IP:6443", certificate-authority-data: $(base64 -w0 ca.crt)}
users:
- name: $2
  user: {client-certificate-data: $(base64 -w0 "$3.crt"), client-key-data: $(base64 -w0 "$3.key")}
contexts:
- name: sigwebhook
  context: {cluster: sigwebhook, user: $2}
current-context: sigwebhook
YAML
  chmod 600 "$1"
}
make_pki() {
  rm -rf "$P" && mkdir -p "$P" && cd "$P"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt \
    -days 365 -subj /CN=sigwebhook-cluster-ca 2>/dev/null
  local base="basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment"
  local client="$base\nextendedKeyUsage=clientAuth" server="$base\nextendedKeyUsage=serverAuth"
  cert apiserver kube-apiserver "" "$server\nsubjectAltName=IP:$NODE_IP,IP:127.0.0.1,IP:$KUBERNETES_SVC,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  cert kubelet-serving "$NODE_NAME" "" "$server\nsubjectAltName=IP:$NODE_IP,DNS:$NODE_NAME"
  cert admin admin system:masters "$client"
  cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters "$client"
  cert kubelet "system:node:$NODE_NAME" system:nodes "$client"
  cert controller-manager system:kube-controller-manager "" "$client"
  cert scheduler system:kube-scheduler "" "$client"
  cert kube-proxy system:kube-proxy "" "$client"
  cert dns sigwebhook-cluster-dns "" "$client"
  openssl genrsa -out sa.key 2048 2>/dev/null && openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  for who in admin kubelet controller-manager scheduler kube-proxy; do
    kubeconfig "$who.kubeconfig" "$who" "$who"
  done
  cd "$ROOT"
}

write_configs() {
  mkdir -p "$STATE/containerd/certs.d/$REGISTRY" "$STATE/cni/net.d" "$STATE/kubelet/manifests"
  cat >"$STATE/containerd/config.toml" <<TOML
version = 2
root = "$STATE/containerd/root"
state = "$STATE/containerd/state"
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$STATE/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$REGISTRY/pause:3.4"
  netns_mounts_under_state_dir = true
  # this VM drops CAP_SYS_RESOURCE, so not even root may lower oom_score_adj (runc init would die
  # writing -998 for the sandbox): keep every container's score at or above containerd's own
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$STATE/containerd/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni/net.d"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$STATE/containerd/certs.d"
TOML
  cat >"$STATE/containerd/certs.d/$REGISTRY/hosts.toml" <<TOML
server = "http://$REGISTRY"
[host."http://$REGISTRY"]
  capabilities = ["pull", "resolve"]
TOML
  # pods reach the node address (API server, registry, DNS) and Services; no default route
  cat >"$STATE/cni/net.d/10-bridge.conflist" <<JSON
{"cniVersion": "0.4.0", "name": "sigwebhook-node", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "dataDir": "$STATE/cni/ipam",
            "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$POD_GATEWAY"}]],
            "routes": [{"dst": "$NODE_IP/32"}, {"dst": "$SERVICE_CIDR"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}},
  {"type": "loopback"}]}
JSON
  cat >"$STATE/kubelet/config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
cgroupDriver: cgroupfs
failSwapOn: false
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $P/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $P/kubelet-serving.crt
tlsPrivateKeyFile: $P/kubelet-serving.key
clusterDNS: [$NODE_IP]
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
staticPodPath: $STATE/kubelet/manifests
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
# the first status is posted before the runtime is healthy; Ready comes with the next one
nodeStatusUpdateFrequency: 2s
YAML
  cat >"$STATE/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $P/kube-proxy.kubeconfig}
hostnameOverride: $NODE_NAME
bindAddress: $NODE_IP
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
mode: iptables
clusterCIDR: $POD_CIDR
nodePortAddresses: ["$NODE_IP/32"]
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
iptables: {masqueradeAll: false, syncPeriod: 30s, minSyncPeriod: 1s}
YAML
  cat >"$STATE/registry.yml" <<YAML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $STATE/registry}, delete: {enabled: true}}
http: {addr: "$REGISTRY", secret: sigwebhook-cluster-local}
YAML
}

pause_image() { # the sandbox image: pause.c from the Kubernetes source, static, in a one-layer image
  local src=$KUBE_APISERVER_CACHE/src/build/pause/linux/pause.c dir=$STATE/images/pause
  [[ -f $src ]] || die "$src is missing (run scripts/build-kube-apiserver.sh)"
  rm -rf "$dir" && mkdir -p "$dir/rootfs"
  gcc -Os -Wall -Werror -static -DVERSION=v3.4-sigwebhook -o "$dir/rootfs/pause" "$src"
  strip "$dir/rootfs/pause"
  python3 "$ROOT/scripts/cluster/oci_image.py" "$dir/rootfs" "$dir/oci" 3.4 --entrypoint '["/pause"]' >/dev/null
  skopeo copy -q --dest-tls-verify=false "oci:$dir/oci:3.4" "docker://$REGISTRY/pause:3.4"
}

claim() { # take the machine for this state directory (mkdir is atomic: one `up` wins)
  local deadline=$(($(date +%s) + ${SIGWEBHOOK_CLUSTER_WAIT:-0})) holder
  until mkdir "$OWNER" 2>/dev/null; do
    holder=$(cat "$OWNER/state" 2>/dev/null || true)
    if [[ -n $holder ]] && ! holder_alive "$holder"; then # not taken down (a killed run): do it now
      say "leftovers of a cluster in $holder that was not taken down: taking it down first"
      SIGWEBHOOK_CLUSTER_DIR=$holder bash "$0" down
      continue
    fi
    [[ $holder == "$STATE" ]] && die "already up ($STATE); run down first"
    if (($(date +%s) >= deadline)); then
      die "a cluster from ${holder:-another up} holds this machine: SIGWEBHOOK_CLUSTER_DIR=$holder $0 down (or wait: SIGWEBHOOK_CLUSTER_WAIT=SECONDS)"
    fi
    sleep 5
  done
  echo "$STATE" >"$OWNER/state"
}

up() {
  # unix sockets live under it (the kubelet's pod-resources socket takes 45 more bytes) and a socket
  # path has at most 107: the kubelet would die binding one
  ((${#STATE} <= 60)) || die "the state directory $STATE is too long for the sockets under it (60 bytes at most)"
  ensure_packages
  export KUBE_APISERVER_CACHE=${KUBE_APISERVER_CACHE:-$HOME/.cache/kube-apiserver-1.20-r2}
  local apiserver bin
  apiserver=$(bash "$ROOT/scripts/build-kube-apiserver.sh" | tail -n 1)
  bin=$(bash "$ROOT/scripts/build-kube-node.sh" | tail -n 1)
  say "binaries in $bin"
  claim
  if ip addr show dev lo | grep -q " $NODE_IP/" || ip link show cni0 >/dev/null 2>&1; then
    release_machine
    die "$NODE_IP on lo or a cni0 bridge exists: another cluster, not started by this script, runs here"
  fi
  trap failed_up EXIT

  rm -rf "${STATE:?}"/{etcd,containerd,kubelet,cni,registry,images,run,logs,baseline}
  mkdir -p "$L" "$R" "$STATE/cni/ipam"
  record_baseline
  make_pki
  write_configs
  say "certificates and configuration written"
  ip addr add "$NODE_IP/32" dev lo

  start etcd etcd --name node --data-dir "$STATE/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster node=http://127.0.0.1:2380 --listen-metrics-urls http://127.0.0.1:2381
  start registry docker-registry serve "$STATE/registry.yml"
  start containerd containerd --config "$STATE/containerd/config.toml"
  wait_for etcd 30 etcd curl -sf http://127.0.0.1:2379/health
  start kube-apiserver "$apiserver" --bind-address=$NODE_IP --advertise-address=$NODE_IP \
    --secure-port=6443 --insecure-port=0 --etcd-servers=http://127.0.0.1:2379 \
    --tls-cert-file="$P/apiserver.crt" --tls-private-key-file="$P/apiserver.key" --client-ca-file="$P/ca.crt" \
    --kubelet-client-certificate="$P/apiserver-kubelet-client.crt" \
    --kubelet-client-key="$P/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority="$P/ca.crt" --kubelet-preferred-address-types=InternalIP \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$P/sa.pub" --service-account-signing-key-file="$P/sa.key" \
    --service-cluster-ip-range=$SERVICE_CIDR --enable-aggregator-routing=true \
    --allow-privileged=true --profiling=false
  wait_for registry 20 registry curl -sf "http://$REGISTRY/v2/"
  pause_image
  say "pause image pushed to $REGISTRY/pause:3.4"
  wait_for containerd 20 containerd ctr -a "$SOCK" version
  wait_for kube-apiserver 90 kube-apiserver "$bin/kubectl" get --raw /readyz

  start kube-controller-manager "$bin/kube-controller-manager" --kubeconfig="$P/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$P/controller-manager.kubeconfig" \
    --authorization-kubeconfig="$P/controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port=10257 --port=0 --leader-elect=false \
    --use-service-account-credentials=true --service-account-private-key-file="$P/sa.key" \
    --root-ca-file="$P/ca.crt" --cluster-signing-cert-file="$P/ca.crt" --cluster-signing-key-file="$P/ca.key" \
    --allocate-node-cidrs=false --service-cluster-ip-range=$SERVICE_CIDR \
    --flex-volume-plugin-dir="$STATE/kcm-volume-plugins"
  start kube-scheduler "$bin/kube-scheduler" --kubeconfig="$P/scheduler.kubeconfig" \
    --authentication-kubeconfig="$P/scheduler.kubeconfig" --authorization-kubeconfig="$P/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port=10259 --port=0 --leader-elect=false
  start kubelet "$bin/kubelet" --config="$STATE/kubelet/config.yaml" --kubeconfig="$P/kubelet.kubeconfig" \
    --container-runtime=remote --container-runtime-endpoint="unix://$SOCK" --runtime-request-timeout=5m \
    --root-dir="$STATE/kubelet/root" --cert-dir="$STATE/kubelet/pki" \
    --volume-plugin-dir="$STATE/kubelet/volume-plugins" \
    --hostname-override=$NODE_NAME --node-ip=$NODE_IP --register-node=true --v=1
  start kube-proxy "$bin/kube-proxy" --config="$STATE/kube-proxy.yaml" --v=1
  # the DNS reads Services and nothing else
  "$bin/kubectl" create clusterrole sigwebhook-cluster-dns --verb=get --resource=services >/dev/null
  "$bin/kubectl" create clusterrolebinding sigwebhook-cluster-dns --clusterrole=sigwebhook-cluster-dns \
    --user=sigwebhook-cluster-dns >/dev/null
  start dns python3 "$ROOT/scripts/cluster/dns.py" --listen "$NODE_IP:53" --server "https://$NODE_IP:6443" \
    --ca "$P/ca.crt" --cert "$P/dns.crt" --key "$P/dns.key"
  wait_for kube-controller-manager 30 kube-controller-manager curl -sfk https://127.0.0.1:10257/healthz
  wait_for kube-scheduler 30 kube-scheduler curl -sfk https://127.0.0.1:10259/healthz
  wait_for kube-proxy 30 kube-proxy curl -sf http://127.0.0.1:10256/healthz
  wait_for "node $NODE_NAME" 90 kubelet node_ready "$bin/kubectl"
  wait_for "default service account token" 60 kube-controller-manager default_token "$bin/kubectl"
  trap - EXIT
  say "up; state in $STATE"
  echo "$STATE"
  print_env
}
release_machine() { [[ $(cat "$OWNER/state" 2>/dev/null) == "$STATE" ]] && rm -rf "$OWNER" || true; }
holder_alive() { # any daemon of the cluster in state directory $1 still running
  local pid_file
  for pid_file in "$1"/run/*.pid; do
    [[ -f $pid_file ]] && ours "$(cat "$pid_file")" "$1" && return 0
  done
  return 1
}
failed_up() {
  local status=$?
  rm -rf "$STATE.logs" && cp -r "$L" "$STATE.logs" 2>/dev/null || true
  say "up failed (exit $status): tearing down what it started; its logs are kept in $STATE.logs"
  down
  exit "$status"
}
node_ready() {
  [[ $("$1" get node $NODE_NAME -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}') == True ]]
}
default_token() { [[ -n $("$1" get serviceaccount default -o 'jsonpath={.secrets}') ]]; }

print_env() {
  local bin=${KUBE_APISERVER_CACHE:-$HOME/.cache/kube-apiserver-1.20-r2}/bin
  echo "export KUBECONFIG=$KUBECONFIG"
  echo "export PATH=$bin:\$PATH   # kubectl v1.20.2"
  echo "# registry: http://$REGISTRY (plain HTTP; pods and the node pull from it)"
}

stop() { # NAME: SIGTERM by PID, up to 15 s, then SIGKILL
  alive "$1" || { rm -f "$R/$1.pid"; return 0; }
  local pid; pid=$(cat "$R/$1.pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 150); do gone "$pid" && break; sleep 0.1; done
  gone "$pid" || { kill -9 "$pid" 2>/dev/null || true; say "$1 needed SIGKILL"; }
  rm -f "$R/$1.pid"
}

remove_workloads() { # while the API server and kubelet run: the kubelet then tears pods down properly
  local kubectl=$1 ctr=(ctr -a "$SOCK" -n k8s.io)
  "$kubectl" delete validatingwebhookconfigurations,mutatingwebhookconfigurations --all >/dev/null 2>&1 || true
  stop kube-controller-manager  # nothing recreates the pods deleted next
  "$kubectl" delete pods --all --all-namespaces --grace-period=0 --force --wait=false >/dev/null 2>&1 || true
  for _ in $(seq 300); do
    [[ -z $("${ctr[@]}" tasks ls -q 2>/dev/null) && -z $("$kubectl" get pods -A -o name 2>/dev/null) ]] && break
    sleep 0.2
  done
  say "pods removed"
}

down() {
  local bin=${KUBE_APISERVER_CACHE:-$HOME/.cache/kube-apiserver-1.20-r2}/bin ctr=(ctr -a "$SOCK" -n k8s.io)
  local holder; holder=$(cat "$OWNER/state" 2>/dev/null || true)
  if [[ -n $holder && $holder != "$STATE" ]] && holder_alive "$holder"; then
    say "the cluster of $holder holds this machine, not $STATE: nothing touched (SIGWEBHOOK_CLUSTER_DIR?)"
    return 0
  fi
  if [[ ! -d $R ]]; then
    release_machine
    say "nothing to stop in $STATE"
    return 0
  fi
  if alive kubelet && alive containerd && "$bin/kubectl" get --raw /readyz >/dev/null 2>&1; then
    remove_workloads "$bin/kubectl"
  fi
  stop kube-proxy
  [[ -x $bin/kube-proxy ]] && "$bin/kube-proxy" --cleanup >/dev/null 2>&1 || true
  stop kubelet
  if alive containerd; then # whatever is left (a crashed kubelet): kill tasks, remove containers
    for task in $("${ctr[@]}" tasks ls -q 2>/dev/null); do "${ctr[@]}" tasks kill -s SIGKILL "$task" || true; done
    sleep 0.5
    for task in $("${ctr[@]}" tasks ls -q 2>/dev/null); do "${ctr[@]}" tasks rm -f "$task" >/dev/null || true; done
    for c in $("${ctr[@]}" containers ls -q 2>/dev/null); do "${ctr[@]}" containers rm "$c" >/dev/null 2>&1 || true; done
  fi
  stop containerd
  # shims that outlived containerd are started with "-address $SOCK": only ours match
  for pid in $(pgrep -f -- "containerd-shim-runc-v2 .*-address $SOCK" || true); do kill -9 "$pid" || true; done
  for name in dns kube-scheduler kube-controller-manager kube-apiserver etcd registry; do stop "$name"; done
  say "processes stopped"
  # mounts under the state directory (overlay root file systems, shm, netns, secret tmpfs), deepest first
  for _ in 1 2 3; do
    local mounts; mounts=$(awk -v s="$STATE/" 'index($2, s) == 1 {print $2}' /proc/self/mounts | sort -r)
    [[ -z $mounts ]] && break
    for m in $mounts; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
  done
  ip link show cni0 >/dev/null 2>&1 && ip link del cni0
  for veth in $(ip -o link show type veth 2>/dev/null | awk -F'[:@ ]+' '/master cni0/ {print $2}'); do
    ip link del "$veth" 2>/dev/null || true
  done
  ip addr del "$NODE_IP/32" dev lo 2>/dev/null || true
  # iptables rules of the kubelet (KUBE-FIREWALL, KUBE-MARK-*), kube-proxy and the CNI plugins
  for save in iptables ip6tables; do
    if "$save-save" 2>/dev/null | grep -qE 'KUBE-|CNI-'; then
      "$save-save" | grep -vE 'KUBE-|CNI-' | "${save/tables/tables-restore}"
    fi
  done
  # nft tables that iptables-nft created for them, now empty, and absent before `up`
  nft list tables 2>/dev/null | while read -r _ family name; do
    grep -qx "table $family $name" "$B/nft-tables" 2>/dev/null && continue
    nft -j list table "$family" "$name" | grep -q '"rule"' || nft delete table "$family" "$name" || true
  done
  [[ -f $B/sysctl.conf ]] && sysctl -q -p "$B/sysctl.conf" >/dev/null
  # cgroups of the kubelet's cgroupfs driver, deepest first
  for dir in /sys/fs/cgroup/*/kubepods; do
    grep -qx "$dir" "$B/cgroups" 2>/dev/null && continue
    [[ -d $dir ]] && find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
  for path in "${HOST_PATHS[@]}"; do
    grep -qx "$path" "$B/paths" 2>/dev/null || rm -rf "$path"
  done
  release_machine
  rm -rf "${STATE:?}"
  say "down; the machine is as it was before up"
}

[[ $(id -u) == 0 ]] || die "needs root (mounts, iptables, the node address)"
case ${1:-} in
  up) up ;;
  down) down ;;
  env) print_env ;;
  *) die "usage: scripts/cluster.sh up|down|env   (state: \$SIGWEBHOOK_CLUSTER_DIR, default $STATE)" ;;
esac
