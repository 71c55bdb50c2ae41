"""Keras functional models: per-pixel encoders, the split-brain pair and classifiers."""

from pathlib import Path

from keras_sb.models.classifier import SplitBrainClassifier
from keras_sb.models.encoders import ENCODERS, Encoder, build_encoder
from keras_sb.models.split_brain import SplitBrain

# The small fine-tuned classifier shipped with the package (see its README).
DEFAULT_MODEL = str(Path(__file__).resolve().parent.parent / "default_model" / "classifier.keras")

__all__ = ["DEFAULT_MODEL", "ENCODERS", "Encoder", "SplitBrain", "SplitBrainClassifier",
           "build_encoder"]
