# pg-workflow service image: Python 3.11 on Debian 12 (bookworm) with psql and
# sqitch, which deploy the schema at start. It needs a DATABASE_URL: the
# PostgreSQL server (embedded mode) is left out, which keeps the image about
# 240 MB smaller. The Debian and Python packages are exactly the runtime ones
# of scripts/setup.sh (tests/test_dockerfile.py checks it).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Versions are pinned by package name (postgresql-client-15: the major version) and by
# the base image; exact Debian versions are not, because bookworm's archive
# drops superseded (e.g. security-fixed) versions and the build would break.
# hadolint ignore=DL3008
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      postgresql-client-15 sqitch libdbd-pg-perl \
 && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/*

# The service looks for sqitch.plan next to its package, so the source tree is
# installed in place (editable), as scripts/setup.sh does.
WORKDIR /opt/pg-workflow
COPY pyproject.toml README.md sqitch.conf sqitch.plan ./
COPY sql ./sql
COPY service ./service
RUN pip install -e . \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/pg-workflow --create-home pgworkflow

USER 10001:10001
ENV HOST=0.0.0.0 \
    PORT=3042 \
    SQITCH_FULLNAME=pg-workflow \
    SQITCH_EMAIL=pg-workflow@localhost
EXPOSE 3042

HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '3042') + '/status', timeout=4)"]

ENTRYPOINT ["pg-workflow"]
