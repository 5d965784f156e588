"""Section "optimization": what gradient descent meets and the tools that help it.

- critical-points: gradient norm and Hessian eigenvalues where training stops — saddle or minimum?
- batch-size: time per epoch and per update, accuracy and sharpness from small to full batch.
- momentum: momentum carries the parameters over plateaus and saddles.
- adaptive-lr: Adagrad, RMSProp and Adam on an elongated error surface; warm-up and decay.
"""
