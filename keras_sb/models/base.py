"""Base class of keras-sb models: functional models whose config is their constructor args."""

from __future__ import annotations

import keras


class ConfigurableModel(keras.Model):
    """Subclasses build a functional graph in ``__init__`` and list their constructor
    arguments in ``init_args``; ``get_config``/``from_config`` follow (as in keras-hub)."""

    def init_args(self) -> dict:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {**self.init_args(), "name": self.name, "trainable": self.trainable}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)
