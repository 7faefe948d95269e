# The portal's image: the web process, the workers and beat run from it (docker-compose.yml).
# Dependencies and collected static files are part of the image; nothing is installed at start.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOST=0.0.0.0 \
    PORT=8000

WORKDIR /app
RUN groupadd --system portal && useradd --system --gid portal --home-dir /app portal

# Dependencies first: this layer is rebuilt only when pyproject.toml changes. The project
# itself installs no package (the code runs from /app), so pyproject.toml alone suffices.
COPY pyproject.toml ./
RUN pip install ".[prod]"

COPY . .
# Static files with content-hashed names, collected once at build time. Settings need a secret
# key to load with debug off; this throwaway one exists only during this step.
RUN DJANGO_DEBUG=0 SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
        python manage.py collectstatic --noinput --verbosity 0 \
    && mkdir -p var \
    && chown -R portal:portal var

USER portal
EXPOSE 8000
CMD ["gunicorn", "--config", "config/gunicorn.py", "config.wsgi"]
