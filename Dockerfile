# The Mage image with this project's requirements. The repo itself is mounted at run time
# (docker-compose.yml), so edits in the UI land in your checkout.
FROM mageai/mageai:0.9.80

ARG PROJECT_NAME=nyc_taxi_mage
ARG USER_CODE_PATH=/home/src/${PROJECT_NAME}
WORKDIR /home/src

# Note the slash: the course starter's `${USER_CODE_PATH}requirements.txt` silently copies
# to the wrong path and installs nothing.
COPY requirements.txt ${USER_CODE_PATH}/requirements.txt
RUN pip3 install --no-cache-dir -r ${USER_CODE_PATH}/requirements.txt

# Blocks import shared code as `from utils.<module> import ...`.
ENV PYTHONPATH=${USER_CODE_PATH} \
    USER_CODE_PATH=${USER_CODE_PATH} \
    MAGE_DATA_DIR=/home/src/mage_data
