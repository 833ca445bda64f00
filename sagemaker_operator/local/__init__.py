"""TensorFlow distributed training without SageMaker, from the same TrainingJob spec.

- ``spec``: ``spec.fallback`` (pydantic), the backend choice and the capacity-error policy;
- ``job``: a TrainingJob read as SageMaker's CreateTrainingJob request;
- ``contract``: SageMaker's training container contract (``/opt/ml``, config files, ``SM_*``);
- ``tfconfig``: replicas (``algo-1..N``) and TF_CONFIG for multi-worker-mirrored and parameter-server;
- ``runner`` / ``cli``: the local-process runner and ``sagemaker-operator local-train``;
- ``kube``: pure builders of the in-cluster runner's Service, ConfigMap and Pods, status and clean-up;
- ``pod``: the fetch and upload steps those pods run in the operator's image;
- ``storage``: S3 and ``file://`` in and out.
"""
