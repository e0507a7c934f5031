"""Physical training: stress-driven parameter Langevin annealing (Tkachenko Eq. 8-16).

* :func:`train` runs a training protocol and returns a :class:`TrainResult` with the energy books
  (Eq. 15-16) and loss curves; two fidelities (separated time scales, joint neuron+parameter dynamics).
* :func:`threshold_temperature` measures T* (E(T*) = 2 E(0), PHYSICS.md §7) and Gamma = W/(2 N S rho kT*).
* :class:`TrainConfig`, :class:`TemperatureSchedule`, :func:`presentation_order` describe a run.

See ``docs/training.md``.
"""

from .books import Books, TrainResult
from .config import TemperatureSchedule, TrainConfig, presentation_order
from .engine import effective_output_stiffness, train
from .objective import full_batch_objective, minimize_objective, mse_loss, stress_gradients
from .tstar import TStarResult, threshold_temperature

__all__ = ["train", "TrainResult", "Books", "TrainConfig", "TemperatureSchedule", "presentation_order",
           "threshold_temperature", "TStarResult", "full_batch_objective", "minimize_objective", "mse_loss",
           "stress_gradients", "effective_output_stiffness"]
