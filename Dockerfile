# syntax=docker/dockerfile:1
# The SageMaker operator's image: docker build -t sagemaker-operator:0.1.0 .
#
# Two stages: the first builds the wheel and installs it with its dependencies (all prebuilt wheels,
# so no compiler anywhere) into a virtualenv; the second copies only that virtualenv onto a clean slim
# Python. It runs as a numeric non-root user (so Kubernetes' runAsNonRoot can verify it) and writes
# nothing outside /tmp, so it works with readOnlyRootFilesystem (the manifests mount /tmp as emptyDir).
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml README.md ./
COPY sagemaker_operator ./sagemaker_operator
# Dependencies must come as wheels (--only-binary): if one ever needs compiling, the build fails here
# instead of quietly pulling a compiler into the image. Bytecode is compiled now, while writable.
RUN pip wheel --no-deps --wheel-dir /wheels . \
 && /opt/venv/bin/pip install --only-binary=:all: /wheels/*.whl \
 && /opt/venv/bin/python -m compileall -q /opt/venv/lib

FROM ${PYTHON_IMAGE}
ARG UID=65532
# A named user for the numeric id: Python's getpass (kopf's peer identity) looks the user up.
RUN groupadd --system --gid ${UID} operator \
 && useradd --system --uid ${UID} --gid ${UID} --no-create-home --home-dir /tmp --shell /usr/sbin/nologin operator
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    SAGEMAKER_OPERATOR_LIVENESS_PORT=8080
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["sagemaker-operator", "run"]
