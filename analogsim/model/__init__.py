"""The model and its energy: the network as a physical system (Tkachenko Eq. 6) and what follows from H alone.

* :mod:`.activations`: f, f', f'' by name;
* :mod:`.network`: the chain of dense layers (:class:`~.network.Network`); :mod:`.graph`: any feed-forward
  graph of layers (dense, convolution, pooling, skips);
* :mod:`.hamiltonian`: H and its derivatives (numpy reference);
* :mod:`.equilibrium`: the exact clamped-input sampler and the free energy;
* :mod:`.clamped` (with :mod:`._newton`): the clamped minimum, the stress, stress vs backprop;
* :mod:`.crosscheck`: every derivative against torch autograd; :mod:`.torch_io`: ``nn.Sequential`` in and out.

Nothing here moves in time: the dynamics live in :mod:`analogsim.inference` and :mod:`analogsim.training`.
"""
