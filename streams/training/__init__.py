"""Periodic model training: CF item factors from the interaction log."""

from streams.training.model import CFModel, ModelFormatError
from streams.training.trainer import TrainConfig, fit_model, train_cf

__all__ = ["CFModel", "ModelFormatError", "TrainConfig", "fit_model", "train_cf"]
