#!/usr/bin/env bash
# Checks of deploy/ with the tools that read those files, one per ctest test
# (tests/deploy/CMakeLists.txt):
#
#   deploy_checks.sh CHECK SOURCE_DIR BIN_DIR
#
# Exit 0: passed; 77: the tool is missing (ctest reports the test skipped,
# with the reason on stderr; scripts/deps.sh --test installs them all);
# anything else: failed.
set -euo pipefail
check=$1
src=$2
bin=$3
deploy=${src}/deploy

need() {
  if ! command -v "$1" > /dev/null; then
    echo "SKIP: $1 not installed (Debian package $2; scripts/deps.sh --test installs it)" >&2
    exit 77
  fi
}
python_yaml() {
  need /usr/bin/python3 python3
  if ! /usr/bin/python3 -c 'import yaml' 2> /dev/null; then
    echo "SKIP: python3-yaml not installed (comes with yamllint)" >&2
    exit 77
  fi
}

case "${check}" in
  alerts_check)
    need promtool prometheus
    promtool check rules "${deploy}/prometheus/alerts.yml"
    ;;
  alerts_unit_test)
    need promtool prometheus
    # Positive control: a rule file whose threshold moved must fail the
    # same unit test (the test really looks at the alerts).
    tmp=$(mktemp -d)
    trap 'rm -rf "${tmp}"' EXIT
    cp "${deploy}/prometheus/alerts.yml" "${deploy}/prometheus/alerts_test.yml" "${tmp}/"
    sed -i 's/process_max_fds{job="overlapd"} > 0.9$/process_max_fds{job="overlapd"} > 0.99/' \
      "${tmp}/alerts.yml"
    if promtool test rules "${tmp}/alerts_test.yml" > /dev/null 2>&1; then
      echo "FAIL: the unit test passes with a broken rule" >&2
      exit 1
    fi
    promtool test rules "${deploy}/prometheus/alerts_test.yml"
    ;;
  prometheus_config)
    need promtool prometheus
    promtool check config "${deploy}/prometheus/prometheus.yml"
    ;;
  prometheusrule_in_sync)
    python_yaml
    /usr/bin/python3 - "${deploy}" <<'PY'
import sys, yaml
d = sys.argv[1]
rules = yaml.safe_load(open(d + "/prometheus/alerts.yml"))
crd = yaml.safe_load(open(d + "/k8s/prometheusrule.yaml"))
if crd["kind"] != "PrometheusRule" or crd["spec"]["groups"] != rules["groups"]:
    sys.exit("FAIL: deploy/k8s/prometheusrule.yaml differs from deploy/prometheus/alerts.yml")
print("prometheusrule.yaml carries the", len(rules["groups"][0]["rules"]), "rules of alerts.yml")
PY
    ;;
  yamllint)
    need yamllint yamllint
    yamllint -s -c "${deploy}/yamllint.yaml" "${deploy}"
    echo "yamllint: $(find "${deploy}" -name '*.y*ml' | wc -l) files clean"
    ;;
  seccomp_profile)
    need /usr/bin/python3 python3
    /usr/bin/python3 - "${deploy}/seccomp/overlapd.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))  # parses as JSON, or fails here
assert p["defaultAction"] == "SCMP_ACT_ERRNO", "the default must refuse"
allowed = {n for r in p["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" and not r.get("args")
           for n in r["names"]}
for name in ("io_uring_setup", "io_uring_enter", "io_uring_register"):
    assert name in allowed, name + " is not allowed"
# What a container must not do, whatever overlapd needs.
for name in ("mount", "umount2", "ptrace", "bpf", "kexec_load", "init_module", "keyctl",
             "add_key", "unshare", "setns", "pivot_root", "perf_event_open", "open_by_handle_at",
             "userfaultfd", "process_vm_writev", "clone3", "reboot", "swapon", "settimeofday"):
    assert name not in allowed, name + " must not be allowed"
clone = [r for r in p["syscalls"] if "clone" in r["names"]]
assert clone and all(r.get("args") for r in clone), "clone only without namespace flags"
print("seccomp profile: %d syscalls allowed, io_uring among them" % len(allowed))
PY
    ;;
  systemd_verify)
    need systemd-analyze systemd
    tmp=$(mktemp -d)
    trap 'rm -rf "${tmp}"' EXIT
    # The unit, and the unit with the credentials drop-in, with ExecStart
    # pointed at the binary just built. verify exits 0 on warnings (an
    # unknown key, a bad value): any output fails the check too.
    verify() {
      local out
      out=$(cd "${tmp}" && SYSTEMD_LOG_COLOR=0 systemd-analyze verify "${tmp}/overlapd.service" 2>&1) || {
        echo "${out}" >&2
        return 1
      }
      if [[ -n "${out}" ]]; then
        echo "${out}" >&2
        return 1
      fi
    }
    sed "s#/usr/local/bin/overlapd#${bin}/overlapd#" "${deploy}/systemd/overlapd.service" > "${tmp}/overlapd.service"
    verify
    echo "overlapd.service: verified"
    mkdir "${tmp}/overlapd.service.d"
    sed "s#/usr/local/bin/overlapd#${bin}/overlapd#" "${deploy}/systemd/overlapd.service.d/credentials.conf" \
      > "${tmp}/overlapd.service.d/credentials.conf"
    verify
    echo "overlapd.service + credentials.conf: verified"
    # Positive control: a misspelt key is noticed.
    sed -i 's/^Type=notify/Tpye=notify/' "${tmp}/overlapd.service"
    if verify 2> /dev/null; then
      echo "FAIL: systemd-analyze verify took a misspelt key" >&2
      exit 1
    fi
    ;;
  placement_maps)
    # The map of the k8s ConfigMap names the StatefulSet's pods at their
    # per-pod DNS names, the compose map names the compose nodes at their
    # published ports, and overlapd itself accepts both.
    python_yaml
    tmp=$(mktemp -d)
    trap 'rm -rf "${tmp}"' EXIT
    /usr/bin/python3 - "${deploy}" "${tmp}" <<'PY'
import json, sys, yaml
d, tmp = sys.argv[1], sys.argv[2]
sts = yaml.safe_load(open(d + "/k8s/statefulset.yaml"))
cm = yaml.safe_load(open(d + "/k8s/placement.yaml"))
k8s = json.loads(cm["data"]["placement.json"])
name, svc, replicas = sts["metadata"]["name"], sts["spec"]["serviceName"], sts["spec"]["replicas"]
want = [(f"{name}-{i}", f"{name}-{i}.{svc}:50051") for i in range(replicas)]
got = [(n["name"], n["address"]) for n in k8s["nodes"]]
assert got == want, f"k8s map nodes {got}, want the StatefulSet's pods {want}"
pod = sts["spec"]["template"]["spec"]
args = pod["containers"][0]["args"]
assert "--node=$(POD_NAME)" in args, "the pods must say --node=$(POD_NAME)"
mount = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "placement"][0]
assert f"--placement={mount['mountPath']}/placement.json" in args, "--placement is not the mounted map"
assert [v for v in pod["volumes"] if v["name"] == "placement"][0]["configMap"]["name"] == cm["metadata"]["name"]
compose = yaml.safe_load(open(d + "/docker/compose-cluster.yaml"))
local = json.load(open(d + "/docker/placement.json"))
for service in compose["services"].values():
    node = service["command"][service["command"].index("--node") + 1]
    entry = [n for n in local["nodes"] if n["name"] == node][0]
    port = entry["address"].rsplit(":", 1)[1]
    assert any(p.startswith(f"127.0.0.1:{port}:") for p in service["ports"]), f"node {node}: {port} not published"
open(tmp + "/k8s.json", "w").write(cm["data"]["placement.json"])
print("placement maps: k8s", len(got), "pods, compose", len(compose["services"]), "nodes")
PY
    # overlapd accepts both maps (it logs the version and exits on SIGTERM).
    for pair in "${tmp}/k8s.json overlapd-0" "${deploy}/docker/placement.json a"; do
      read -r map node <<< "${pair}"
      "${bin}/overlapd" --root "${tmp}/root" --listen 127.0.0.1:0 --metrics-listen '' \
        --placement "${map}" --node "${node}" > "${tmp}/log" 2>&1 &
      pid=$!
      for _ in $(seq 100); do grep -q "overlapd ready" "${tmp}/log" && break; sleep 0.1; done
      kill -TERM "${pid}" 2> /dev/null || true
      wait "${pid}" || true
      grep -q "placement map version 1: this node ${node} owns" "${tmp}/log" || {
        echo "FAIL: overlapd refused ${map} as node ${node}:" >&2
        cat "${tmp}/log" >&2
        exit 1
      }
    done
    echo "overlapd loads both maps"
    ;;
  *)
    echo "deploy_checks.sh: unknown check ${check}" >&2
    exit 2
    ;;
esac
