"""Input images: the supported folder layouts, decoding, and tf.data pipelines."""

from keras_sb.constants import SAMPLE_DATA
from keras_sb.data.decode import as_float
from keras_sb.data.errors import DataError
from keras_sb.data.files import IMAGE_EXTENSIONS
from keras_sb.data.layouts import SPLITS, has_split, open_images
from keras_sb.data.sampling import stratified_split, stratified_subset
from keras_sb.data.sources import FileImageSource, ImageSource
from keras_sb.data.stl10 import Stl10Source

__all__ = [
    "IMAGE_EXTENSIONS",
    "SAMPLE_DATA",
    "SPLITS",
    "DataError",
    "FileImageSource",
    "ImageSource",
    "Stl10Source",
    "as_float",
    "has_split",
    "open_images",
    "stratified_split",
    "stratified_subset",
]
