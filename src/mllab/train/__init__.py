"""The fit loop, checkpoints, optimizers written from the notes' formulas, LR schedules."""

from mllab.train.checkpoint import load_checkpoint, save_checkpoint
from mllab.train.loop import EarlyStopping, FitState, fit

__all__ = ["EarlyStopping", "FitState", "fit", "load_checkpoint", "save_checkpoint"]

from mllab.train.adversarial import AdversarialState, fit_adversarial  # noqa: E402  (section generative)

__all__ += ["AdversarialState", "fit_adversarial"]
