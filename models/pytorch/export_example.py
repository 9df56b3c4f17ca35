#!/usr/bin/env python3
"""Bring your own model: a PyTorch recommender backbone exported for localfit.

An embedding lookup of item ids (the most common recommender backbone) next to a few float
context features, mapped to a 16-wide embedding that the on-device head learns on. Exported
with torch.onnx.export, named inputs and outputs, and a dynamic batch axis, so one file serves
one prediction or a slate of a hundred. It prints the `featureSpec` the app passes to
`createLearner` (the README's "Bring your own model" shows the same).

    /usr/bin/python3 models/pytorch/export_example.py [OUT.onnx]   # default: item_tower.onnx

Needs PyTorch (tested with 1.13) and nothing else; it is documentation and an optional check
(`npx tsx models/pytorch/check_example.ts OUT.onnx` loads the file through the learner's own
backbone code), not part of `npm test`. The weights are random (seeded): train your own.
"""

import json
import sys

import torch

VOCABULARY = 1000  # item ids 0..999
CONTEXT = 4  # float features per example (hour of day, device, ...)
EMBEDDING = 16


class ItemTower(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.items = torch.nn.Embedding(VOCABULARY, 24)
        self.mlp = torch.nn.Sequential(
            torch.nn.Linear(24 + CONTEXT, 32), torch.nn.ReLU(), torch.nn.Linear(32, EMBEDDING)
        )

    def forward(self, item, context):
        # item: int64 [batch], context: float32 [batch, 4] -> embedding: float32 [batch, 16]
        return torch.tanh(self.mlp(torch.cat([self.items(item), context], dim=1)))


def main(out):
    torch.manual_seed(0)
    model = ItemTower().eval()
    example = (torch.tensor([3, 7]), torch.zeros(2, CONTEXT))
    torch.onnx.export(
        model,
        example,
        out,
        input_names=["item", "context"],
        output_names=["embedding"],
        # Without this the batch is fixed at the example's (2): localfit would then run every
        # call in chunks of 2. With it, any batch runs in one call.
        dynamic_axes={"item": {0: "batch"}, "context": {0: "batch"}, "embedding": {0: "batch"}},
        opset_version=17,
    )
    feature_spec = {
        "inputs": [
            {"name": "item", "size": 1, "dtype": "int64", "vocabulary": VOCABULARY},
            {"name": "context", "size": CONTEXT},
        ],
        "output": {"name": "embedding", "size": EMBEDDING},
        "task": "binary",
    }
    with torch.no_grad():
        reference = model(torch.tensor([42]), torch.tensor([[0.5, -1.0, 0.25, 2.0]]))
    print(json.dumps({"model": out, "featureSpec": feature_spec,
                      "check": {"item": [42], "context": [0.5, -1.0, 0.25, 2.0],
                                "embedding": [round(v, 6) for v in reference[0].tolist()]}},
                     indent=2))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "item_tower.onnx")
