"""The fit loop, checkpoints, optimizers written from the notes' formulas, LR schedules."""

from mllab.train.checkpoint import load_checkpoint, save_checkpoint
from mllab.train.loop import EarlyStopping, FitState, fit

__all__ = ["EarlyStopping", "FitState", "fit", "load_checkpoint", "save_checkpoint"]
