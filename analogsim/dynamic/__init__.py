r"""The dynamic analog machine (Eq. 3-5) as a physical process: each relu state bit is a bistable element.

A relu neuron's state s_i = Theta(y_i) is stored in an overdamped particle in a double well,

    U(q; E, t) = E_in (q^2 - 1)^2 - t q / 2        (wells at q = -1: s = 0 and q = +1: s = 1),

at temperature T, with the barrier E and the tilt t as control parameters that protocols move
(:mod:`.element`, :mod:`.protocols`). Every inference *sets* the bit (the signal tilts the element so
that it ends in s = Theta(y)), *reads* it, and *resets* it to s = 0 (:mod:`.cycle`). The energy is
measured, not computed: the work is the sum of the changes of U when a control parameter moves at fixed
q, the heat the change of U when q moves, and the first law closes per element and cycle (Sekimoto).

What the physics says (and what this package measures):

* erasing a bit of occupation p with the standard protocol (lower, tilt, raise, untilt) costs at least
  kT ln 2 whatever p (the lowered barrier lets the occupation relax to 1/2 irreversibly);
* a prior-adapted protocol (first tilt so that the equilibrium occupation equals p) costs kT H(p),
  H(p) = -p ln p - (1-p) ln(1-p): Eq. 5 of the paper, per element;
* uncomputing while the input is still present (the set run backwards) costs nothing quasi-statically
  (Bennett): Eq. 5 bounds a machine that discards its input;
* a finite duration tau adds an excess work ~ 1/tau; the reset error is the Boltzmann occupation of the
  wrong well when the barrier closes (~ exp(-tilt/kT)); a stored bit lives ~ exp(E_b/kT) (Kramers).

The linear parts of the machine (Eq. 1, 3) are lossless, as the paper assumes; a dissipation per linear
operation can be added (:class:`~.cycle.InferenceMachine` ``linear_cost``).

Examples
--------
>>> from analogsim.dynamic import DoubleWell, standard_erasure, run_segments, hold
>>> b = run_segments(DoubleWell(), [(hold(), 5.0), (standard_erasure(), 80.0)], n_elements=256, seed=0)
>>> w, se = b.mean_work("standard")
>>> w > 0.5
True
"""

from .cycle import CycleBooks, InferenceMachine, MachineResult, fit_quasistatic, prior_tilts, run_segments
from .element import DoubleWell
from .protocols import (RESET_PROTOCOLS, Protocol, hold, prior_adapted_erasure, set_protocol, standard_erasure,
                        uncompute)

__all__ = ["DoubleWell", "Protocol", "standard_erasure", "prior_adapted_erasure", "uncompute", "set_protocol", "hold",
           "RESET_PROTOCOLS", "run_segments", "CycleBooks", "InferenceMachine", "MachineResult", "fit_quasistatic",
           "prior_tilts"]
