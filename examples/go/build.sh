#!/bin/sh
# Generates the Go code for offload's contract and builds the example client,
# offline, with Debian's Go, grpc-go and protobuf-go in GOPATH mode (Debian
# ships their sources in /usr/share/gocode; there are no modules to download).
# Output goes to examples/go/build/ or to the folder given as the first
# argument: gopath/src/offload/v1/*.pb.go and the binary offload-client.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$here/build}
mkdir -p "$out"
out=$(cd "$out" && pwd)
gopath=$out/gopath
mkdir -p "$gopath/src"
# The proto declares no go_package: both generators need the same import path
# and package name, or they disagree and the build fails.
package="Moffload/v1/compute.proto=offload/v1;offloadv1"
protoc -I "$root/proto" -I /usr/include \
  --go_out="$gopath/src" --go_opt="$package" \
  --go-grpc_out="$gopath/src" --go-grpc_opt="$package" \
  "$root/proto/offload/v1/compute.proto"
# GOCACHE is kept when set (the tests share one under the OS temp dir);
# otherwise Go's default cache keeps later builds fast.
cd "$here"
GO111MODULE=off GOPATH="$gopath:/usr/share/gocode" go build -o "$out/offload-client" .
echo "built $out/offload-client"
