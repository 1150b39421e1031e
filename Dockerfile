# One image for web, workers and beat. Build the GPU worker's image with
#   --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128
FROM python:3.11-slim

ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 LABELSERVER_DATA_DIR=/data

RUN apt-get update && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.txt .
RUN pip install torch==2.13.0 --index-url "$TORCH_INDEX_URL" && pip install -r requirements.txt
COPY . .
RUN DEBUG=1 python manage.py collectstatic --noinput --verbosity 0 && useradd --create-home app \
    && mkdir -p /data && chown app /data
USER app
EXPOSE 8000
CMD ["gunicorn", "labelserver.wsgi", "--bind", "0.0.0.0:8000", "--workers", "4", "--threads", "4"]
