#!/usr/bin/env bash
# kcat (Debian package) is the independent Kafka client the tests use to check the
# wire contract from outside the project. Installed with apt when missing.
set -euo pipefail
command -v kcat >/dev/null && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "kcat is missing: run 'sudo apt-get install -y kcat' (the integration tests use it)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq kcat >/dev/null
command -v kcat >/dev/null
