"""Graph networks: any feed-forward network that Eq. 6 allows (skips, residuals, convolutions, pooling).

Import this subpackage explicitly (``from analogsim.graph import GraphNetwork``); it loads numpy only.
torch is needed only by :mod:`analogsim.graph.torch_fx`.
"""

from .builder import GraphBuilder, initialise
from .model import Edge, GraphNetwork, Layer
from .operators import AvgPool, Conv, Dense, Identity, Operator

__all__ = ["GraphNetwork", "Layer", "Edge", "GraphBuilder", "initialise", "Operator", "Dense", "Conv", "AvgPool",
           "Identity"]
