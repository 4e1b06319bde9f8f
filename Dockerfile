# The Mage image with this project's requirements. The repo itself is mounted at run time
# (docker-compose.yml), so edits in the UI land in your checkout.
FROM mageai/mageai:0.9.80

ARG PROJECT_NAME=nyc_taxi_mage
ARG USER_CODE_PATH=/home/src/${PROJECT_NAME}
# the host's pip settings, when it has its own index or a proxy that re-signs TLS (README)
ARG PIP_INDEX_URL=
ARG EXTRA_CA_CERTS=
WORKDIR /home/src

# Note the slash: the course starter's `${USER_CODE_PATH}requirements.txt` silently copies
# to the wrong path and installs nothing.
COPY requirements.txt ${USER_CODE_PATH}/requirements.txt
RUN [ -n "$PIP_INDEX_URL" ] || unset PIP_INDEX_URL; \
    if [ -n "$EXTRA_CA_CERTS" ]; then printf '%s\n' "$EXTRA_CA_CERTS" > /usr/local/share/ca-certificates/build-extra.crt \
      && update-ca-certificates >/dev/null; fi \
 && PIP_CERT=/etc/ssl/certs/ca-certificates.crt pip3 install --no-cache-dir -r ${USER_CODE_PATH}/requirements.txt \
 && rm -f /usr/local/share/ca-certificates/build-extra.crt && update-ca-certificates --fresh >/dev/null

# Blocks import shared code as `from utils.<module> import ...`; the base image's own
# PYTHONPATH (:/home/src) is kept. No .pyc files written into your checkout.
ENV PYTHONPATH=${USER_CODE_PATH}:${PYTHONPATH} \
    USER_CODE_PATH=${USER_CODE_PATH} \
    MAGE_DATA_DIR=/home/src/mage_data \
    PYTHONDONTWRITEBYTECODE=1
