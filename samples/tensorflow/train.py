"""Digits classifier with TensorFlow 2 / Keras, for SageMaker's TensorFlow container and the fallback alike.

Script mode: hyperparameters arrive as ``--epochs 10 --learning-rate 0.01``; paths come from SageMaker's
``SM_*`` variables (never hard-coded ``/opt/ml``, so the same script runs as local processes too);
the cluster comes from ``TF_CONFIG``:

- no TF_CONFIG: one process (a single SageMaker instance);
- ``{"cluster": {"worker": [...]}}``: MultiWorkerMirroredStrategy (SageMaker's
  ``distribution={"multi_worker_mirrored_strategy": {"enabled": True}}``, or the fallback's default);
- ``{"cluster": {"chief", "worker", "ps"}}``: TF 2 ParameterServerStrategy, this process being the
  coordinator (the fallback's ``parameter-server`` strategy starts the workers and ps servers itself).

Training uses a custom loop (``strategy.run``) rather than ``model.fit``: Keras 3's ``fit`` fails
under MultiWorkerMirroredStrategy (keras-team/keras#20585), and a custom loop is also what TF 2's
ParameterServerStrategy needs without Keras 2.

Data: ``train.npz`` (arrays ``x``: N x 64 pixel values 0..16, ``y``: labels) from the ``train``
channel and, if given, ``test.npz`` from the ``test`` channel. Without a train channel the script
uses scikit-learn's bundled digits data set (1797 8x8 images), keeping a stratified 25% aside
(``random_state=0``) for the test accuracy it reports.

The model (a SavedModel under ``SM_MODEL_DIR/1``, the layout TensorFlow Serving and SageMaker's
TensorFlow serving container expect) takes raw pixel values and returns 10 logits. With several
workers only the chief's copy is kept: every worker must save (saving reads distributed variables),
so the others save into a temporary directory and delete it, as TensorFlow's multi-worker guide does.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import traceback

import numpy as np


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32, help="per replica")
    parser.add_argument("--learning-rate", type=float, default=0.01)
    parser.add_argument("--hidden-units", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR", "model"))
    parser.add_argument("--train", default=os.environ.get("SM_CHANNEL_TRAIN"))
    parser.add_argument("--test", default=os.environ.get("SM_CHANNEL_TEST"))
    parser.add_argument("--output-data-dir", default=os.environ.get("SM_OUTPUT_DATA_DIR"))
    # The SageMaker Python SDK adds --model_dir (an S3 prefix) for TensorFlow jobs; it is not used here.
    args, _ = parser.parse_known_args(argv)
    return args


def load_data(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    if args.train and os.path.exists(os.path.join(args.train, "train.npz")):
        train = np.load(os.path.join(args.train, "train.npz"))
        x_train, y_train = train["x"], train["y"]
        if args.test and os.path.exists(os.path.join(args.test, "test.npz")):
            test = np.load(os.path.join(args.test, "test.npz"))
            x_test, y_test = test["x"], test["y"]
        else:
            x_test, y_test = x_train[:0], y_train[:0]
        print(f"data: {len(x_train)} training and {len(x_test)} test examples from the channels", flush=True)
    else:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        x, y = load_digits(return_X_y=True)
        x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
        print(f"data: scikit-learn digits, {len(x_train)} for training, {len(x_test)} held out", flush=True)
    return x_train.astype("float32"), y_train.astype("int64"), x_test.astype("float32"), y_test.astype("int64")


def cluster() -> tuple[dict, str, int]:
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    spec = config.get("cluster") or {}
    task = config.get("task") or {}
    if "master" in spec:
        raise SystemExit(
            "TF_CONFIG names a 'master' (TF 1 vocabulary, from SageMaker's parameter_server distribution); "
            "TF 2 needs 'chief'. Use multi_worker_mirrored_strategy on SageMaker."
        )
    return spec, task.get("type", "worker"), int(task.get("index", 0))


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    import keras
    import tensorflow as tf

    spec, task_type, task_index = cluster()
    parameter_server = "ps" in spec
    if parameter_server:
        if task_type != "chief":
            raise SystemExit(f"this script is the coordinator; {task_type} tasks run tf.distribute.Server")
        strategy = tf.distribute.ParameterServerStrategy(tf.distribute.cluster_resolver.TFConfigClusterResolver())
        coordinator = tf.distribute.coordinator.ClusterCoordinator(strategy)
    elif spec.get("worker"):
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    else:
        strategy = tf.distribute.get_strategy()
    is_chief = task_type == "chief" or (task_type == "worker" and task_index == 0)
    keras.utils.set_random_seed(args.seed)

    x_train, y_train, x_test, y_test = load_data(args)
    replicas = 1 if parameter_server else strategy.num_replicas_in_sync
    global_batch = args.batch_size * replicas
    steps_per_epoch = max(1, len(x_train) // global_batch)
    print(f"{type(strategy).__name__}: {replicas} replica(s), global batch {global_batch}", flush=True)

    with strategy.scope():
        model = keras.Sequential(
            [
                keras.Input(shape=(64,)),
                keras.layers.Rescaling(1.0 / 16.0),
                keras.layers.Dense(args.hidden_units, activation="relu"),
                keras.layers.Dense(10),
            ]
        )
        optimizer = keras.optimizers.Adam(args.learning_rate)
    loss_object = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="none")

    def dataset_fn(context: tf.distribute.InputContext | None = None) -> tf.data.Dataset:
        dataset = tf.data.Dataset.from_tensor_slices((x_train, y_train))
        if context is not None and context.num_input_pipelines > 1:
            dataset = dataset.shard(context.num_input_pipelines, context.input_pipeline_id)
        batch = context.get_per_replica_batch_size(global_batch) if context else args.batch_size
        return dataset.shuffle(len(x_train), seed=args.seed).repeat().batch(batch)

    def replica_step(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = tf.nn.compute_average_loss(loss_object(y, model(x, training=True)), global_batch_size=global_batch)
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        return loss

    @tf.function
    def train_step(iterator: tf.distribute.DistributedIterator) -> tf.Tensor:
        x, y = next(iterator)
        return strategy.run(replica_step, args=(x, y))

    if parameter_server:
        iterator = iter(coordinator.create_per_worker_dataset(dataset_fn))
    else:
        iterator = iter(strategy.distribute_datasets_from_function(dataset_fn))
    for epoch in range(1, args.epochs + 1):
        losses = []
        for _ in range(steps_per_epoch):
            if parameter_server:
                losses.append(coordinator.schedule(train_step, args=(iterator,)))
            else:
                losses.append(strategy.reduce("SUM", train_step(iterator), axis=None))
        if parameter_server:
            coordinator.join()
            losses = [loss.fetch() for loss in losses]
        print(f"epoch {epoch}/{args.epochs}: loss={float(np.mean(losses)):.4f}", flush=True)

    if len(x_test):
        accuracy = float(np.mean(np.argmax(model(x_test, training=False), axis=1) == y_test))
        print(f"test_accuracy={accuracy:.4f}", flush=True)
        if is_chief and args.output_data_dir:
            os.makedirs(args.output_data_dir, exist_ok=True)
            with open(os.path.join(args.output_data_dir, "metrics.json"), "w") as f:
                json.dump({"test_accuracy": accuracy, "test_examples": len(x_test)}, f)

    # Version directory "1": TensorFlow Serving's layout.
    target = args.model_dir if is_chief else tempfile.mkdtemp(prefix=f"model-{task_type}-{task_index}-")
    model.export(os.path.join(target, "1"), verbose=False)
    if is_chief:
        print(f"saved model to {os.path.join(target, '1')}", flush=True)
    else:
        shutil.rmtree(target, ignore_errors=True)


def write_failure(exc: BaseException) -> None:
    """SageMaker (and the fallback) report what the script writes to /opt/ml/output/failure as the job's reason."""
    output_dir = os.environ.get("SM_OUTPUT_DIR")
    if not output_dir:
        return
    os.makedirs(output_dir, exist_ok=True)
    with open(os.path.join(output_dir, "failure"), "w") as f:
        f.write(f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}")


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except SystemExit as exc:
        if exc.code not in (None, 0):
            write_failure(exc)
        raise
    except BaseException as exc:
        write_failure(exc)
        raise
