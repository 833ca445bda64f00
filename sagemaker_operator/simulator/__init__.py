"""An embedded SageMaker for the demo, development and tests: moto plus real job lifecycles.

moto answers every job as Completed at once and has no StopTrainingJob, StopTransformJob,
StopHyperParameterTuningJob or UpdateEndpoint; this package serves training, hyperparameter tuning and
batch transform jobs, and models, endpoint configurations and endpoints, that move through SageMaker's
statuses on a controllable clock (a tuning job launching real simulated training jobs within its
parallelism limit; an endpoint updating without downtime and rolling back a failed update), write
CloudWatch log lines, can be made to fail, and sits in front of moto's server app so S3, STS, IAM,
CloudWatch Logs and the other SageMaker operations keep working on the same port. See README.md in
this directory.

    sim = Simulator(clock=SimClock(speed=0), durations=StageDurations(training=6, transform=6))
    with SimulatorServer(sim) as server:
        boto3.client("sagemaker", endpoint_url=server.url, region_name="us-west-2")
        sim.clock.advance(30)
        sim.tuning_job("my-tuning-job").children
        sim.endpoint("my-endpoint").timeline
"""

from .clock import SimClock
from .core import RequestRecord, Simulator
from .endpoint_configs import EndpointConfig
from .endpoints import Endpoint, TimelineEntry
from .faults import FaultInjector
from .lifecycle import StageDurations
from .models import FAILURE_ENVIRONMENT_VARIABLE, Model
from .server import SimulatorServer
from .training import FAILURE_HYPERPARAMETER, TRAINING_SECONDS_HYPERPARAMETER, TrainingJob
from .transform import TransformJob
from .tuning import FAILURE_RATE_HYPERPARAMETER, TuningJob

__all__ = [
    "FAILURE_ENVIRONMENT_VARIABLE",
    "FAILURE_HYPERPARAMETER",
    "FAILURE_RATE_HYPERPARAMETER",
    "TRAINING_SECONDS_HYPERPARAMETER",
    "Endpoint",
    "EndpointConfig",
    "FaultInjector",
    "Model",
    "RequestRecord",
    "SimClock",
    "Simulator",
    "SimulatorServer",
    "StageDurations",
    "TimelineEntry",
    "TrainingJob",
    "TransformJob",
    "TuningJob",
]
