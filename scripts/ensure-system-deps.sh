#!/usr/bin/env bash
# Installs the Debian packages the test suite needs when they are missing:
# Python's grpcio and protobuf plus protoc for the polyglot client test, and
# nginx for the load-balancer test (test/deploy/), which runs /usr/sbin/nginx.
set -euo pipefail

missing=()
/usr/bin/python3 -c 'import grpc, google.protobuf' 2>/dev/null || missing+=(python3-grpcio python3-protobuf)
command -v protoc >/dev/null 2>&1 && [ -f /usr/include/google/protobuf/struct.proto ] || missing+=(protobuf-compiler libprotobuf-dev)
[ -x /usr/sbin/nginx ] || missing+=(nginx)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "installing system packages: ${missing[*]}"
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "need root (or sudo) to apt-get install ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
