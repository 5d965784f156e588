"""Section "optimization": what gradient descent meets and the tools that help it.

- critical-points: the Hessian at the points where gradient descent stops — saddle, minimum or flat?
- batch-size: small against full batch at each one's best η, trained to convergence: test accuracy,
  sharpness, time per epoch (equal-epochs and equal-updates views of the same runs).
- momentum: heavy-ball SGD against plain SGD on an MLP (digits by default), each at its best η.
- adaptive-lr: Adagrad, RMSProp and Adam against SGD on an MLP (digits by default), each at its best η.
`tuning` holds the shared seed split (tuning vs judged seeds) and the best-of-grid pick.
"""
