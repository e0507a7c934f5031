"""Bounds and the IEM: the paper's thermodynamic bounds, Table I, their figure, and the IEM objective.

* :mod:`.formulas`: Eq. 5, 7, 16, 17, 19, 20 in natural units (with joules and bits from :mod:`.units`),
  the digital costs and the brain estimates; its names are re-exported here, so that
  ``analogsim.bounds.training_bound`` is the same function as ``analogsim.bounds.formulas.training_bound``;
* :mod:`.table_i`: Table I recomputed from printed assumptions (:func:`table1`);
* :mod:`.figures`: energy per training sample against N (:func:`bounds_figure`);
* :mod:`.entropy`, :mod:`.iem` (and the torch loss in :mod:`._iem_torch`): the IEM objective and the
  EIT-P losses of Chen & Chen;
* :mod:`.graph`: the activity of Eq. 5 and N measured on a graph network.

Examples
--------
>>> from analogsim import bounds
>>> f"{bounds.landauer(16).joules:.2e}"   # one 16-bit operation at 300 K
'4.59e-20'
"""

from .formulas import (ActivityRecord, DigitalCost, binary_entropy, brain_estimates, cooling, digital_inference,
                       digital_training, inference_dynamic, inference_dynamic_record, inference_quasistatic,
                       landauer, measure_activity, negentropy_bits, quasistatic_work_record, training_bound,
                       training_gamma)
from .units import K_B, LN2, T_ROOM, Energy, check_temperature, kT_joules


def table1(**kwargs) -> dict:
    """Table I recomputed from printed assumptions; see :func:`analogsim.bounds.table_i.table1`.

    Every cell is computed from the assumptions it prints, next to the paper's value and the ratio; a cell that
    the stated formulas do not reproduce says so (it is never forced to agree).

    Examples
    --------
    >>> t = table1()
    >>> t["T_K"], len(t["rows"]) > 0
    (300.0, True)
    """
    from .table_i import table1 as _t

    return _t(**kwargs)


def bounds_figure(**kwargs):
    """The energy-per-training-sample figure as a matplotlib Figure.

    See :func:`analogsim.bounds.figures.plot_training_energy` for the arguments.

    Examples
    --------
    >>> fig = bounds_figure(T=300)
    >>> fig.axes[0].get_xscale()
    'log'
    """
    from .figures import plot_training_energy

    return plot_training_energy(**kwargs)[0]


__all__ = ["landauer", "negentropy_bits", "binary_entropy", "inference_dynamic", "inference_dynamic_record",
           "ActivityRecord", "measure_activity", "inference_quasistatic", "quasistatic_work_record",
           "training_bound", "training_gamma", "DigitalCost", "digital_training", "digital_inference", "cooling",
           "brain_estimates", "table1", "bounds_figure", "K_B", "LN2", "T_ROOM", "Energy", "check_temperature",
           "kT_joules"]
