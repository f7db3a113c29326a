# flowlab: one image for every lab process (docker-compose.yml runs one container per service).
#   docker build -t flowlab:latest .        docker run --rm flowlab:latest --help
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The build context is only what the image needs (an allow-list, see .dockerignore).
WORKDIR /src

# 1. The dependencies in their own layer, read from pyproject.toml alone: editing the code does
#    not reinstall pandas, pyarrow or matplotlib (this layer changes only with pyproject.toml).
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# 2. The project itself, without touching the dependencies installed above.
COPY protocol ./protocol
COPY config ./config
COPY services ./services
COPY orchestration ./orchestration
COPY flowlab ./flowlab
RUN pip install --no-deps . \
    && cd / \
    && rm -rf /src \
    && useradd --system --uid 10001 --create-home flowlab \
    && mkdir -p /run/flowlab \
    && chown flowlab /run/flowlab

# The example scenarios: `flowlab compare --scenario /opt/flowlab/scenarios/NAME.toml`.
COPY scenarios /opt/flowlab/scenarios

# Readiness: `flowlab service` writes this file once its service runs and refreshes it with
# every heartbeat (0.5 s); `flowlab ready` is healthy while it is under 5 s old.
ENV FLOWLAB_READY_FILE=/tmp/flowlab.ready
HEALTHCHECK --interval=5s --timeout=5s --start-period=60s --retries=3 CMD ["flowlab", "ready"]

# /run/flowlab is the run directory (the recorder's tape); compose mounts a named volume there,
# which takes this directory's owner, and the run config read-only at /etc/flowlab/config.toml.
WORKDIR /run/flowlab
USER flowlab

ENTRYPOINT ["flowlab"]
CMD ["--help"]
