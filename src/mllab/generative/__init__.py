"""The generative topic beyond its models: GAN objectives written from their formulas, the 2-D Gaussian
mixtures of VEEGAN/PacGAN, and the metrics that judge samples (modes covered, high-quality share,
reverse KL of the mode histogram, class coverage and a Fréchet distance in a classifier's feature space).

    objectives.py  GAN (minimax / non-saturating), LSGAN, WGAN (weight clipping), WGAN-GP (gradient penalty)
    data.py        ring of 8 and grid of 25 Gaussians (PacGAN's radius, spacing and σ)
    metrics.py     VEEGAN's mode metrics, classifier-based digit metrics, exact 1-D references (W1, JS)
"""

from mllab.generative.data import MIXTURES, Mixture, grid_mixture, ring_mixture
from mllab.generative.objectives import OBJECTIVES, Objective, make_objective
from mllab.generative.metrics import ModeStats, frechet_distance, mode_stats

__all__ = ["MIXTURES", "Mixture", "grid_mixture", "ring_mixture", "OBJECTIVES", "Objective", "make_objective",
           "ModeStats", "frechet_distance", "mode_stats"]
