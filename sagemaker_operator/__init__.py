"""Kubernetes operator for Amazon SageMaker."""

__version__ = "0.1.0"

GROUP = "sagemaker.aws.amazon.com"
VERSION = "v1"
API_VERSION = f"{GROUP}/{VERSION}"
