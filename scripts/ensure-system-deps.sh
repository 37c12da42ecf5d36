#!/usr/bin/env bash
# Installs the Debian packages the test suite needs when they are missing:
# Python's grpcio and protobuf plus protoc for the polyglot client test, Go
# with Debian's grpc-go, protobuf-go and their protoc plugins for the Go
# example's test (built offline in GOPATH mode, hence Debian's Go sources),
# nginx for the load-balancer test (test/deploy/), which runs /usr/sbin/nginx,
# and Chromium for the dashboard's browser test (test/dashboard/).
set -euo pipefail

missing=()
/usr/bin/python3 -c 'import grpc, google.protobuf' 2>/dev/null || missing+=(python3-grpcio python3-protobuf)
command -v protoc >/dev/null 2>&1 && [ -f /usr/include/google/protobuf/struct.proto ] || missing+=(protobuf-compiler libprotobuf-dev)
[ -x /usr/sbin/nginx ] || missing+=(nginx)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v go >/dev/null 2>&1 || missing+=(golang-go)
[ -d /usr/share/gocode/src/google.golang.org/grpc ] || missing+=(golang-google-grpc-dev)
[ -d /usr/share/gocode/src/google.golang.org/protobuf ] || missing+=(golang-google-protobuf-dev)
# protobuf 1.5, not golang-goprotobuf-dev (1.3): grpc's codec panics on a google.protobuf.Value with 1.3.
dpkg-query -W -f '${Status}' golang-github-golang-protobuf-1-5-dev 2>/dev/null | grep -q 'ok installed' || missing+=(golang-github-golang-protobuf-1-5-dev)
command -v protoc-gen-go >/dev/null 2>&1 || missing+=(protoc-gen-go)
command -v protoc-gen-go-grpc >/dev/null 2>&1 || missing+=(protoc-gen-go-grpc)

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
