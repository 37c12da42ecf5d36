#!/bin/sh
# Generates the Python messages for offload's contract into examples/python/gen/
# (or into the folder given as the first argument). Needs protoc and Debian's
# libprotobuf-dev, which supplies google/protobuf/struct.proto in /usr/include.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$here/gen}
mkdir -p "$out"
protoc -I "$root/proto" -I /usr/include --python_out="$out" "$root/proto/offload/v1/compute.proto"
echo "generated $out/offload/v1/compute_pb2.py"
