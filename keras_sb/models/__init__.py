"""Keras functional models: per-pixel encoders, the split-brain pair and classifiers."""

from keras_sb.models.encoders import ENCODERS, Encoder, build_encoder
from keras_sb.models.split_brain import SplitBrain

__all__ = ["ENCODERS", "Encoder", "SplitBrain", "build_encoder"]
