# Dockerfile - the logdist container image (docs/DEPLOY.md, "Container").
# Stage 1 builds the shipped targets on Debian bookworm and stages `make
# install` (PREFIX=/usr) into /stage; stage 2 is bookworm-slim with only the
# run-time libraries (the Depends of the Debian package), the binaries, man
# pages and sample config, run as the non-root user logdist (uid 10001).
#
#   docker build -t logdist:local .   (podman: podman build --format docker ..., so that
#                                      the HEALTHCHECK is kept; OCI images have none)
#   docker run -p 127.0.0.1:8080:8080 -v logdist-data:/var/lib/logdist logdist:local \
#       --config /etc/logdist/logdistd.json --listen 0.0.0.0:8080 --token role=ingest+admin,hash=HASH
#   (arguments replace the whole default command below)
#
# The image listens on 0.0.0.0:8080, which logdistd refuses without a --token
# (or --insecure, for a demo on a private network: compose.yaml). The data dir
# /var/lib/logdist (WAL, dead letters, analyzers.db) is a volume. HEALTHCHECK:
# GET /health (200 ok/degraded; 503 while draining).
ARG DEBIAN_IMAGE=debian:bookworm
ARG DEBIAN_SLIM_IMAGE=debian:bookworm-slim

FROM ${DEBIAN_IMAGE} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config python3 scdoc libcmocka-dev libcurl4-openssl-dev \
      libevent-dev libhttp-parser-dev libisal-dev libjansson-dev libmsgpack-dev \
      libprotobuf-c-dev libsqlite3-dev libssl-dev libsystemd-dev protobuf-c-compiler zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
          -DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON >/dev/null \
 && cmake --build /build -j"$(nproc)" \
          --target logdistd logdistctl logdist-gen logdist-analyzer logdist-faultproxy man \
 && DESTDIR=/stage cmake --install /build \
 && strip /stage/usr/sbin/logdistd /stage/usr/bin/logdist* \
 && rm -rf /stage/lib /stage/usr/share/doc

FROM ${DEBIAN_SLIM_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates curl libcurl4 libevent-2.1-7 libevent-pthreads-2.1-7 libhttp-parser2.9 \
      libisal2 libjansson4 libmsgpackc2 libprotobuf-c1 libsqlite3-0 libssl3 libsystemd0 zlib1g \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 10001 --user-group --no-create-home --home-dir /var/lib/logdist --shell /usr/sbin/nologin logdist \
 && install -d -o logdist -g logdist -m 0700 /var/lib/logdist
COPY --from=build /stage/ /
USER logdist
WORKDIR /var/lib/logdist
VOLUME ["/var/lib/logdist"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD curl -fsS -o /dev/null http://127.0.0.1:8080/health || exit 1
ENTRYPOINT ["/usr/sbin/logdistd"]
CMD ["--config", "/etc/logdist/logdistd.json", "--listen", "0.0.0.0:8080"]
