"""Physical training: stress-driven parameter Langevin annealing (Tkachenko Eq. 8-16).

* :func:`train` runs a training protocol and returns a :class:`TrainResult` with the energy books and loss
  curves; two fidelities (separated time scales, joint neuron+parameter dynamics with clamp ramps). The
  books are measured on the simulated process (:class:`Books`: switching work ``W_sw``, neuron heat
  ``Q_x``, Stratonovich parameter heat ``Q_theta``, first-law residual) beside Eq. 15's prediction ``W_eq15``.
* :func:`threshold_temperature` measures T* (E(T*) = 2 E(0)), Gamma = W/(2 N S rho kT*) from Eq. 15's
  prediction and ``Gamma_measured`` from the measured parameter heat.
* :mod:`analogsim.training.figures`: the energy budget of a run and the 1/tau_switch law.
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
