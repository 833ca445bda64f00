"""An embedded SageMaker for the demo, development and tests: moto plus real job lifecycles.

moto answers every job as Completed at once and has no StopTrainingJob, StopTransformJob or
StopHyperParameterTuningJob; this package serves training, hyperparameter tuning and batch transform
jobs that move through SageMaker's statuses on a controllable clock (a tuning job launching real
simulated training jobs within its parallelism limit), write CloudWatch log lines, can be made to
fail, and sits in front of moto's server app so S3, STS, IAM, CloudWatch Logs and the other SageMaker
operations (CreateModel among them) keep working on the same port. See README.md in this directory.

    sim = Simulator(clock=SimClock(speed=0), durations=StageDurations(training=6, transform=6))
    with SimulatorServer(sim) as server:
        boto3.client("sagemaker", endpoint_url=server.url, region_name="us-west-2")
        sim.clock.advance(30)
        sim.tuning_job("my-tuning-job").children
"""

from .clock import SimClock
from .core import RequestRecord, Simulator
from .faults import FaultInjector
from .lifecycle import StageDurations
from .server import SimulatorServer
from .training import FAILURE_HYPERPARAMETER, TRAINING_SECONDS_HYPERPARAMETER, TrainingJob
from .transform import FAILURE_ENVIRONMENT_VARIABLE, TransformJob
from .tuning import FAILURE_RATE_HYPERPARAMETER, TuningJob

__all__ = [
    "FAILURE_ENVIRONMENT_VARIABLE",
    "FAILURE_HYPERPARAMETER",
    "FAILURE_RATE_HYPERPARAMETER",
    "TRAINING_SECONDS_HYPERPARAMETER",
    "FaultInjector",
    "RequestRecord",
    "SimClock",
    "Simulator",
    "SimulatorServer",
    "StageDurations",
    "TrainingJob",
    "TransformJob",
    "TuningJob",
]
