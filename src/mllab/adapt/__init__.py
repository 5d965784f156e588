"""Domain adaptation: DANN's feature extractor, label predictor and domain classifier joined by gradient
reversal; the λ_p and learning-rate schedules of Ganin & Lempitsky; the loss callable and loader for `fit`."""

from mllab.adapt.dann import (
    DANN,
    DannLoss,
    DannSchedule,
    DomainClassifier,
    FeatureExtractor,
    PairedLoader,
    adaptation_lambda,
    annealed_lr,
    domain_accuracy,
    features,
    lr_lambda,
    target_accuracy,
)

__all__ = ["DANN", "DannLoss", "DannSchedule", "DomainClassifier", "FeatureExtractor", "PairedLoader",
           "adaptation_lambda", "annealed_lr", "domain_accuracy", "features", "lr_lambda",
           "target_accuracy"]
