"""Write the sample's channels from scikit-learn's bundled digits: ``train/train.npz`` and ``test/test.npz``.

A stratified 75/25 split (``random_state=0``, the split train.py makes itself without channels), each
file holding ``x`` (N x 64 pixel values 0..16) and ``y`` (labels 0..9). Upload the two directories as
the job's ``train`` and ``test`` channels, or point ``file://`` channels at them for local-train.

    python samples/tensorflow/make_data.py DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


def write(directory: Path) -> tuple[Path, Path]:
    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    (directory / "train").mkdir(parents=True, exist_ok=True)
    (directory / "test").mkdir(parents=True, exist_ok=True)
    train, test = directory / "train" / "train.npz", directory / "test" / "test.npz"
    np.savez(train, x=x_train.astype("float32"), y=y_train.astype("int64"))
    np.savez(test, x=x_test.astype("float32"), y=y_test.astype("int64"))
    return train, test


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    for path in write(Path(sys.argv[1])):
        print(path)
