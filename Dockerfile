# syntax=docker/dockerfile:1
# Three stages: a base with Python, a build stage where uv installs the locked dependencies (then
# the project), and a slim runtime that runs as a non-root user.

FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1

FROM base AS build
COPY --from=ghcr.io/astral-sh/uv:0.9 /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
WORKDIR /app
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project
COPY README.md alembic.ini ./
COPY app ./app
COPY migrations ./migrations
RUN uv sync --frozen --no-dev

FROM base AS runtime
RUN groupadd --system recon && useradd --system --gid recon --home-dir /app recon \
    && mkdir -p /data && chown recon:recon /data
WORKDIR /app
COPY --from=build --chown=recon:recon /app /app
ENV PATH="/app/.venv/bin:$PATH" \
    DATABASE_URL="sqlite+aiosqlite:////data/recon.db" \
    RECON_HOST=0.0.0.0 RECON_PORT=8000
USER recon
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=4)" || exit 1
CMD ["recon", "serve"]
