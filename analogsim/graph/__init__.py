"""Graph networks: any feed-forward network that Eq. 6 allows (skips, residuals, convolutions, pooling).

The public namespace for graph networks. The model classes are imported here (numpy only); the rest is
reached as submodules of this namespace, loaded on first use, each living in its concept's package:

=====================  ===========================================  ========================================
``graph.energy``       H, its derivatives, Hessian-vector products  :mod:`analogsim.model.graph.energy`
``graph.equilibrium``  exact sampler, clamped minimum, stress       :mod:`analogsim.model.graph.equilibrium`
``graph.dynamics``     Langevin relaxation with energy books        :mod:`analogsim.inference.graph`
``graph.training``     physical training with its books             :mod:`analogsim.training.graph`
``graph.tstar``        the threshold temperature T*                 :mod:`analogsim.training.graph_tstar`
``graph.bounds``       the activity of Eq. 5 and N                  :mod:`analogsim.bounds.graph`
``graph.config``       a TOML way to write a graph                  :mod:`analogsim.data.graph_config`
``graph.io``           save and load (npz, no pickle)               :mod:`analogsim.data.graph_io`
``graph.data``         the digits as 1x8x8 images                   :mod:`analogsim.data.images`
``graph.torch_fx``     torch in and out (needs torch)               :mod:`analogsim.model.graph.torch_fx`
``graph.plot``         draw the graph                               :mod:`analogsim.model.graph.plot`
=====================  ===========================================  ========================================

Examples
--------
>>> from analogsim import graph
>>> b = graph.GraphBuilder((4,))
>>> h = b.dense("x0", 8, activation="tanh")
>>> net = b.build(seed=0)
>>> graph.energy.__name__
'analogsim.model.graph.energy'
"""

import importlib

from ..model.graph.builder import GraphBuilder, initialise
from ..model.graph.model import Edge, GraphNetwork, Layer
from ..model.graph.operators import AvgPool, Conv, Dense, Identity, Operator

_SUBMODULES = {
    "energy": "analogsim.model.graph.energy", "equilibrium": "analogsim.model.graph.equilibrium",
    "torch_fx": "analogsim.model.graph.torch_fx", "plot": "analogsim.model.graph.plot",
    "operators": "analogsim.model.graph.operators", "model": "analogsim.model.graph.model",
    "builder": "analogsim.model.graph.builder", "dynamics": "analogsim.inference.graph",
    "training": "analogsim.training.graph", "tstar": "analogsim.training.graph_tstar",
    "bounds": "analogsim.bounds.graph", "config": "analogsim.data.graph_config",
    "io": "analogsim.data.graph_io", "data": "analogsim.data.images",
}


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(_SUBMODULES[name])
    raise AttributeError(f"module 'analogsim.graph' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_SUBMODULES))


__all__ = ["GraphNetwork", "Layer", "Edge", "GraphBuilder", "initialise", "Operator", "Dense", "Conv", "AvgPool",
           "Identity"]
