"""Import from and export to ``torch.nn.Sequential`` (Linear + activation layers).

torch is optional: it is imported only inside these functions, and a missing torch raises an
ImportError that names the ``torch`` extra. Supported layers, in order, are ``Linear`` modules each
followed by at most one activation module: ``ReLU``, ``Tanh``, ``Sigmoid``, ``Softplus`` (beta = 1 and
the default threshold 20 only) or ``Identity``. A ``Linear`` with no activation after it is an identity
layer. Anything else (convolutions, dropout, normalisation, LeakyReLU, two activations in a row) is not
part of the physical model of Eq. 6 and is rejected with a ValueError that names the offending module.

Note on ``Softplus``: torch's module switches to the identity above ``beta * y > threshold`` (20); analogsim
evaluates ``log(1 + exp(y))`` everywhere. The two differ by less than ``exp(-20) ≈ 2e-9`` there.
"""

from __future__ import annotations

import numpy as np

from .._checks import as_dtype, check_array

#: torch module class name -> analogsim activation name
_TORCH_ACTIVATIONS = {"ReLU": "relu", "Tanh": "tanh", "Sigmoid": "sigmoid", "Softplus": "softplus",
                      "Identity": "identity"}
_SUPPORTED = "Linear, ReLU, Tanh, Sigmoid, Softplus(beta=1, threshold=20) or Identity"


def _import_torch(feature: str):
    try:
        import torch
    except ImportError:
        from ..errors import torch_required

        raise torch_required(feature) from None
    return torch


def network_to_torch(net):
    """Export ``net`` as a ``torch.nn.Sequential`` of ``Linear`` and activation modules.

    Layer l becomes ``Linear(n_{l-1}, n_l)`` holding copies of W_l and b_l in the net's dtype, followed by
    the activation module (none for an identity layer). The stiffness kappa has no torch counterpart and is
    not exported (pass it again to :func:`network_from_torch`).

    Parameters
    ----------
    net : Network

    Returns
    -------
    torch.nn.Sequential
        On the CPU, in ``torch.float32`` or ``torch.float64`` like the net; parameters require grad.

    Raises
    ------
    ImportError
        If torch is not installed.

    Examples
    --------
    >>> from analogsim import Network
    >>> net = Network.create([3, 5, 2], activations=["tanh", "identity"], seed=0)
    >>> model = net.to_torch()                      # doctest: +SKIP
    >>> [type(m).__name__ for m in model]           # doctest: +SKIP
    ['Linear', 'Tanh', 'Linear']
    """
    torch = _import_torch("Network.to_torch")
    tdtype = torch.float64 if net.dtype == np.float64 else torch.float32
    modules = []
    for l in range(net.depth):
        n_out, n_in = net.sizes[l + 1], net.sizes[l]
        lin = torch.nn.Linear(n_in, n_out, bias=True, dtype=tdtype)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.array(net.weights[l], copy=True)))
            lin.bias.copy_(torch.from_numpy(np.array(net.biases[l], copy=True)))
        modules.append(lin)
        act = net.activations[l]
        if act.name != "identity":
            modules.append(getattr(torch.nn, act.torch_name)())
    return torch.nn.Sequential(*modules)


def network_from_torch(cls, model, kappa=1.0, dtype=None):
    """Build a :class:`~analogsim.Network` (or subclass ``cls``) from a ``torch.nn.Sequential``.

    Parameters
    ----------
    cls : type
        The class to build (``Network``).
    model : torch.nn.Sequential
        ``Linear`` modules, each followed by at most one of ReLU, Tanh, Sigmoid, Softplus (beta=1, threshold
        20) or Identity. A ``Linear`` without bias gets b = 0.
    kappa : float or sequence
        Stiffness, as in the Network constructor (torch models have none).
    dtype : {'float32', 'float64'}, optional
        Defaults to the model's parameter dtype when it is float32/float64, else float64.

    Raises
    ------
    TypeError
        ``model`` is not a ``torch.nn.Sequential``.
    ValueError
        An unsupported module, an activation that does not follow a ``Linear``, two activations in a row,
        Softplus with beta != 1 or threshold != 20, mismatched layer sizes, or non-finite parameters.

    Examples
    --------
    >>> import torch                                                  # doctest: +SKIP
    >>> model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))  # doctest: +SKIP
    >>> Network.from_torch(model, kappa=2.0).activation_names         # doctest: +SKIP
    ('tanh', 'identity')
    """
    torch = _import_torch("Network.from_torch")
    if not isinstance(model, torch.nn.Sequential):
        hint = " (wrap a single layer: torch.nn.Sequential(layer))" if isinstance(model, torch.nn.Module) else ""
        raise TypeError(f"model must be a torch.nn.Sequential of Linear and activation modules, "
                        f"got {type(model).__name__}{hint}")
    mods = list(model)
    if not mods:
        raise ValueError("model must contain at least one Linear layer, got an empty Sequential")
    weights, biases, acts = [], [], []
    param_dtype = None
    prev_kind = None  # None, 'linear' or 'act'
    for i, m in enumerate(mods):
        kind = type(m).__name__
        if isinstance(m, torch.nn.Linear):
            w = m.weight.detach().cpu()
            if param_dtype is None:
                param_dtype = w.dtype
            wn = check_array(w.to(torch.float64).numpy() if w.dtype not in (torch.float32, torch.float64)
                             else w.numpy(), f"model[{i}].weight", ndim=2)
            if weights and wn.shape[1] != weights[-1].shape[0]:
                raise ValueError(f"model[{i}] (Linear) must take {weights[-1].shape[0]} input features to follow "
                                 f"the previous Linear, got in_features={wn.shape[1]}")
            if m.bias is None:
                bn = np.zeros(wn.shape[0], dtype=wn.dtype)
            else:
                b = m.bias.detach().cpu()
                bn = check_array(b.to(torch.float64).numpy() if b.dtype not in (torch.float32, torch.float64)
                                 else b.numpy(), f"model[{i}].bias", shape=(wn.shape[0],))
            if prev_kind == "linear":
                acts.append("identity")
            weights.append(np.array(wn, copy=True))
            biases.append(np.array(bn, copy=True))
            prev_kind = "linear"
            continue
        if kind not in _TORCH_ACTIVATIONS:
            raise ValueError(f"model[{i}] is {kind}, which has no counterpart in the Hamiltonian of Eq. 6; "
                             f"expected {_SUPPORTED}")
        if prev_kind is None:
            raise ValueError(f"model[{i}] ({kind}) must follow a Linear layer; the model must start with Linear")
        if prev_kind == "act":
            raise ValueError(f"model[{i}] ({kind}) follows another activation, model[{i - 1}] "
                             f"({type(mods[i - 1]).__name__}); expected one activation per Linear layer")
        if kind == "Softplus":
            beta, thr = float(m.beta), float(m.threshold)
            if beta != 1.0 or thr != 20.0:
                raise ValueError(f"model[{i}] is Softplus(beta={beta:g}, threshold={thr:g}); expected beta=1 and "
                                 "threshold=20 (analogsim's softplus is log(1 + exp(y)))")
        acts.append(_TORCH_ACTIVATIONS[kind])
        prev_kind = "act"
    if prev_kind == "linear":
        acts.append("identity")
    if dtype is None:
        dtype = "float64" if param_dtype == torch.float64 else "float32" if param_dtype == torch.float32 else "float64"
    dt = as_dtype(dtype)
    return cls([w.astype(dt) for w in weights], [b.astype(dt) for b in biases], activations=acts, kappa=kappa,
               dtype=dt)
