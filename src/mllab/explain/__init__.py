"""Attribution methods written from their formulas (each tested equal to Captum), and the checks of an
explanation: deletion / insertion curves (faithfulness) and cascading model-parameter randomisation (sanity).

    saliency(model, x, target)                 |∂y_c/∂x|            (B, C, H, W)
    gradient(...), gradient_x_input(...)       ∂y_c/∂x, x ⊙ ∂y_c/∂x
    smoothgrad(model, x, target, n, sigma)     (1/n) Σ |∂y_c/∂x (x + ε)|, ε ~ N(0, (σ·(x_max − x_min))²)
    integrated_gradients(model, x, target)     (x − x') ⊙ ∫₀¹ ∂y_c/∂x (x' + α(x − x')) dα
    lime(model, x, target, segments)           weights of a kernel-weighted ridge surrogate on superpixels
"""

from mllab.explain.integrated_gradients import integrated_gradients
from mllab.explain.lime import (
           LimeResult,
           block_segments,
           draw_masks,
           lime,
           slic_segments,
)
from mllab.explain.saliency import gradient, gradient_x_input, saliency
from mllab.explain.smoothgrad import smoothgrad

__all__ = ["LimeResult", "block_segments", "draw_masks", "gradient", "gradient_x_input", "integrated_gradients",
           "lime", "saliency", "slic_segments", "smoothgrad"]
