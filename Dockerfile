# The worker image of docker-compose.yml: streamproc and its dependencies, nothing else.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY streamproc streamproc
COPY agents agents
COPY models models
COPY tables tables
RUN pip install --no-cache-dir .
EXPOSE 6066
CMD ["streamproc", "worker"]
