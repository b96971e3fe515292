#!/usr/bin/env bash
# Installs every build and test dependency of Ablate from Debian 12's packages.
# Idempotent and non-interactive: packages already installed are skipped, and apt is not
# touched at all when nothing is missing.
#   deploy/install-deps.sh          build + test dependencies
#   deploy/install-deps.sh --bench  also what the benchmarks compare against (PyTorch, OpenBLAS)
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake pkg-config git ca-certificates
  # libraries
  libeigen3-dev libopenblas-dev
  libprotobuf-dev protobuf-compiler libgrpc++-dev protobuf-compiler-grpc
  libspdlog-dev libsqlite3-dev nlohmann-json3-dev libcli11-dev
  libplplot-dev plplot-driver-cairo libcairo2-dev libdeflate-dev fonts-dejavu-core  # figures
  libpng-dev  # the figure tests' PNG decoder
  libboost-dev zlib1g-dev libzip-dev libssl-dev  # Boost.Beast/Asio (header-only): HTTP
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev sqlite3 jq chromium
  libcpp-httplib-dev  # the HTTP tests' client, independent of the server's HTTP code
  openssl curl  # the TLS test makes a certificate and fetches over HTTPS
  # the Slurm driver's tests start a one-node cluster (deploy/slurm/start-one-node.sh):
  # slurmctld + slurmd, the client tools (sbatch, squeue, scontrol, scancel, sinfo), munge
  slurm-wlm slurm-client munge
  systemd       # systemd-analyze verifies the service unit
  # the libFuzzer targets (tests/fuzz/), built with clang beside the g++ build, and the
  # thread-safety analysis (tests/thread_safety/check.sh: clang++ -Wthread-safety; jq, above)
  clang-14 libclang-rt-14-dev
)
if [[ "${1:-}" == "--bench" ]]; then
  packages+=(python3-torch libopenblas0)
fi
# The web page's tooling needs Node.js and npm; a machine that already has them keeps its own.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages already installed"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
