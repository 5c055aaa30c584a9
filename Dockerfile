# TensorWeaver Lab, CPU image: the engine on NumPy, JupyterLab, the labs and the test suite.
#
#   make build                       # docker build -t tensorweaver-lab:cpu .
#   make build BASE_IMAGE=local/bookworm-python:3.11   # no registry: see docker/base/
#
# Dockerfile.gpu builds FROM this image and adds only the backend layer (docker-stacks'
# chain). Layers go from the least to the most often changed: system, Python packages
# (hash-locked), configuration, then the code. Written for the classic builder and BuildKit.

# Any Debian/Ubuntu image with Python 3.11, `python`/`pip` on PATH and apt.
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

# A failing command anywhere in a pipe fails the step.
SHELL ["/bin/bash", "-o", "pipefail", "-c"]

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    NB_USER=jovyan \
    NB_UID=1000 \
    NB_GID=100 \
    HOME=/home/jovyan

# tini as PID 1: forwards signals (docker stop) and reaps the kernels' child processes.
# make: the image carries the repository's Makefile, and some tests drive it.
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends tini make >/dev/null \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/*

# jovyan (uid 1000, group 100 "users"), as in the Jupyter docker-stacks. The home is
# group-writable (setgid), so a container run as any uid in group 100 (`make lab` uses the
# host user's uid) can write there too.
RUN useradd --no-log-init --create-home --uid "${NB_UID}" --gid "${NB_GID}" --shell /bin/bash "${NB_USER}" \
 && mkdir -p /home/jovyan/work \
 && chown -R "${NB_UID}:${NB_GID}" /home/jovyan \
 && chmod -R g+rwX /home/jovyan \
 && find /home/jovyan -type d -exec chmod g+s {} +

# Python packages: exact versions with hashes, nothing resolved at build time (--no-deps;
# `pip check` proves the lock is complete). Three things keep the image small: the libraries'
# own test suites and test data (scipy, numpy, scikit-learn, onnx...: about 100 MB) are
# removed, never run here; pip writes no bytecode for itself; and bytecode is precompiled
# only for what a lab session runs (docker/precompile.py).
# A PyPI mirror, for sites that cannot reach PyPI (make passes these when they are set;
# the hashes still pin every file, whichever server sends it).
ARG PIP_INDEX_URL
ARG PIP_TRUSTED_HOST
COPY docker/requirements/cpu.txt docker/precompile.py /opt/tensorweaver/
RUN export PYTHONDONTWRITEBYTECODE=1 \
 && python -m pip install --quiet --require-hashes --no-deps --no-compile -r /opt/tensorweaver/cpu.txt \
 && python -m pip check \
 && site_packages=$(python -c 'import sysconfig; print(sysconfig.get_path("purelib"))') \
 && find "$site_packages" -depth -type d -name tests -exec rm -rf {} + \
 && rm -rf "$site_packages/onnx/backend/test/data" "$site_packages/nbgrader/docs" \
 && unset PYTHONDONTWRITEBYTECODE \
 && python /opt/tensorweaver/precompile.py

# --- backend layer: the CPU image uses NumPy (the default TENSORWEAVER_BACKEND). -------------
ENV TENSORWEAVER_BACKEND=numpy

# The student's workspace is fed from the release this image carries (see below).
ENV TENSORWEAVER_RELEASE=/opt/tensorweaver/release

# Jupyter server configuration, entry point and health check.
COPY docker/jupyter_server_config.py /etc/jupyter/jupyter_server_config.py
COPY docker/entrypoint.sh /usr/local/bin/tensorweaver-entrypoint
COPY docker/healthcheck.py /usr/local/bin/tensorweaver-healthcheck
# The workspace sync the entry point runs at each start (standard library only).
COPY tensorweaver/labs/workspace.py /opt/tensorweaver/workspace.py

# The code: the engine (installed into the image), then the rest of the checkout that the
# tests and labs use. The work dir is the repository (what .dockerignore lets in): the engine's
# source sits next to the labs, to be read and stepped through.
WORKDIR /home/jovyan/work
COPY --chown=1000:100 pyproject.toml README.md ./
COPY --chown=1000:100 tensorweaver/ tensorweaver/
# (PYTHONDONTWRITEBYTECODE: no bytecode for the build tools; pip still compiles the engine.)
RUN PYTHONDONTWRITEBYTECODE=1 python -m pip install --quiet --no-deps --no-build-isolation --no-index . \
 && rm -rf build tensorweaver.egg-info
COPY --chown=1000:100 Makefile ./
COPY --chown=1000:100 docker/ docker/
COPY --chown=1000:100 bench/ bench/
COPY --chown=1000:100 tests/ tests/
COPY --chown=1000:100 labs/ labs/
# The release: the labs' student versions, made by nbgrader generate_assignment. `make lab`
# copies them into the student's workspace, `make release` out of the image. (A throwaway
# HOME: nbgrader and Jupyter write caches there; no bytecode: nbgrader is not precompiled.)
RUN HOME=/tmp/release-home TENSORWEAVER_BACKEND=numpy PYTHONDONTWRITEBYTECODE=1 \
    python -m tensorweaver.labs release labs --out "$TENSORWEAVER_RELEASE" >/dev/null \
 && rm -rf /tmp/release-home

USER 1000:100
EXPOSE 8888
ENTRYPOINT ["tini", "-g", "--", "tensorweaver-entrypoint"]
CMD ["jupyter", "lab"]
HEALTHCHECK --interval=3s --timeout=3s --start-period=60s --retries=3 \
    CMD ["tensorweaver-healthcheck"]

# Last, so a new commit only changes this metadata, not a cached layer.
ARG BASE_IMAGE
ARG VERSION=unknown
ARG REVISION=unknown
ARG CREATED=1970-01-01T00:00:00Z
# Seconds since the epoch of the last commit (`make build` sets it and CREATED from it);
# BuildKit also uses it to clamp file timestamps, for reproducible images.
ARG SOURCE_DATE_EPOCH
LABEL org.opencontainers.image.title="TensorWeaver Lab (CPU)" \
      org.opencontainers.image.description="Autodiff engine on NumPy, JupyterLab, labs and tests" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${BASE_IMAGE}"
