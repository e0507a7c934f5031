r"""What training measures the network by, and what it trains on: the loss on a data set, the output stiffness.

* :func:`mse_loss`: mean over entries of 0.5 |f(x) - t|^2 with the zero-temperature forward pass (numpy BLAS
  over blocks of rows);
* :func:`effective_output_stiffness`: a soft output clamp is a hard clamp of this stiffness;
* :func:`coerce_data`: a :class:`~analogsim.data.Dataset` in the net's dtype, shapes checked;
* the kernels' workspaces (:class:`_Workspace`) and their view of a network.

Shared by the training loop (:mod:`.engine`), the full-batch objective and T* (:mod:`.objective`, :mod:`.tstar`).
"""

from __future__ import annotations

import numpy as np

from ..data import Dataset
from ..model.network import Network

def effective_output_stiffness(net: Network, kappa_out):
    """Per output neuron: kappa_L (hard clamp) or kappa_L kappa_out / (kappa_L + kappa_out) (soft clamp).

    Eliminating the free output neuron of a soft clamp at its minimum gives exactly a hard clamp with
    this stiffness: the stress is kout (f(y_L) - t) f'(y_L) and the output energy kout/2 |f - t|^2.

    Examples
    --------
    >>> from analogsim import Network
    >>> net = Network.create([2, 3, 1], kappa=1.0, seed=0)
    >>> float(effective_output_stiffness(net, 1.0)[0])          # two unit springs in series
    0.5
    """
    kL = net.kappa[-1].astype(np.float64)
    if kappa_out is None:
        return kL.astype(net.dtype)
    return (kL * kappa_out / (kL + kappa_out)).astype(net.dtype)


def coerce_data(data, net: Network) -> Dataset:
    """A :class:`Dataset` in the net's dtype from a Dataset, (x, t) or (x, t, x_test, t_test); shapes checked.

    Examples
    --------
    >>> from analogsim import Network
    >>> net = Network.create([2, 3, 1], seed=0)
    >>> ds = coerce_data(([[0.0, 1.0], [1.0, 0.0]], [[1.0], [-1.0]]), net)
    >>> ds.n_train, ds.n_test
    (2, 0)
    """
    from ..data import from_arrays

    if isinstance(data, Dataset):
        ds = data
    elif isinstance(data, (tuple, list)) and len(data) in (2, 4):
        ds = from_arrays(*data)
    elif isinstance(data, dict):
        ds = from_arrays(data.get("x_train", data.get("x")), data.get("t_train", data.get("t")),
                         data.get("x_test"), data.get("t_test"))
    else:
        raise TypeError(f"data must be a Dataset, a tuple (x, t) or (x, t, x_test, t_test), got {type(data).__name__}")
    ds.check_network(net)
    return ds.astype(net.dtype)


_LOSS_BLOCK = 64  # rows per BLAS product in the loss's forward pass (at least)
_LOSS_ELEMS = 1 << 20  # largest layer block (rows x neurons) of the loss's forward pass


class _Workspace:
    """Kernel workspaces for batches of up to B rows (flat, layer-major; see analogsim.kernels.train)."""

    def __init__(self, net: Network, B: int):
        dt = net.dtype
        nn = net.n_neurons
        self.B = B
        self.x0 = np.zeros(B * net.sizes[0], dt)
        self.tb = np.zeros(B * net.sizes[-1], dt)
        self.Y = np.zeros(B * nn, dt)
        self.FP = np.zeros(B * nn, dt)
        self.DEL = np.zeros(B * nn, dt)
        self.XS = np.zeros(B * nn, dt)
        self.SIG = np.zeros(B * nn, dt)
        self.FV = np.zeros(B * nn, dt)
        self.YN = np.zeros(B * nn, dt)
        self.scr = np.zeros(4 * B, np.float64)
        self.relg = np.zeros(B, np.float64)
        self.hrow = np.zeros(B, np.float64)
        self.gbuf = np.zeros(max(a * b for a, b in zip(net.sizes[:-1], net.sizes[1:])), dt)
        self.nbuf = np.zeros(net.n_params + nn, dt)
        self.k_off = np.concatenate([[0], np.cumsum(net.sizes[1:])]).astype(np.int64)
        # energy books: realised parameter change, its pre-activation change, carried state, results
        self.dth = np.zeros(net.n_params, dt)
        self.DY = np.zeros(B * nn, dt)
        self.eres = np.zeros(5, np.float64)

    def put(self, arr, l: int, values: np.ndarray) -> None:
        """Write a (B, n_l) block of layer l (1-based) into a layer-major workspace."""
        B = values.shape[0]
        arr[B * self.k_off[l - 1]:B * self.k_off[l]] = values.ravel()


def _kernel_net(net: Network):
    theta, sizes, w_off, b_off, acts, kappa, k_off = net.kernel_args()
    return theta, sizes, w_off, b_off, acts, np.ascontiguousarray(kappa, dtype=net.dtype), k_off


def mse_loss(net: Network, x, t, ws: _Workspace | None = None) -> float:
    """Mean over entries of 0.5 |f(x) - t|^2 with the zero-temperature forward pass (nan for no entries).

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim import Network
    >>> net = Network.create([2, 3, 1], seed=0)
    >>> x = np.array([[0.1, 0.2], [0.3, -0.4]])
    >>> t = net.forward(x)[-1] + 1.0                              # every output 1 away from its target
    >>> mse_loss(net, x, t)
    0.5
    """
    n = x.shape[0]
    if n == 0:
        return float("nan")
    # numpy's BLAS products and vectorised activations over blocks of rows (bounded memory): on the
    # [64,256,256,10] net 2-6x faster than a compiled loop over blocks of 64 rows
    Ws, bs, fs = net.weights, net.biases, [a.f for a in net.activations]
    block = max(_LOSS_BLOCK, _LOSS_ELEMS // max(net.sizes))
    total = 0.0
    for a in range(0, n, block):
        h = x[a:a + block]
        for l in range(net.depth):
            h = h @ Ws[l].T
            h += bs[l]
            h = fs[l](h)
        e = (h - t[a:a + block]).astype(np.float64, copy=False)
        total += 0.5 * float(np.einsum("ij,ij->", e, e))
    return total / n
