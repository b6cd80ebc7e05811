# solbot in a container: the bot and its CLI, running as an unprivileged user, with everything
# it keeps (candles, reports, the sim world, the log; the SQLite file unless DATABASE_URL says
# otherwise) in the /data volume. Secrets (MASTER_ENCRYPTION_KEY, TELEGRAM_BOT_TOKEN,
# WALLET_PRIVATE_KEY) come from the environment at run time, never from the image.
#
#   docker build -t solbot .
#   docker run --rm -v solbot-data:/data solbot run          # the embedded sim, as on a laptop
#   docker compose up -d                                      # the bot + PostgreSQL (see there)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    SOLBOT_DATA_DIR=/data \
    NUMBA_CACHE_DIR=/data/.numba

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin solbot \
    && mkdir /data && chown solbot:solbot /data

WORKDIR /app
# the locked, hashed dependencies first (a layer that survives code changes), then solbot alone
COPY requirements/solbot.lock ./requirements/
RUN pip install --require-hashes -r requirements/solbot.lock
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-deps . && rm -rf /root/.cache

USER solbot
VOLUME ["/data"]
WORKDIR /data
ENTRYPOINT ["solbot"]
CMD ["run"]
