# flowlab: one image for every lab process (docker-compose.yml runs one container per service).
#   docker build -t flowlab:latest .        docker run --rm flowlab:latest --help
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The build context is only what `pip install .` needs (see .dockerignore).
COPY . /src
RUN cd /src \
    && pip install . \
    && cd / \
    && rm -rf /src \
    && useradd --system --uid 10001 --create-home flowlab \
    && mkdir -p /run/flowlab \
    && chown flowlab /run/flowlab

# /run/flowlab is the run directory (the recorder's tape); compose mounts a named volume there,
# which takes this directory's owner, and the run config read-only at /etc/flowlab/config.toml.
WORKDIR /run/flowlab
USER flowlab

ENTRYPOINT ["flowlab"]
CMD ["--help"]
