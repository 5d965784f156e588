"""Second-order analysis: Hessian-vector products, eigenvalues (exact and Lanczos), critical points,
sharpness, loss-landscape slices. Losses follow fit's contract `loss_fn(model, batch) -> (loss_sum, n)`."""

from mllab.analysis.hessian import (
                                    KINDS,
                                    CriticalPoint,
                                    Eigen,
                                    HessianOperator,
                                    classify,
                                    critical_point_report,
                                    exact_hessian,
                                    extreme_eigenvalues,
                                    hessian_vector_product,
                                    lanczos,
                                    mean_loss,
                                    minimum_ratio,
)
from mllab.analysis.landscape import (
                                    filter_normalized_direction,
                                    loss_slice,
                                    plot_slice_1d,
                                    plot_slice_2d,
)
from mllab.analysis.sharpness import epsilon_sharpness, top_eigenvalue

__all__ = [
    "KINDS", "CriticalPoint", "Eigen", "HessianOperator", "classify", "critical_point_report", "epsilon_sharpness",
    "exact_hessian", "extreme_eigenvalues", "filter_normalized_direction", "hessian_vector_product", "lanczos",
    "loss_slice", "mean_loss", "minimum_ratio", "plot_slice_1d", "plot_slice_2d", "top_eigenvalue",
]
