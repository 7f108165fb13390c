"""Image classification data sets, loaded whole into memory as normalized tensors.

Three data sets are known (:func:`list_datasets`), one module each:

* ``digits`` (:mod:`nas.data.digits`): scikit-learn's bundled 8x8 hand-written digits (1,797 images, 10 classes);
  no files needed.
* ``cifar10`` (:mod:`nas.data.cifar10`): CIFAR-10 from a local folder in torchvision's python format
  (``cifar-10-batches-py``). It is never downloaded, and its pickles are read with an unpickler that only rebuilds
  numpy arrays (:mod:`nas.data.unpickler`).
* ``imagefolder`` (:mod:`nas.data.imagefolder`): a small custom data set of image files in class sub-folders,
  optionally already split into ``train/``, ``val/`` and ``test/``. Every image is decoded into memory, so it is
  meant for small data sets.

Every image becomes a 3-channel float32 tensor of ``resolution`` x ``resolution`` (grayscale is repeated to 3
channels, other sizes are stretched with bilinear interpolation), normalized per channel with the mean and
standard deviation of the train split (:mod:`nas.data.splits`); ``imagefolder`` at ImageNet resolutions is
preprocessed as once-for-all evaluates ImageNet instead (:mod:`nas.data.preprocessing`). ``classes=`` keeps some
classes of any data set (:mod:`nas.data.classes`). :func:`load_dataset` returns the three splits as
:class:`TensorImageDataset` objects whose ``images`` and ``labels`` tensors a trainer may slice directly. Another
data set is one more module with a loader registered by :func:`register_dataset` (:mod:`nas.data.registry`),
imported below.

>>> splits = load_dataset("digits", resolution=16)
>>> image, label = splits.train[0]
>>> tuple(image.shape), splits.num_classes
((3, 16, 16), 10)
"""

from __future__ import annotations

from nas.data import cifar10, digits, imagefolder  # noqa: F401  (registers the loaders)
from nas.data.classes import parse_class_selection, select_classes
from nas.data.datasets import DataSplits, TensorImageDataset
from nas.data.imagefolder import IMAGE_EXTENSIONS
from nas.data.registry import list_datasets, load_dataset, register_dataset

__all__ = [
    "IMAGE_EXTENSIONS",
    "DataSplits",
    "TensorImageDataset",
    "list_datasets",
    "load_dataset",
    "parse_class_selection",
    "register_dataset",
    "select_classes",
]
