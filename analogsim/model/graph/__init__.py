"""Graph networks as a model: operators A_{l,m}, the DAG of layers, H and its derivatives, equilibrium.

The public namespace for graph networks is :mod:`analogsim.graph`, which gathers these modules with the
graph parts of inference, training, bounds and files.
"""
