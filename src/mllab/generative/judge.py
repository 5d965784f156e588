"""A digit classifier trained in the same run, used as the judge of generated digits.

`DigitJudge.train` fits an MLP (pixels -> `width` ReLU features -> 10 logits) on real digits with `fit`;
`judge.score(images)` returns, for generated images (N, D):
    classes_covered   classes with at least `min_share` of the arg-max predictions
    mean_confidence   mean of max_c p(c | x)
    frechet           Fréchet distance between Gaussians fitted to the judge's hidden features of the real
                      reference images and of the generated ones (squared feature units). It is *not* the
                      FID: the features are this run's classifier's, not Inception's.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mllab.data.loader import TensorLoader
from mllab.generative.metrics import class_stats, frechet_distance
from mllab.metrics import accuracy
from mllab.models.mlp import MLP
from mllab.train.losses import cross_entropy_sum
from mllab.train.loop import fit


@dataclass
class DigitJudge:
    classifier: MLP  # x (B, D) -> logits (B, 10)
    reference: torch.Tensor  # (M, width) features of the real reference images
    min_share: float = 0.025

    @classmethod
    def train(cls, x: torch.Tensor, y: torch.Tensor, reference: torch.Tensor, *, width: int = 128, epochs: int = 30,
              lr: float = 1e-3, seed: int = 0, min_share: float = 0.025) -> "DigitJudge":
        """Fit the classifier on (x (N, D), y (N,)); `reference` (M, D): the real images generated ones are
        compared with (Fréchet distance)."""
        torch.manual_seed(seed)
        model = MLP(x[0].numel(), 10, width=width, depth=1)
        loader = TensorLoader([x.flatten(1), y], 64, seed=seed % 2**32)  # TensorLoader multiplies its seed
        fit(model, cross_entropy_sum, loader, torch.optim.Adam(model.parameters(), lr=lr), epochs=epochs)
        judge = cls(model.eval(), torch.empty(0), min_share)
        judge.reference = judge.features(reference)
        return judge

    @torch.no_grad()
    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier.blocks(x.flatten(1))  # (N, width) the hidden layer

    @torch.no_grad()
    def accuracy(self, x: torch.Tensor, y: torch.Tensor) -> float:
        return accuracy(self.classifier, x.flatten(1), y)

    @torch.no_grad()
    def score(self, images: torch.Tensor) -> dict[str, float]:
        features = self.features(images)  # (N, width)
        probs = self.classifier.head(features).softmax(1)  # (N, 10)
        stats = class_stats(probs, self.min_share)
        return {"classes_covered": stats.classes_covered, "mean_confidence": stats.mean_confidence,
                "frechet": frechet_distance(self.reference, features)}

    @torch.no_grad()
    def shares(self, images: torch.Tensor) -> torch.Tensor:
        """(10,) share of images predicted as each class."""
        predicted = self.classifier(images.flatten(1)).argmax(1)
        return torch.bincount(predicted, minlength=10).float() / len(images)
