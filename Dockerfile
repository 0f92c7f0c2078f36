# evomics container image (docs/install.md).
#
#   docker build -t evomics:0.1.0 .                    # or: podman build -t evomics:0.1.0 .
#   docker run --rm -v "$PWD:/data" evomics:0.1.0 demo -o demo-out
#
# A second target adds Snakemake and its S3 storage plugin, for the pods of the Kubernetes
# profile (workflows/snakemake/profiles/kubernetes):
#
#   docker build --target snakemake -t evomics-snakemake:0.1.0 .

# Build stage: the toolchain pinned at or above the workspace's rust-version (Cargo.toml).
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# The binary's allocator, jemalloc (tikv-jemalloc-sys), builds with make, which the slim image
# lacks; .cargo/config.toml holds jemalloc's compiled-in options.
RUN apt-get update \
    && apt-get install -y --no-install-recommends make=4.3-4.1 \
    && rm -rf /var/lib/apt/lists/*
COPY .cargo .cargo
COPY Cargo.toml Cargo.lock ./
COPY crates crates
# read at compile time: workflows/demo.toml (the demo's run config), docs/cli.md (a unit test)
COPY docs docs
COPY workflows workflows
RUN cargo build --locked --release -p evomics-cli \
    && install -D -m 0755 target/release/evomics /out/evomics

# Snakemake for the Kubernetes executor's pods: they run the jobs with `snakemake` and fetch and
# upload files through the S3 storage plugin; evomics is on PATH beside it.
FROM python:3.11-slim-bookworm AS snakemake
RUN pip install --no-cache-dir "snakemake==9.27.1" "snakemake-storage-plugin-s3==0.3.6"
COPY --from=build /out/evomics /usr/local/bin/evomics
RUN evomics --version

# Runtime image (the default target): the binary alone on Debian 12, run as a non-root user.
FROM debian:bookworm-slim AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="evomics" \
      org.opencontainers.image.description="Multi-omics analysis of extracellular-vesicle cargo: ingest, QC, normalize, diff, explore, cluster, potency models, HTML report." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0"
COPY --from=build /out/evomics /usr/local/bin/evomics
RUN useradd --create-home --home-dir /home/evomics --shell /bin/bash --uid 10001 --user-group evomics \
    && mkdir -p /data && chown evomics:evomics /data \
    && evomics --version
USER 10001:10001
WORKDIR /data
ENTRYPOINT ["evomics"]
CMD ["--help"]
