#!/usr/bin/env bash
# Generates everything derived from the .proto files into OUT/src/gen
# (default: this checkout): TypeScript for offload.v1 with ts-proto, and the
# FileDescriptorSet that server reflection serves. The set covers offload's
# contract, google/protobuf/struct.proto, grpc.health.v1 and
# grpc.reflection.v1/v1alpha, whose .proto files come from the
# grpc-health-check and @grpc/reflection packages.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-.}

npx buf generate --output "$out"

staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
# Health's file under its canonical name, as tools and other servers know it.
mkdir -p "$staging/health/grpc/health/v1"
cp node_modules/grpc-health-check/proto/health/v1/health.proto "$staging/health/grpc/health/v1/"
reflection=node_modules/@grpc/reflection/build/proto
npx buf build proto --as-file-descriptor-set --exclude-source-info -o "$staging/contract.binpb"
npx buf build "$staging/health" --as-file-descriptor-set --exclude-source-info -o "$staging/health.binpb"
npx buf build "$reflection" --path "$reflection/grpc/reflection" --as-file-descriptor-set --exclude-source-info -o "$staging/reflection.binpb"
# A FileDescriptorSet is one repeated field, so sets concatenate into a set.
cat "$staging/contract.binpb" "$staging/health.binpb" "$staging/reflection.binpb" > "$out/src/gen/descriptor-set.binpb"
