"""Random numbers: `Generator`, the default generator and seeding, and every sampler.

Each `Generator` wraps a NumPy `Generator(PCG64)`, so streams are reproducible after
`manual_seed` but are not torch's bit-for-bit (torch uses mt19937 and its own transforms).
NumPy's global RNG is never used. As in torch, `Generator()` starts from seed
67280421310721 and the default generator from a nondeterministic seed chosen at import.

Samplers return new leaves that do not require grad unless `requires_grad=True` is passed;
the in-place ones (`uniform_`, `normal_`, ...) refuse leaves that require grad while grad mode
is on, with torch's error, and bump the version counter like any in-place op.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import _dtype
from ._device import CPU, check_device
from ._factories import _C_NAMES as _FILL_C_NAMES
from ._factories import (
    _fmt,
    _int_arg,
    _like_input,
    _not_implemented,
    dtype_arg,
    leaf,
    scalar_arg,
    size_arg,
    tuple_size_arg,
)
from ._tensor import Tensor
from .autograd.grad_mode import STATE

__all__ = [
    "Generator",
    "bernoulli",
    "default_generator",
    "get_rng_state",
    "initial_seed",
    "manual_seed",
    "multinomial",
    "normal",
    "rand",
    "rand_like",
    "randint",
    "randint_like",
    "randn",
    "randn_like",
    "randperm",
    "seed",
    "set_rng_state",
]

_DEFAULT_SEED = 67280421310721  # torch's seed for a fresh Generator()
_STATE_BYTES = 45  # seed (8) + PCG64 state (16) + increment (16) + has_uint32 (1) + uinteger (4)
# The C++ type names torch's random_/randint bound errors use.
_C_NAMES = {
    "bool": "bool",
    "uint8": "unsigned char",
    "int8": "signed char",
    "int16": "short",
    "int32": "int",
    "int64": "long",
}


class Generator:
    """A random-number stream with torch's API: seed it, save and restore its state."""

    def __init__(self, device: Any = "cpu") -> None:
        check_device(device)
        self.device = CPU
        self.manual_seed(_DEFAULT_SEED)

    def manual_seed(self, seed: int) -> Generator:
        """Restart the stream from `seed` (any int in [-2**63, 2**64)); returns self."""
        value = _int_arg(seed)
        if value is None:
            raise RuntimeError(f"manual_seed expected a long, but got {type(seed).__name__}")
        if not -(2**63) <= value < 2**64:
            raise ValueError("Overflow when unpacking long long")
        # Matches torch: negative seeds are stored as their unsigned 64-bit value.
        self._seed = value % 2**64
        self._rng = np.random.Generator(np.random.PCG64(self._seed))
        return self

    def seed(self) -> int:
        """Reseed from the operating system's entropy; returns the new seed."""
        value = int.from_bytes(os.urandom(8), "little")
        self.manual_seed(value)
        return value

    def initial_seed(self) -> int:
        """The seed the stream was last started from."""
        return self._seed

    def get_state(self) -> Tensor:
        """The full state as a uint8 tensor, for `set_state` (torch's ByteTensor convention)."""
        st = self._rng.bit_generator.state
        raw = (
            self._seed.to_bytes(8, "little")
            + st["state"]["state"].to_bytes(16, "little")
            + st["state"]["inc"].to_bytes(16, "little")
            + bytes([st["has_uint32"]])
            + st["uinteger"].to_bytes(4, "little")
        )
        return Tensor._make(np.frombuffer(raw, dtype=np.uint8).copy())

    def set_state(self, new_state: Tensor) -> Generator:
        """Restore a state from `get_state` (seed included); returns self."""
        if not isinstance(new_state, Tensor):
            raise TypeError(f"expected a ember.ByteTensor, but got {type(new_state).__name__}")
        if new_state.dtype is not _dtype.uint8:
            raise TypeError("RNG state must be a ember.ByteTensor")
        if new_state.numel() != _STATE_BYTES:
            raise RuntimeError(
                f"Expected a CPUGeneratorImplState of size {_STATE_BYTES} but found the input "
                f"RNG state size to be {new_state.numel()}"
            )
        raw = new_state._data.tobytes()
        self._seed = int.from_bytes(raw[:8], "little")
        self._rng = np.random.Generator(np.random.PCG64())
        self._rng.bit_generator.state = {
            "bit_generator": "PCG64",
            "state": {
                "state": int.from_bytes(raw[8:24], "little"),
                "inc": int.from_bytes(raw[24:40], "little"),
            },
            "has_uint32": raw[40],
            "uinteger": int.from_bytes(raw[41:45], "little"),
        }
        return self


default_generator = Generator()
default_generator.seed()  # Matches torch: the default stream differs from run to run.


def manual_seed(seed: int) -> Generator:
    """Seed the default generator (torch converts with `int(seed)` first); returns it."""
    return default_generator.manual_seed(int(seed))


def seed() -> int:
    """Reseed the default generator nondeterministically; returns the seed."""
    return default_generator.seed()


def initial_seed() -> int:
    """The seed the default generator was last started from."""
    return default_generator.initial_seed()


def get_rng_state() -> Tensor:
    """The default generator's state as a uint8 tensor."""
    return default_generator.get_state()


def set_rng_state(new_state: Tensor) -> None:
    """Restore the default generator's state from `get_rng_state`."""
    default_generator.set_state(new_state)


# ---- drawing arrays ----------------------------------------------------------------------------
def _rng(generator: Generator | None, fname: str) -> np.random.Generator:
    if generator is None:
        return default_generator._rng
    if not isinstance(generator, Generator):
        raise TypeError(
            f"{fname}(): argument 'generator' must be ember.Generator, "
            f"not {type(generator).__name__}"
        )
    return generator._rng


def _uniform(rng: np.random.Generator, shape: tuple, d: _dtype.dtype) -> np.ndarray:
    """Uniform on [0, 1) in dtype d; complex dtypes draw the real and imaginary parts."""
    if d._cat == 3:
        parts = _uniform(rng, shape + (2,), d.to_real())
        return (parts[..., 0] + 1j * parts[..., 1]).astype(d.np)
    if d is _dtype.float16:
        # Matches torch: float16 draws 11 random bits, so rounding can never produce 1.0.
        return (rng.integers(0, 2**11, shape) * 2.0**-11).astype(np.float16)
    work = np.float32 if d is _dtype.float32 else np.float64
    return np.asarray(rng.random(shape, dtype=work))


def _normal(rng: np.random.Generator, shape: tuple, d: _dtype.dtype) -> np.ndarray:
    """Standard normal in dtype d; complex draws have variance 1/2 per part, as torch's."""
    if d._cat == 3:
        parts = _normal(rng, shape + (2,), d.to_real()) * np.sqrt(0.5)
        return (parts[..., 0] + 1j * parts[..., 1]).astype(d.np)
    work = np.float32 if d is _dtype.float32 else np.float64
    return np.asarray(rng.standard_normal(shape, dtype=work)).astype(d.np, copy=False)


def _integers(rng: np.random.Generator, low: int, high: int, shape: tuple) -> np.ndarray:
    """Integers in [low, high) as int64 (high may be 2**63, as for random_ on int64)."""
    return rng.integers(low, high - 1, shape, dtype=np.int64, endpoint=True)


def _float_dtype(dtype: Any, fname: str, kernel: str) -> _dtype.dtype:
    d = dtype_arg(dtype, fname) or _dtype.get_default_dtype()
    if d._cat < 2:
        raise _not_implemented(kernel, d)
    return d


def _check_range(low: int, high: int, d: _dtype.dtype) -> None:
    """torch's checks for an integer draw in [low, high) stored as dtype d."""
    if low >= high:
        raise RuntimeError(
            f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}"
        )
    if d._cat <= 1:
        lo, hi = (0, 1) if d is _dtype.bool_ else (np.iinfo(d.np).min, np.iinfo(d.np).max)
        if not lo <= low <= hi:
            raise RuntimeError(f"from is out of bounds for {_C_NAMES[d.name]}")
        if not lo <= high - 1 <= hi:
            raise RuntimeError(f"to - 1 is out of bounds for {_C_NAMES[d.name]}")


def _long_arg(x: Any, name: str, fname: str) -> int:
    value = _int_arg(x)
    if value is None:
        raise TypeError(f"{fname}(): argument '{name}' must be int, not {type(x).__name__}")
    if not -(2**63) <= value < 2**63:
        raise ValueError("Overflow when unpacking long long")
    return value


def _broadcast_shape(a: tuple, b: tuple) -> tuple:
    """np.broadcast_shapes with torch's message for mismatched sizes."""
    try:
        return np.broadcast_shapes(a, b)
    except ValueError:
        for i in range(1, min(len(a), len(b)) + 1):
            if a[-i] != b[-i] and 1 not in (a[-i], b[-i]):
                dim = max(len(a), len(b)) - i
                raise RuntimeError(
                    f"The size of tensor a ({a[-i]}) must match the size of tensor b ({b[-i]}) "
                    f"at non-singleton dimension {dim}"
                ) from None
        raise


# ---- factories ---------------------------------------------------------------------------------
def rand(
    *size_args: Any,
    size: Any = None,
    generator: Generator | None = None,
    out: None = None,
    dtype: _dtype.dtype | None = None,
    layout: Any = None,
    device: Any = None,
    pin_memory: bool = False,
    requires_grad: bool = False,
) -> Tensor:
    """Uniform samples on [0, 1) of the given size (floating and complex dtypes only)."""
    check_device(device)
    shape = size_arg(size_args, size, "rand")
    d = _float_dtype(dtype, "rand", "check_uniform_bounds")
    return leaf(_uniform(_rng(generator, "rand"), shape, d).astype(d.np), requires_grad)


def randn(
    *size_args: Any,
    size: Any = None,
    generator: Generator | None = None,
    out: None = None,
    dtype: _dtype.dtype | None = None,
    layout: Any = None,
    device: Any = None,
    pin_memory: bool = False,
    requires_grad: bool = False,
) -> Tensor:
    """Standard normal samples of the given size (floating and complex dtypes only)."""
    check_device(device)
    shape = size_arg(size_args, size, "randn")
    d = _float_dtype(dtype, "randn", "normal_kernel_cpu")
    return leaf(_normal(_rng(generator, "randn"), shape, d), requires_grad)


def randint(
    *args: Any,
    low: int | None = None,
    high: int | None = None,
    size: Sequence[int] | None = None,
    generator: Generator | None = None,
    out: None = None,
    dtype: _dtype.dtype | None = None,
    layout: Any = None,
    device: Any = None,
    pin_memory: bool = False,
    requires_grad: bool = False,
) -> Tensor:
    """Integers drawn uniformly from [low, high): `randint(high, size)` or
    `randint(low, high, size)` (torch's two overloads); int64 unless `dtype=`."""
    check_device(device)
    rest = list(args)
    position = len(args)
    if size is None and rest:
        size = rest.pop()
    if high is None and rest:
        high = rest.pop()
    if low is None:
        low = rest.pop() if rest else 0
    if rest or size is None or high is None:
        raise TypeError(
            "randint() received an invalid combination of arguments: expected "
            "(int high, tuple of ints size) or (int low, int high, tuple of ints size)"
        )
    shape = tuple_size_arg(size, "randint", position)
    low, high = _long_arg(low, "low", "randint"), _long_arg(high, "high", "randint")
    d = dtype_arg(dtype, "randint") or _dtype.int64
    _check_range(low, high, d)
    arr = _integers(_rng(generator, "randint"), low, high, shape)
    return leaf(arr.astype(d.np), requires_grad)


def randperm(
    n: int,
    *,
    generator: Generator | None = None,
    out: None = None,
    dtype: _dtype.dtype | None = None,
    layout: Any = None,
    device: Any = None,
    pin_memory: bool = False,
    requires_grad: bool = False,
) -> Tensor:
    """A random permutation of 0 .. n-1 (int64 unless `dtype=`)."""
    check_device(device)
    n = _long_arg(n, "n", "randperm")
    if n < 0:
        raise RuntimeError(f"Trying to create tensor with negative dimension {n}: [{n}]")
    d = dtype_arg(dtype, "randperm") or _dtype.int64
    if d is _dtype.bool_ or d._cat == 3:
        raise _not_implemented("randperm", d)
    if d._cat == 1 and n - 1 > np.iinfo(d.np).max:
        raise RuntimeError(
            f"value cannot be converted to type {_FILL_C_NAMES[d.name]} without overflow"
        )
    arr = _rng(generator, "randperm").permutation(n).astype(d.np)
    return leaf(arr, requires_grad)


def normal(
    mean: Tensor | float,
    std: Tensor | float = 1.0,
    size: Sequence[int] | None = None,
    *,
    generator: Generator | None = None,
    out: None = None,
    dtype: _dtype.dtype | None = None,
    layout: Any = None,
    device: Any = None,
    pin_memory: bool = False,
    requires_grad: bool = False,
) -> Tensor:
    """Normal samples: `normal(mean_t, std_t)`, `normal(mean_t, std)`, `normal(mean, std_t)`
    (shapes broadcast; dtype of the tensor argument) or `normal(mean, std, size)`.

    Unlike torch, the result never has a grad_fn: torch records a node whose gradient is zero.
    """
    mean_t, std_t = isinstance(mean, Tensor), isinstance(std, Tensor)
    rng = _rng(generator, "normal")
    if not (mean_t or std_t):
        if size is None:
            raise TypeError(
                "normal() received an invalid combination of arguments: with a float mean "
                "and std, a size is required: normal(mean, std, size)"
            )
        check_device(device)
        shape = tuple_size_arg(size, "normal")
        d = _float_dtype(dtype, "normal", "normal_kernel_cpu")
        _check_std(std)
        arr = (mean + std * _normal(rng, shape, d)).astype(d.np)
        return leaf(arr, requires_grad)
    d = mean.dtype if mean_t else std.dtype
    if d._cat < 2:
        raise _not_implemented("normal_kernel_cpu", d)
    m = mean._data if mean_t else scalar_arg(mean)
    s = std._data if std_t else scalar_arg(std)
    if std_t and (s < 0).any():
        raise RuntimeError("normal expects all elements of std >= 0.0")
    if not std_t:
        _check_std(s)
    shape = _broadcast_shape(np.shape(m), np.shape(s))
    return Tensor._make((m + s * _normal(rng, shape, d)).astype(d.np))


def _check_std(std: float) -> None:
    if std < 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {_fmt(std)}")


def _check_p(p: float) -> None:
    if not 0 <= p <= 1:
        raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={_fmt(p)}")


def bernoulli(
    input: Tensor,
    p: float | None = None,
    *,
    generator: Generator | None = None,
    out: None = None,
) -> Tensor:
    """0/1 draws in input's dtype: with probabilities `input`, or with probability `p`.

    Unlike torch, the result never has a grad_fn: torch records a node whose gradient is zero.
    """
    x = _like_input(input, "bernoulli")
    if p is None:
        if x.dtype._cat < 2:
            raise _not_implemented("bernoulli_tensor_cpu_p_", x.dtype)
        probs = x._data
        if not ((probs >= 0) & (probs <= 1)).all():
            raise RuntimeError("Expected p_in >= 0 && p_in <= 1 to be true, but got false.")
    else:
        probs = scalar_arg(p)
        _check_p(probs)
    draws = _uniform(_rng(generator, "bernoulli"), x.shape, _dtype.float64) < probs
    return Tensor._make(draws.astype(x.dtype.np))


def multinomial(
    input: Tensor,
    num_samples: int,
    replacement: bool = False,
    *,
    generator: Generator | None = None,
    out: None = None,
) -> Tensor:
    """Indices drawn from the categories whose weights are input's last dim (1-d or 2-d).

    Without replacement this is torch's method: the top `num_samples` of weight / Exp(1), so
    zero-weight categories come last instead of raising.
    """
    x = _like_input(input, "multinomial")
    if x.dtype._cat != 2:
        raise RuntimeError(
            "multinomial only supports floating-point dtypes for input, got: "
            f"{_dtype.SCALAR_NAMES[x.dtype.name]}"
        )
    if x.ndim not in (1, 2):
        raise RuntimeError("prob_dist must be 1 or 2 dim")
    if num_samples <= 0:
        raise RuntimeError("cannot sample n_sample <= 0 samples")
    if not replacement and num_samples > x.shape[-1]:
        raise RuntimeError(
            "cannot sample n_sample > prob_dist.size(-1) samples without replacement"
        )
    w = x._data.astype(np.float64).reshape(-1, x.shape[-1])
    if not (np.isfinite(w) & (w >= 0)).all():
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    if (w.sum(axis=1) <= 0).any():
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
    rng = _rng(generator, "multinomial")
    if replacement:
        cdf = np.cumsum(w, axis=1)
        u = rng.random((w.shape[0], num_samples)) * cdf[:, -1:]
        idx = np.stack([np.searchsorted(c, r, side="right") for c, r in zip(cdf, u)])
    else:
        keys = w / rng.exponential(size=w.shape)
        idx = np.argsort(-keys, axis=1, kind="stable")[:, :num_samples]
    return Tensor._make(idx.reshape(x.shape[:-1] + (num_samples,)).astype(np.int64))


# ---- *_like ------------------------------------------------------------------------------------
def rand_like(
    input: Tensor,
    *,
    generator: Generator | None = None,
    dtype: _dtype.dtype | None = None,
    layout: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    memory_format: Any = None,
) -> Tensor:
    """Uniform [0, 1) samples with the shape and (unless `dtype=`) dtype of `input`."""
    x = _like_input(input, "rand_like")
    d = dtype_arg(dtype, "rand_like") or x.dtype
    return rand(x.shape, generator=generator, dtype=d, device=device, requires_grad=requires_grad)


def randn_like(
    input: Tensor,
    *,
    generator: Generator | None = None,
    dtype: _dtype.dtype | None = None,
    layout: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    memory_format: Any = None,
) -> Tensor:
    """Standard normal samples with the shape and (unless `dtype=`) dtype of `input`."""
    x = _like_input(input, "randn_like")
    d = dtype_arg(dtype, "randn_like") or x.dtype
    return randn(x.shape, generator=generator, dtype=d, device=device, requires_grad=requires_grad)


def randint_like(
    input: Tensor,
    low: int = 0,
    high: int | None = None,
    *,
    generator: Generator | None = None,
    dtype: _dtype.dtype | None = None,
    layout: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    memory_format: Any = None,
) -> Tensor:
    """Integers from [low, high) with the shape and dtype of `input`: `randint_like(x, high)`
    or `randint_like(x, low, high)`."""
    x = _like_input(input, "randint_like")
    if high is None:
        low, high = 0, low
    d = dtype_arg(dtype, "randint_like") or x.dtype
    return randint(
        low, high, x.shape, generator=generator, dtype=d, device=device, requires_grad=requires_grad
    )


# ---- in-place samplers (Tensor methods) --------------------------------------------------------
def _write(t: Tensor, values: np.ndarray) -> Tensor:
    """Store samples into t in place (views write through to their base) and bump its version."""
    t._data[...] = values
    t._vc[0] += 1
    return t


def _check_inplace(t: Tensor) -> None:
    """torch's refusal to overwrite a leaf that requires grad while the graph is recorded."""
    if not (STATE.enabled and t._requires_grad):
        return
    if t._grad_fn is None:
        raise RuntimeError(
            "a leaf Variable that requires grad is being used in an in-place operation."
        )
    base = t._base
    if base is not None and base._requires_grad and base._grad_fn is None:
        raise RuntimeError(
            "a view of a leaf Variable that requires grad is being used in an in-place operation."
        )
    raise NotImplementedError(
        "ember cannot sample in place into a tensor that is part of a graph (torch records a "
        "node with zero gradient); sample into a new tensor or under ember.no_grad()."
    )


def uniform_(
    self: Tensor, from_: float = 0.0, to: float = 1.0, *, generator: Generator | None = None
) -> Tensor:
    """Fill self with uniform samples on [from_, to)."""
    _check_inplace(self)
    if self.dtype._cat < 2:
        raise _not_implemented("check_uniform_bounds", self.dtype)
    if from_ > to:
        raise RuntimeError(
            "uniform_ expects to return a [from, to) range, but found "
            f"from={_fmt(from_)} > to={_fmt(to)}"
        )
    u = _uniform(_rng(generator, "uniform_"), self.shape, _dtype.float64)
    return _write(self, from_ + (to - from_) * u)


def normal_(
    self: Tensor, mean: float = 0.0, std: float = 1.0, *, generator: Generator | None = None
) -> Tensor:
    """Fill self with normal samples of the given mean and standard deviation."""
    _check_inplace(self)
    if self.dtype._cat < 2:
        raise _not_implemented("normal_kernel_cpu", self.dtype)
    _check_std(std)
    return _write(self, mean + std * _normal(_rng(generator, "normal_"), self.shape, self.dtype))


def random_(
    self: Tensor,
    from_: int | None = None,
    to: int | None = None,
    *,
    generator: Generator | None = None,
) -> Tensor:
    """Fill self with integers: `random_()` over every integer the dtype holds exactly,
    `random_(to)` from [0, to), `random_(from_, to)` from [from_, to)."""
    _check_inplace(self)
    d = self.dtype
    if d._cat == 3:
        raise _not_implemented("random_", d)
    if from_ is None and to is None:
        # Matches torch: floats take [0, 2**mantissa_digits], integers [0, max].
        if d is _dtype.bool_:
            low, high = 0, 2
        elif d._cat == 1:
            low, high = 0, int(np.iinfo(d.np).max) + 1
        else:
            low, high = 0, 2 ** (np.finfo(d.np).nmant + 1) + 1
    else:
        low, high = (0, from_) if to is None else (from_, to)
        low, high = _long_arg(low, "from", "random_"), _long_arg(high, "to", "random_")
        _check_range(low, high, d)
    return _write(self, _integers(_rng(generator, "random_"), low, high, self.shape))


def bernoulli_(
    self: Tensor, p: float | Tensor = 0.5, *, generator: Generator | None = None
) -> Tensor:
    """Fill self with 0/1 draws that are 1 with probability p (a float or a tensor)."""
    _check_inplace(self)
    if isinstance(p, Tensor):
        probs = p._data
        if not ((probs >= 0) & (probs <= 1)).all():
            raise RuntimeError("Expected p_in >= 0 && p_in <= 1 to be true, but got false.")
    else:
        probs = scalar_arg(p)
        _check_p(probs)
    u = _uniform(_rng(generator, "bernoulli_"), self.shape, _dtype.float64)
    return _write(self, u < probs)


def exponential_(self: Tensor, lambd: float = 1.0, *, generator: Generator | None = None) -> Tensor:
    """Fill self with exponential samples of rate `lambd`."""
    _check_inplace(self)
    if self.dtype._cat != 2:
        raise RuntimeError(
            "Exponential distribution is a continuous probability distribution. dtype must be a "
            f"floating point but you specified {_dtype.SCALAR_NAMES[self.dtype.name]}"
        )
    if lambd <= 0:
        raise RuntimeError(f"exponential_ expects lambda > 0.0, but found lambda={_fmt(lambd)}")
    return _write(self, _rng(generator, "exponential_").exponential(1.0 / lambd, self.shape))
