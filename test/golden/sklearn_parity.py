#!/usr/bin/env python3
"""Golden weights from scikit-learn's SGDClassifier for test/unit/learn/sklearn_parity.test.ts.

Regenerate (needs Debian's python3-sklearn; the `python3` on PATH may lack it):

    /usr/bin/python3 test/golden/sklearn_parity.py

It writes test/golden/sklearn_parity.json. Written with scikit-learn 1.2.1.

The stream (2,000 rows, 8 features on scales from 0.01 to 100 with offsets, 10% flipped
labels, two pure-noise features) is generated here from a xorshift32 generator using only
integer operations and correctly rounded float arithmetic (+, −, ×, /, sqrt), so the test
rebuilds it bit for bit in TypeScript instead of storing 16,000 numbers. The JSON keeps a
checksum of the stream that the test compares first.

Runs, each `SGDClassifier(loss="log_loss", ...)` with its default fit_intercept=True:

- L2 runs ("constant", "optimal", "invscaling") call `partial_fit` once per sample, classes
  given on the first call: the on-device situation.
- L1 / elasticnet runs call `fit(X, y)` with max_iter=1, shuffle=False, tol=None: one pass
  over the stream in order, which is the same sequence of updates. They cannot use
  per-sample `partial_fit`, because `_plain_sgd` keeps the cumulative L1 penalty (u and q
  of Tsuruoka et al., 2009) in local variables, so every `partial_fit` call starts them
  from zero and the penalty degenerates to plain truncation. One `fit` epoch keeps them
  for the whole stream, which is the algorithm our head implements.
"""

import json
import math
import warnings
from pathlib import Path

import numpy as np
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import SGDClassifier

N_ROWS = 2000
SEED = 20240601
SCALES = [0.01, 0.1, 1.0, 1.0, 10.0, 100.0, 0.5, 5.0]
OFFSETS = [0.0, 1.0, 0.0, -3.0, 20.0, 0.0, 0.0, 2.0]
# Effect of each standardised feature on the log-odds; the last two are pure noise.
BETA = [1.5, -2.0, 1.0, 0.5, -1.0, 2.0, 0.0, 0.0]
FLIP = 0.1
MASK = 0xFFFFFFFF


class XorShift32:
    """Marsaglia's xorshift32; the TypeScript test has the same generator."""

    def __init__(self, seed):
        self.state = seed & MASK

    def uniform(self):
        """A double in (0, 1): (k + 0.5) / 2^32, exact in binary."""
        x = self.state
        x ^= (x << 13) & MASK
        x ^= x >> 17
        x ^= (x << 5) & MASK
        self.state = x
        return (x + 0.5) / 4294967296.0


def stream():
    rng = XorShift32(SEED)
    root3 = math.sqrt(3.0)
    rows, labels = [], []
    for _ in range(N_ROWS):
        row, logit = [], 0.0
        for j in range(len(SCALES)):
            # Irwin–Hall(4), centred and scaled to unit variance: roughly normal, and free of
            # log/cos, whose last bit may differ between libms.
            z = (rng.uniform() + rng.uniform() + rng.uniform() + rng.uniform() - 2.0) * root3
            logit += BETA[j] * z
            row.append(z * SCALES[j] + OFFSETS[j])
        label = 1 if logit > 0 else 0
        if rng.uniform() < FLIP:
            label = 1 - label
        rows.append(row)
        labels.append(label)
    return np.array(rows), np.array(labels)


RUNS = [
    {"name": "constant-l2", "learning_rate": "constant", "eta0": 0.001, "alpha": 1e-4,
     "penalty": "l2", "method": "partial_fit"},
    {"name": "optimal-l2", "learning_rate": "optimal", "eta0": 0.0, "alpha": 1e-4,
     "penalty": "l2", "method": "partial_fit"},
    {"name": "invscaling-l2", "learning_rate": "invscaling", "eta0": 0.01, "power_t": 0.5,
     "alpha": 1e-4, "penalty": "l2", "method": "partial_fit"},
    {"name": "optimal-l1", "learning_rate": "optimal", "eta0": 0.0, "alpha": 1e-3,
     "penalty": "l1", "method": "fit_one_pass"},
    {"name": "constant-l1", "learning_rate": "constant", "eta0": 0.001, "alpha": 1e-2,
     "penalty": "l1", "method": "fit_one_pass"},
    {"name": "optimal-elasticnet", "learning_rate": "optimal", "eta0": 0.0, "alpha": 1e-3,
     "penalty": "elasticnet", "l1_ratio": 0.5, "method": "fit_one_pass"},
]


def train(run, X, y):
    params = dict(
        loss="log_loss",
        learning_rate=run["learning_rate"],
        eta0=run["eta0"],
        power_t=run.get("power_t", 0.5),
        alpha=run["alpha"],
        penalty=run["penalty"],
        l1_ratio=run.get("l1_ratio", 0.15),
    )
    if run["method"] == "partial_fit":
        clf = SGDClassifier(**params)
        for i in range(len(y)):
            clf.partial_fit(X[i : i + 1], y[i : i + 1], classes=np.array([0, 1]) if i == 0 else None)
    else:
        clf = SGDClassifier(max_iter=1, tol=None, shuffle=False, **params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, y)
    return clf


def sequential_sum(X):
    """Row-major, left to right, like the test's loop (numpy's sum is pairwise)."""
    total = 0.0
    for value in X.flat:
        total += float(value)
    return total


def main():
    X, y = stream()
    out = {
        "generator": {
            "kind": "xorshift32 + Irwin-Hall(4)",
            "rows": N_ROWS,
            "seed": SEED,
            "scales": SCALES,
            "offsets": OFFSETS,
            "beta": BETA,
            "flip": FLIP,
        },
        "checksum": {
            "sum": sequential_sum(X),
            "first_row": X[0].tolist(),
            "last_row": X[-1].tolist(),
            "positives": int(y.sum()),
        },
        "sklearn": sklearn.__version__,
        "runs": [],
    }
    for run in RUNS:
        clf = train(run, X, y)
        out["runs"].append({
            **run,
            "coef": clf.coef_[0].tolist(),
            "intercept": float(clf.intercept_[0]),
            "t": float(clf.t_),
        })
        print(f'{run["name"]:>20}: zeros {int((clf.coef_ == 0).sum())}, coef {np.round(clf.coef_[0], 4)}')
    path = Path(__file__).with_suffix(".json")
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
