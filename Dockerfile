# One image for the five services: `docker run kgo serve <service>`.
# Stage 1 installs the locked dependencies (uv.lock, no dev group) into a virtual
# environment, then the project itself; stage 2 copies only that environment into a slim
# Python image and runs it as an unprivileged user. The root filesystem can be read-only:
# everything the process writes goes to $KGO_HOME (a volume) and /tmp.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# The same uv as scripts/_env.sh.
RUN pip install --no-cache-dir uv==0.13.8
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/kgo
WORKDIR /src
# Dependencies first: this layer is rebuilt only when the lock file changes.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY schemas ./schemas
COPY kgo_runtime ./kgo_runtime
COPY kgo_cli ./kgo_cli
COPY services ./services
RUN uv sync --frozen --no-dev --no-editable

FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 kgo \
 && useradd --system --uid 10001 --gid kgo --home-dir /var/lib/kgo --shell /usr/sbin/nologin kgo \
 && install -d -o kgo -g kgo -m 0750 /var/lib/kgo
COPY --from=build /opt/kgo /opt/kgo
COPY deploy/docker/entrypoint.sh /usr/local/bin/kgo-entrypoint
ENV PATH=/opt/kgo/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    KGO_HOME=/var/lib/kgo \
    KGO_PROFILE=production
USER 10001:10001
WORKDIR /var/lib/kgo
EXPOSE 8101 8102 8103 8104 8105
ENTRYPOINT ["/usr/local/bin/kgo-entrypoint"]
CMD ["serve", "wallet"]
