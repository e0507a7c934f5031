"""Train a convolutional net on the digits physically, starting from a torch model and ending with one.

    python examples/graph_digits.py [--presentations 1000] [--out net.npz]

1. define the net in torch (conv 1->8 3x3 tanh, conv 8->16 3x3 stride 2 tanh, dense -> 10) and trace it;
2. train it as a physical system: stress-driven parameter Langevin annealing at kT > 0 with the neurons at the
   clamped minimum (separated time scales), kappa_out/kappa_hidden = 1e-3, hard clamp on one-hot targets;
3. print the held-out accuracy and the energy books (measured switching work and heats; Eq. 15/16 predictions);
4. export the trained net back to torch and check that it gives the same outputs.
"""

from __future__ import annotations

import argparse

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presentations", type=int, default=1000)
    ap.add_argument("--out", default=None, help="save the trained network here (.npz)")
    args = ap.parse_args(argv)
    import torch

    from analogsim.graph import GraphNetwork
    from analogsim.data.images import as_images, digits_images
    from analogsim.training.graph import train

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.Tanh(),
                                torch.nn.Conv2d(8, 16, 3, stride=2, padding=1), torch.nn.Tanh(),
                                torch.nn.Flatten(), torch.nn.Linear(256, 10)).double()
    ds, shape = digits_images(seed=0)
    net = GraphNetwork.from_torch(model, shape, kappa=1.0)
    print(net)
    res = train(net, ds.x_train, ds.t_train, ds.x_test, ds.t_test, presentations=args.presentations, mu=50.0,
                kT=1e-9, kappa_out=1e-3, batch_size=16, seed=1)
    print(res.summary())
    back = res.net.to_torch()
    with torch.no_grad():
        out = back(torch.from_numpy(as_images(ds.x_test, shape))).numpy()
    diff = np.max(np.abs(out - res.net.predict(ds.x_test)))
    print(f"torch export: max |difference| to analogsim's outputs {diff:.2e}")
    if args.out:
        from analogsim.data.graph_io import save_graph

        save_graph(res.net, args.out)
        print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
