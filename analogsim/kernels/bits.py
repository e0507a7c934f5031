"""Bit casts and the unsigned index used by the compiled kernels (numba)."""

from __future__ import annotations

import numpy as np
from numba.core import types
from numba.extending import intrinsic

#: index cast for the hot loops: numba wraps negative *signed* indices (a select per access), which keeps
#: LLVM from vectorising a loop over ``base + r``; an unsigned index skips the wrap-around (3.5x on the
#: elementwise passes). Only for indices known to be >= 0.
_ux = np.uint64


@intrinsic
def _f64_bits(typingctx, x):
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.int64))

    return sig, codegen


@intrinsic
def _bits_f64(typingctx, x):
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))

    return sig, codegen


@intrinsic
def _f32_bits(typingctx, x):
    sig = types.int32(types.float32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.int32))

    return sig, codegen


@intrinsic
def _bits_f32(typingctx, x):
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float32))

    return sig, codegen
