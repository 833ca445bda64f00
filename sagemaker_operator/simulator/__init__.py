"""An embedded SageMaker for the demo, development and tests: moto plus a real job lifecycle.

moto answers every training job as Completed at once and has no StopTrainingJob; this package serves
training jobs that move through SageMaker's statuses on a controllable clock, write CloudWatch log
lines, can be made to fail, and sits in front of moto's server app so S3, STS, IAM, CloudWatch Logs
and the other SageMaker operations keep working on the same port. See README.md in this directory.

    sim = Simulator(clock=SimClock(speed=0), durations=StageDurations(training=6))
    with SimulatorServer(sim) as server:
        boto3.client("sagemaker", endpoint_url=server.url, region_name="us-west-2")
        sim.clock.advance(30)
"""

from .clock import SimClock
from .core import RequestRecord, Simulator
from .faults import FaultInjector
from .lifecycle import StageDurations
from .server import SimulatorServer
from .training import FAILURE_HYPERPARAMETER, TRAINING_SECONDS_HYPERPARAMETER, TrainingJob

__all__ = [
    "FAILURE_HYPERPARAMETER",
    "TRAINING_SECONDS_HYPERPARAMETER",
    "FaultInjector",
    "RequestRecord",
    "SimClock",
    "Simulator",
    "SimulatorServer",
    "StageDurations",
    "TrainingJob",
]
