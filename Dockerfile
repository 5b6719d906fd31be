# sigwebhook container image: `sigwebhook serve` on 8443 as a non-root user.
#
# Two stages on the same base, pinned by digest (a tag can move, a digest cannot):
#   builder - builds the sigwebhook wheel and installs it with its dependencies, at the versions
#             pinned in constraints/runtime.txt (the ones CI tests), into /opt/venv
#   final   - the base plus /opt/venv; pip, setuptools, ensurepip and the Debian package tools removed,
#             no compiler (the slim base has none), runs as 65532:65532.
# Base: python 3.11.10 slim on Debian bookworm (multi-arch index digest), e.g. bumped with Renovate's
# docker digest pinning. BASE_IMAGE selects another base with Python 3.11 on Debian bookworm: CI, which
# cannot pull from Docker Hub, builds one from Debian packages (python3, python3-venv) with mmdebstrap
# (scripts/build-image.sh). Both stages use it, so the venv's interpreter is the final stage's.
# Build: docker build -t ghcr.io/sigwebhook/sigwebhook:0.1.0 .   (see docs/install.md)
#   or without Docker: bash scripts/build-image.sh (buildah, chroot isolation)
# checkov:skip=CKV_DOCKER_7:the base is the BASE_IMAGE argument, whose default is pinned by tag and digest; checkov does not expand arguments
ARG BASE_IMAGE=python:3.11.10-slim-bookworm@sha256:5148c0e4bbb64271bca1d3322360ebf4bfb7564507ae32dd639322e4952a6b16

FROM ${BASE_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY constraints/runtime.txt ./constraints/runtime.txt
COPY app ./app

# A venv first (its pip builds and installs: the base needs no pip of its own), then the wheel
# (what is published), then only it and its dependencies into the venv. The venv's own pip goes once
# the install is done: the final stage gets no package manager.
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/python -m pip wheel --no-deps --wheel-dir /wheels . \
 && /opt/venv/bin/python -m pip install -c constraints/runtime.txt /wheels/sigwebhook-*.whl \
 && /opt/venv/bin/python -m pip uninstall --yes pip setuptools \
 && find /opt/venv -name '__pycache__' -prune -exec rm -rf {} +


FROM ${BASE_IMAGE}

LABEL org.opencontainers.image.title="sigwebhook" \
      org.opencontainers.image.description="Admission webhook that admits only cosign-signed images" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/sigwebhook/sigwebhook"

# No package managers in the running image: the base's pip/setuptools/wheel (when it has them),
# ensurepip and the wheels it installs from, and Debian's apt/dpkg tooling are removed (the webhook
# never installs anything at run time).
RUN if python3 -m pip --version >/dev/null 2>&1; then python3 -m pip uninstall --yes pip setuptools wheel; fi \
 && rm -rf /usr/bin/apt* /usr/bin/dpkg* /usr/lib/apt /var/lib/apt /var/cache/apt /etc/apt \
           /var/lib/dpkg/info /root/.cache /usr/local/lib/python3.11/ensurepip \
           /usr/lib/python3.11/ensurepip /usr/share/python-wheels

COPY --from=builder /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

# Numeric, so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 65532:65532
WORKDIR /tmp

EXPOSE 8443
# Prometheus /metrics (plain HTTP, only when the config's metrics.enabled; the chart's default port)
EXPOSE 9090

# Kubernetes uses the chart's probes; this is for `docker run`. The server's own self-signed or
# mounted certificate is not in any trust store, hence no verification on the loopback call.
HEALTHCHECK --interval=30s --timeout=5s --retries=3 \
  CMD ["python3", "-c", "import ssl, urllib.request; urllib.request.urlopen('https://127.0.0.1:8443/healthz', timeout=3, context=ssl._create_unverified_context())"]

ENTRYPOINT ["sigwebhook", "serve"]
CMD ["--config", "/etc/sigwebhook/config/config.yaml"]
