"""scikit-learn as a peer for `npm run bench`: the same logistic model, trained the way an
application using scikit-learn would, measured on the same machine in the same run.

Called by bench/lib/sklearn.ts with one JSON job, or a list of them (one interpreter start for
all), as the only argument; prints the JSON result(s) on stdout and progress on stderr.

Jobs:
  {"job": "throughput", "d": 64, "samples": 3000, "runs": 5, "batch": 1}
      partial_fit samples/s per run on a synthetic linearly separable stream (batch 1 = one
      call per event; batch 50 = one call per 50 events).
  {"job": "elec", "path": "...", "batch": 1, "limit": null, "every": 500}
      prequential (test-then-train) accuracy and log loss on a CSV stream (last column the
      0/1 label), features scaled with a running mean and variance (Welford) in the same
      order as localfit's Prequential: scale with the statistics of the rows before,
      predict, learn; with batch > 1, rows are predicted as they arrive and learned (model
      and scaler) only once the batch is full.

The model is SGDClassifier(loss="log_loss", alpha=1e-4), learning_rate="optimal", as in
design.md's reference figures.
"""

import json
import math
import sys
import time
import warnings

import numpy as np
from sklearn.linear_model import SGDClassifier

ALPHA = 1e-4
EPS = 1e-15


def model():
    return SGDClassifier(loss="log_loss", alpha=ALPHA, learning_rate="optimal", random_state=0)


def progress(message):
    print(message, file=sys.stderr, flush=True)


def throughput(job):
    d, samples, runs, batch = job["d"], job["samples"], job["runs"], job["batch"]
    rng = np.random.default_rng(42 + d)
    truth = rng.uniform(-1, 1, d)
    xs = rng.uniform(-1, 1, (samples, d))
    ys = ((xs @ truth + rng.uniform(-0.25, 0.25, samples)) > 0).astype(np.int64)
    classes = np.array([0, 1])

    def train(count):
        clf = model()
        start = time.perf_counter()
        for row in range(0, count, batch):
            clf.partial_fit(xs[row : row + batch], ys[row : row + batch], classes=classes)
        return time.perf_counter() - start

    train(min(samples, 10 * batch, 500))  # warm-up: imports, first-call allocations
    rates = [samples / train(samples) for _ in range(runs)]
    return {"rates": rates}


class RunningScaler:
    """Welford's running mean and population variance; a feature with no spread maps to 0."""

    def __init__(self, d):
        self.n = 0
        self.mean = np.zeros(d)
        self.m2 = np.zeros(d)

    def learn(self, x):
        self.n += 1
        delta = x - self.mean
        self.mean += delta / self.n
        self.m2 += delta * (x - self.mean)

    def transform(self, x):
        if self.n == 0:
            return np.zeros_like(x)
        variance = self.m2 / self.n
        out = np.zeros_like(x)
        positive = variance > 0
        out[positive] = (x[positive] - self.mean[positive]) / np.sqrt(variance[positive])
        return out


def read_stream(path, limit):
    with open(path, encoding="utf-8") as f:
        next(f)
        rows = [line.strip().split(",") for line in f if line.strip()]
    if limit:
        rows = rows[:limit]
    data = np.array(rows, dtype=np.float64)
    return data[:, :-1], data[:, -1].astype(np.int64)


def elec(job):
    xs, ys = read_stream(job["path"], job.get("limit"))
    n, d = xs.shape
    batch, every = job["batch"], job["every"]
    clf = model()
    classes = np.array([0, 1])
    scaler = RunningScaler(d)
    fitted = False
    correct = 0
    loss = 0.0
    learn_seconds = 0.0
    curve = []
    pending = []
    for row in range(n):
        z = scaler.transform(xs[row])
        # Before the first fit scikit-learn has no coefficients: predict ½, as an untrained
        # localfit head does (a tie counts as the negative class).
        p1 = float(clf.predict_proba(z.reshape(1, -1))[0, 1]) if fitted else 0.5
        y = ys[row]
        correct += int((p1 > 0.5) == (y == 1))
        p = p1 if y == 1 else 1 - p1
        loss -= math.log(min(1 - EPS, max(EPS, p)))
        pending.append((z, xs[row], y))
        if len(pending) == batch or row == n - 1:
            start = time.perf_counter()
            zs = np.array([item[0] for item in pending])
            labels = np.array([item[2] for item in pending])
            clf.partial_fit(zs, labels, classes=classes)
            for item in pending:
                scaler.learn(item[1])
            learn_seconds += time.perf_counter() - start
            fitted = True
            pending = []
        if (row + 1) % every == 0 or row == n - 1:
            curve.append([row + 1, correct])
        if (row + 1) % 10000 == 0:
            progress(f"    scikit-learn elec, batch {batch}: {row + 1}/{n} rows")
    return {
        "n": n,
        "accuracy": correct / n,
        "logloss": loss / n,
        "samples_per_s": n / learn_seconds,
        # [rows so far, of them predicted right]: cumulative and windowed accuracy both follow.
        "curve": curve,
    }


def main():
    jobs = json.loads(sys.argv[1])
    warnings.simplefilter("ignore")
    import sklearn

    def run(job):
        result = {"throughput": throughput, "elec": elec}[job["job"]](job)
        result["version"] = sklearn.__version__
        return result

    print(json.dumps([run(job) for job in jobs] if isinstance(jobs, list) else run(jobs)))


if __name__ == "__main__":
    main()
