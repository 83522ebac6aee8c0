"""Three LLVM operations the compiled sweeps need and numba does not expose, as numba intrinsics.

- :func:`_prefetch`: a cache hint (``llvm.prefetch``);
- :func:`_as_float64` and :func:`_as_int64`: a float64's bits as an int64 and back (LLVM's ``bitcast``), so the
  sweep's exponential and logarithm can build and read floating-point numbers bit by bit in a loop that compiles
  to SIMD code (through an array's ``view`` they needed scratch arrays and a pass of their own).

Each is usable only inside ``numba.njit`` functions.
"""

from __future__ import annotations

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
