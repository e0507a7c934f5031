"""Data, configurations and files: training data sets, the TOML experiment files, checkpoints, saved graphs.

* :mod:`.datasets`: the seeded teacher-student generator, scikit-learn's digits, user arrays (its names are
  re-exported here: ``from analogsim.data import digits``); :mod:`.images`: the digits as 1x8x8 images;
* :mod:`.config`: experiment configurations; :mod:`.graph_config`: the TOML way to write a graph network;
* :mod:`.checkpoint`: atomic, pickle-free, verified checkpoints; :mod:`.graph_io`: saved graph networks.

Examples
--------
>>> from analogsim.data import teacher_student
>>> teacher_student(n_in=4, n_out=1, n_train=8, n_test=2, seed=0).x_train.shape
(8, 4)
"""

from .datasets import Dataset, digits, from_arrays, load_arrays, split, teacher_student

__all__ = ["Dataset", "teacher_student", "digits", "load_arrays", "split", "from_arrays"]
