"""Bit casts and the unsigned index used by the compiled kernels (numba)."""

from __future__ import annotations

import numpy as np
from numba.core import types
from numba.extending import intrinsic

#: index cast for the hot loops: numba wraps negative *signed* indices (a select per access), which keeps
#: LLVM from vectorising a loop over ``base + r``; an unsigned index skips the wrap-around (3.5x on the
#: elementwise passes). Only for indices known to be >= 0.
_ux = np.uint64


def _bitcast(name, src, dst):
    """An intrinsic reinterpreting the bits of a ``src`` scalar as ``dst`` (same width)."""
    def cast(typingctx, x):
        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], context.get_value_type(dst))

        return dst(src), codegen

    cast.__name__ = cast.__qualname__ = name
    return intrinsic(cast)


_f64_bits = _bitcast("_f64_bits", types.float64, types.int64)
_bits_f64 = _bitcast("_bits_f64", types.int64, types.float64)
_f32_bits = _bitcast("_f32_bits", types.float32, types.int32)
_bits_f32 = _bitcast("_bits_f32", types.int32, types.float32)
