"""Four LLVM operations the compiled sweeps need and numba does not expose, as numba intrinsics.

- :func:`_prefetch`: a cache hint (``llvm.prefetch``);
- :func:`_index_pair`: two consecutive column indices by one 8-byte load when they are 4-byte ones;
- :func:`_as_float64` and :func:`_as_int64`: a float64's bits as an int64 and back (LLVM's ``bitcast``), so the
  sweep's exponential and logarithm can build and read floating-point numbers bit by bit in a loop that compiles
  to SIMD code (through an array's ``view`` they needed scratch arrays and a pass of their own).

Each is usable only inside ``numba.njit`` functions.
"""

from __future__ import annotations

import sys

from llvmlite import ir
from numba import types
from numba.extending import intrinsic

__all__: list[str] = []  # private helpers of rift_core.exact.sparse and rift_core.exact.krylov


@intrinsic
def _prefetch(typingctx, a, i):
    """Hint the CPU to bring ``a[i]``'s cache line into its caches (a read, kept in every level). A hint only: it
    changes no result and never faults, so ``i`` may lie past the array's end."""
    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        byte_ptr, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        hint = builder.module.declare_intrinsic("llvm.prefetch", [byte_ptr],
                                                ir.FunctionType(ir.VoidType(), [byte_ptr, i32, i32, i32]))
        builder.call(hint, [builder.bitcast(builder.gep(data, [args[1]]), byte_ptr), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(a, i), codegen


@intrinsic
def _as_float64(typingctx, bits):
    """The float64 whose IEEE 754 bit pattern is the int64 ``bits``."""
    if bits != types.int64:
        return None
    return types.float64(types.int64), lambda context, builder, signature, args: builder.bitcast(args[0],
                                                                                               ir.DoubleType())


@intrinsic
def _as_int64(typingctx, value):
    """The IEEE 754 bit pattern of the float64 ``value``, as an int64."""
    if value != types.float64:
        return None
    return types.int64(types.float64), lambda context, builder, signature, args: builder.bitcast(args[0],
                                                                                                ir.IntType(64))


@intrinsic
def _index_pair(typingctx, a, i):
    """``(a[i], a[i + 1])`` as two ``np.uint64``. For a ``uint32`` array on a little-endian machine, by one 8-byte
    load split in two (the padded rows' sum loads one column index per entry, and loads are what bounds it: this
    took a few percent off the sweep); otherwise by two loads. No bounds check: the caller guarantees both exist."""
    if not (isinstance(a, types.Array) and a.ndim == 1 and a.layout == "C" and isinstance(a.dtype, types.Integer)
            and isinstance(i, types.Integer)):
        return None  # a contiguous 1-d integer array only: the loads below ignore strides
    paired = a.dtype == types.uint32 and sys.byteorder == "little"

    def codegen(context, builder, signature, args):
        array_type, index_type = signature.args
        data = context.make_array(array_type)(context, builder, args[0]).data
        i64 = ir.IntType(64)
        index = context.cast(builder, args[1], index_type, types.uint64)
        if paired:
            word = builder.load(builder.bitcast(builder.gep(data, [index]), i64.as_pointer()), align=4)
            first = builder.and_(word, i64(0xFFFFFFFF))
            second = builder.lshr(word, i64(32))
        else:
            first = context.cast(builder, builder.load(builder.gep(data, [index])), array_type.dtype, types.uint64)
            following = builder.add(index, i64(1))
            second = context.cast(builder, builder.load(builder.gep(data, [following])), array_type.dtype,
                                  types.uint64)
        return context.make_tuple(builder, signature.return_type, [first, second])

    return types.UniTuple(types.uint64, 2)(a, i), codegen
