"""Data helpers for graph networks: image views of flat data sets (the digits as 1x8x8 images).

A graph network's input layer may have any shape; states are flat rows (C order), so a data set's flat rows
feed a convolutional net directly. These helpers give the image view that torch models expect.

Examples
--------
>>> from analogsim.data.images import as_images, digits_images
>>> ds, shape = digits_images(seed=0)
>>> shape, as_images(ds.x_test[:2], shape).shape
((1, 8, 8), (2, 1, 8, 8))
"""

from __future__ import annotations

import numpy as np

__all__ = ["as_images", "digits_images", "DIGITS_SHAPE"]

#: per-sample shape of scikit-learn's digits as images (channels, height, width)
DIGITS_SHAPE = (1, 8, 8)


def as_images(x, shape) -> np.ndarray:
    """Rows of ``x`` (D, prod(shape)) viewed as (D,) + shape (C order, no copy when possible).

    Examples
    --------
    >>> import numpy as np
    >>> as_images(np.zeros((2, 64)), (1, 8, 8)).shape
    (2, 1, 8, 8)
    """
    a = np.asarray(x)
    n = int(np.prod(shape))
    if a.ndim != 2 or a.shape[1] != n:
        raise ValueError(f"x must have shape (D, {n}) to be viewed as images of shape {tuple(shape)}, got {a.shape}")
    return a.reshape((a.shape[0],) + tuple(shape))


def digits_images(**kwargs):
    """:func:`analogsim.data.digits` with the input shape of its images: returns (Dataset, (1, 8, 8)).

    The Dataset keeps flat rows (64 pixels, row-major: pixel (i, j) at 8 i + j), which is the C-order layout
    of a (1, 8, 8) input layer; keyword arguments go to :func:`analogsim.data.digits`.

    Examples
    --------
    >>> ds, shape = digits_images(seed=0)
    >>> shape, ds.n_in
    ((1, 8, 8), 64)
    """
    from .datasets import digits

    return digits(**kwargs), DIGITS_SHAPE


as_images.__module__ = __name__
