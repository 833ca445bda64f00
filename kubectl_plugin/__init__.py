"""``kubectl smlogs``: the CloudWatch logs of SageMaker jobs managed by the operator, from kubectl.

Modules, in the order a run goes through them: :mod:`.smlogs` (the command line), :mod:`.kinds`
(the four resource kinds), :mod:`.resolve` (the custom resource, through the Kubernetes API, to the
SageMaker name, region and endpoint), :mod:`.cloudwatch` (CloudWatch Logs calls, retries and their
errors), :mod:`.reader` (per-stream cursors and the time-ordered merge) and :mod:`.session` (one
read, or following until the job ends). A TrainingJob that runs in the cluster (the TensorFlow
fallback) is read by :mod:`.pods` from its Pods' logs instead of CloudWatch.
"""

__version__ = "0.1.0"
