"""Names and shipped files that the command line needs before TensorFlow loads (this module
imports nothing heavy): the defaults of ``--data`` and ``--model``, and fixed option choices."""

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent

# The shipped sample (ssl_data_96 layout) and the small fine-tuned classifier (its README).
SAMPLE_DATA = str(_PACKAGE / "sample_data")
DEFAULT_MODEL = str(_PACKAGE / "default_model" / "classifier.keras")
# The pretraining model that draws the shipped classifier's colorizations (it keeps no pretext
# heads) in the demo and its export's colorize signature; used only if the file exists.
DEFAULT_PRETEXT = str(_PACKAGE / "default_model" / "pretext.keras")

COLOR_SPACES = ("lab", "rgb", "lab_distort")
HEADS = ("shallow", "mlp")
# The classifiers' features: --feature-layer, --feature-dims and SplitBrainClassifier's defaults.
DEFAULT_FEATURE_LAYER = "conv3"
DEFAULT_FEATURE_DIMS = 9216
STRATEGIES = ("auto", "default", "mirrored", "one_device", "multi_worker")

# The web demo's server (keras_sb/demo/server.py).
DEFAULT_HOST = "127.0.0.1"
DEFAULT_MAX_UPLOAD_MB = 20.0
DEFAULT_CACHE_QUOTA_MB = 512.0
DEFAULT_UPLOADS_PER_MINUTE = 10
DEFAULT_REQUESTS_PER_MINUTE = 30  # /classify calls (each image or temperature change)
