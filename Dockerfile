# The minewatch services (bridge, worker, dispatcher, bureau API, one-shot admin commands) as one image.
FROM python:3.11-slim-bookworm
WORKDIR /opt/minewatch
COPY pyproject.toml README.md ./
COPY minewatch minewatch
COPY ingest ingest
COPY hj212 hj212
COPY processors processors
COPY storage storage
COPY alerts alerts
COPY api api
COPY simulators simulators
COPY schemas schemas
COPY data data
RUN apt-get update -q && apt-get install -y -q --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/* \
    && pip install --no-cache-dir -e . && python -m minewatch.native build \
    && useradd --system --home /opt/minewatch minewatch
USER minewatch
ENTRYPOINT ["minewatch"]
CMD ["--help"]
