#!/usr/bin/env bash
# conda-build script: the evomics binary from the source tree into $PREFIX/bin.
set -euxo pipefail

# Licences of the Rust dependencies compiled into the binary (Bioconda requires them).
cargo-bundle-licenses --format yaml --output THIRDPARTY.yml

cargo install --locked --no-track --root "$PREFIX" --path crates/evomics-cli
