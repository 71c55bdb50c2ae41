"""Keras functional models: head-less backbones, the pretext model and classifiers."""

from keras_sb.constants import DEFAULT_MODEL
from keras_sb.models.backbones import BACKBONES, Backbone, build_backbone, register_backbone
from keras_sb.models.classifier import SplitBrainClassifier
from keras_sb.models.objectives import (
    OBJECTIVES,
    Direction,
    PretextTask,
    register_objective,
)
from keras_sb.models.split_brain import SplitBrain

__all__ = ["BACKBONES", "DEFAULT_MODEL", "OBJECTIVES", "Backbone", "Direction", "PretextTask",
           "SplitBrain", "SplitBrainClassifier", "build_backbone", "register_backbone",
           "register_objective"]
