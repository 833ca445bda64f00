"""Replicas and TF_CONFIG for TensorFlow 2 distributed training.

Vocabulary, chosen on purpose: TensorFlow 2's ``tf.distribute`` accepts the task types ``chief``,
``worker``, ``ps`` and ``evaluator``, and refuses ``master`` (the TF 1 Estimator's name, which
SageMaker's TensorFlow container still writes in its parameter-server mode). So:

- multi-worker-mirrored: ``{"worker": [w0, w1, ...]}``; every replica runs the script and worker 0
  acts as the chief (saves the model, decides success). No ``chief`` entry, as TensorFlow's docs do it.
- parameter-server (TF 2's ``ParameterServerStrategy``): ``chief`` (the coordinator, runs the script),
  ``worker`` and ``ps``. Workers and parameter servers run only a ``tf.distribute.Server``: in TF 2 the
  coordinator ships them functions, they run no user code and never exit by themselves, so the runner
  starts them (``SERVER_BOOTSTRAP``) and stops them when the chief ends, as SageMaker's container starts
  its own parameter servers.

Hosts follow SageMaker: ``algo-1`` .. ``algo-N`` in replica order (chief or worker 0 is ``algo-1``).
Ports: in the cluster every replica has its own pod, so all use one port (2222, TFJob's and SageMaker's
default); locally each replica gets a free port on 127.0.0.1.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sagemaker_operator.local.spec import Strategy

DEFAULT_PORT = 2222

CHIEF, WORKER, PS = "chief", "worker", "ps"

# Runs a worker or parameter server of ParameterServerStrategy from TF_CONFIG, in any TensorFlow image.
SERVER_BOOTSTRAP = """\
import os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
import tensorflow as tf
resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
if resolver.task_type == "ps":
    tf.config.set_visible_devices([], "GPU")  # a parameter server holds variables; leave GPUs to workers
server = tf.distribute.Server(
    resolver.cluster_spec(), job_name=resolver.task_type, task_index=resolver.task_id,
    protocol=resolver.rpc_layer or "grpc", start=True)
print(f"tf.distribute.Server {resolver.task_type}:{resolver.task_id} serving at {server.target}", flush=True)
server.join()
"""


@dataclass(frozen=True)
class Replica:
    """One process (locally) or pod (in the cluster) of a job."""

    role: str  # chief, worker or ps
    index: int  # index within its role, TF_CONFIG's task.index
    host: str  # SageMaker's host name: algo-1, algo-2, ...

    @property
    def task(self) -> str:
        return f"{self.role}-{self.index}"

    @property
    def label(self) -> str:
        """For log prefixes: ``algo-2 worker:1``."""
        return f"{self.host} {self.role}:{self.index}"


def plan(strategy: Strategy, workers: int, parameter_servers: int = 0) -> list[Replica]:
    """The replicas of a job, in host order: the deciding replica first."""
    if workers < 1:
        raise ValueError("a job needs at least one worker")
    roles: list[tuple[str, int]]
    if strategy is Strategy.MULTI_WORKER_MIRRORED:
        if parameter_servers:
            raise ValueError("multi-worker-mirrored has no parameter servers")
        roles = [(WORKER, i) for i in range(workers)]
    else:
        if parameter_servers < 1:
            raise ValueError("parameter-server needs at least one parameter server")
        roles = [(CHIEF, 0)] + [(WORKER, i) for i in range(workers)] + [(PS, i) for i in range(parameter_servers)]
    return [Replica(role, index, f"algo-{n}") for n, (role, index) in enumerate(roles, start=1)]


def decider(replicas: Sequence[Replica]) -> Replica:
    """Whose exit decides the job: the chief, or worker 0 when there is no chief."""
    return next((r for r in replicas if r.role == CHIEF), None) or next(r for r in replicas if r.role == WORKER)


def runs_script(strategy: Strategy, replica: Replica) -> bool:
    """Multi-worker-mirrored: every replica runs the script. Parameter-server: only the chief."""
    return strategy is Strategy.MULTI_WORKER_MIRRORED or replica.role == CHIEF


def exits_by_itself(strategy: Strategy, replica: Replica) -> bool:
    """Servers (ps, and TF 2 parameter-server workers) serve until they are stopped."""
    return runs_script(strategy, replica)


def tf_config(replicas: Sequence[Replica], address: Callable[[Replica], str], me: Replica) -> dict[str, Any]:
    """TF_CONFIG for ``me``: ``{"cluster": {role: [host:port, ...]}, "task": {"type", "index"}}``."""
    cluster: dict[str, list[str]] = {}
    for replica in sorted(replicas, key=lambda r: (_ROLE_ORDER[r.role], r.index)):
        cluster.setdefault(replica.role, []).append(address(replica))
    return {"cluster": cluster, "task": {"type": me.role, "index": me.index}}


def tf_config_json(replicas: Sequence[Replica], address: Callable[[Replica], str], me: Replica) -> str:
    return json.dumps(tf_config(replicas, address, me), separators=(",", ":"))


_ROLE_ORDER = {CHIEF: 0, WORKER: 1, PS: 2}
