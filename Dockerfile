# Production image: daphne serving HTTP and WebSocket on $PORT (see .dockerignore for what is left out).
FROM python:3.13-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PORT=3010

WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .
# data/media is where uploads go (MEDIA_ROOT): made here so a named volume mounted on it starts
# out owned by the app's user.
RUN useradd --system --uid 10001 chat && mkdir -p /app/data/media && chown -R chat /app
USER chat

EXPOSE 3010
# Containers are reached from outside: listen on every interface, not only loopback.
# DB_SYNC=true applies migrations at start; JWT_SECRET is required (DEBUG is off).
CMD ["python", "manage.py", "serve", "--host", "0.0.0.0"]
