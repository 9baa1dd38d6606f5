"""ember.compile over the whole op table (issue #7): each op's forward and backward, compiled,
equals the eager call bit for bit.

For every (op, sample) of op_db: a function calls the op and takes `autograd.grad` of its
differentiable outputs against a fixed cotangent. Its compiled form is called once with the
sample (the trace) and once with inputs whose floating values moved by up to 1% (a replay: a
trace that had baked values in would differ); that second result must equal, byte for byte,
the eager function on the same inputs. A case must replay, unless its op is listed in
`RUNS_EAGERLY` with the reason its calls fall back to eager (which is then what they do).
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import test_ops as T

import ember

# op_db entries (by name, or one case by its id) whose compiled calls run eagerly, and why.
# Their results are still compared: a fallback must give eager's results, as it is the call.
_COMPLEX = "complex values: the NumPy rules are real, and conjugating rules are not recorded"
_INDEX = (
    "ember builds these index arrays in NumPy from the values (masks via nonzero, index_select's "
    "and take's flattened indices): not a recorded step"
)
_FROM_NUMPY = "the entry wraps NumPy arrays with from_numpy inside the function"
RUNS_EAGERLY = {
    **dict.fromkeys(["complex", "complex-sgn-angle", "polar", "conj", "conj_physical"], _COMPLEX),
    "view_as_complex": _COMPLEX,
    **dict.fromkeys(
        [
            "getitem_advanced",
            "setitem_advanced",
            "index_select",
            "index_add",
            "index_fill",
            "take",
            "masked_fill",
            "masked_fill_",
            "masked_select",
            "nonzero",
            "repeat_interleave",
        ],
        _INDEX,
    ),
    "isclose": "computed in NumPy outside the op table (it has no gradient)",
    "isclose-nan": "computed in NumPy outside the op table (it has no gradient)",
    "dropout": "random sampling is not recorded",
    "dropout2d": "random sampling is not recorded",
    "cross_entropy-smoothing-w-mean": "the weighted mean's denominator is computed in NumPy",
    "cross_entropy-smoothing-3d-w-ign": "the weighted mean's denominator is computed in NumPy",
    **dict.fromkeys(
        [
            "relu-backward",
            "threshold-backward",
            "leaky_relu-backward",
            "hardtanh-backward",
            "nll_loss-backward",
            "embedding-backward",
        ],
        _FROM_NUMPY,
    ),
}


def test_every_listed_fallback_names_an_entry():
    known = {c.values[0].name for c in T.CASES} | {c.id for c in T.CASES}
    assert not set(RUNS_EAGERLY) - known


def _perturbed(sample, rng: np.random.Generator):
    def move(v):
        if isinstance(v, np.ndarray) and v.dtype.kind == "f":
            return np.asarray(v * (1 + 0.01 * rng.uniform(-1, 1, v.shape)))
        if isinstance(v, (list, tuple)) and v and isinstance(v[0], np.ndarray):
            return type(v)(move(e) for e in v)
        return v

    s = copy.copy(sample)
    s.args = tuple(move(a) for a in sample.args)
    s.kwargs = {k: move(v) for k, v in sample.kwargs.items()}
    return s


def _forward_backward(op, args, kwargs, cots):
    outs = T._flat(T._call(op, ember, args, kwargs))
    idx = T._diff_outputs(outs)
    leaves = T._leaves(args, kwargs)
    grads = ()
    if op.grad and idx and leaves:
        diff = [outs[i] for i in idx]
        grads = ember.autograd.grad(diff, leaves, cots, allow_unused=True)
    return tuple(o.detach() if isinstance(o, ember.Tensor) else o for o in outs), tuple(grads)


def _bits(x):
    """What must be equal: dtype, shape and every byte of each tensor; other values as such."""
    if isinstance(x, ember.Tensor):
        a = np.ascontiguousarray(x._data)
        return ("T", a.dtype.str, a.shape, a.tobytes())
    if isinstance(x, tuple):
        return tuple(_bits(e) for e in x)
    return x


@pytest.mark.parametrize("op,sample", T.CASES)
def test_compiled_equals_eager(op, sample, request):
    rng = T._rng(op.name, sample.name, "compile")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (the ops' own warnings, and eager fallbacks)
        a, k = T._inputs(ember, sample, op.grad)
        outs = T._flat(T._call(op, ember, a, k))
        cots = [
            ember.from_numpy(rng.standard_normal(tuple(outs[i].shape)))
            for i in T._diff_outputs(outs)
        ]
        step = ember.compile(lambda *a, **k: _forward_backward(op, a, k, cots))
        moved = _perturbed(sample, rng)
        a, k = T._inputs(ember, sample, op.grad)
        step(*a, **k)  # the trace
        a, k = T._inputs(ember, moved, op.grad)
        ember.manual_seed(0)  # (ops that sample: the same draws for both)
        got = step(*a, **k)  # a replay
        a, k = T._inputs(ember, moved, op.grad)
        ember.manual_seed(0)
        want = _forward_backward(op, a, k, cots)
    assert _bits(got) == _bits(want)
    eager = [t.eager_reason for t in step.traces if t.run is None]
    if op.name in RUNS_EAGERLY or request.node.callspec.id in RUNS_EAGERLY:
        return
    assert not eager, f"runs eagerly: {eager[0]}"


def _close(got, want) -> bool:
    """Fused results: eager's dtype and shape, NaN and inf where eager has them, and values
    within 1e-6 of each array's largest finite magnitude."""
    if isinstance(want, ember.Tensor):
        if not isinstance(got, ember.Tensor):
            return False
        g, w = got._data, want._data
        if g.dtype != w.dtype or g.shape != w.shape:
            return False
        if w.dtype.kind not in "fc":
            return np.array_equal(g, w)
        fin = np.isfinite(w)
        if not np.array_equal(g[~fin], w[~fin], equal_nan=True):
            return False
        scale = float(np.abs(w[fin]).max()) if fin.any() else 0.0
        return bool(np.all(np.abs(g[fin] - w[fin]) <= 1e-6 * (scale or 1.0)))
    if isinstance(want, tuple):
        return len(got) == len(want) and all(_close(a, b) for a, b in zip(got, want))
    return got == want


@pytest.mark.parametrize("op,sample", T.CASES)
def test_compiled_with_fusion_is_within_rounding_of_eager(op, sample, monkeypatch):
    """fuse=True with every checked expression fused (not only those timed faster): the
    replay on moved inputs stays within 1e-6 of eager."""
    pytest.importorskip("numexpr")
    from ember import _fuse

    monkeypatch.setattr(_fuse, "faster", lambda fused, numpy: True)
    rng = T._rng(op.name, sample.name, "compile-fuse")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a, k = T._inputs(ember, sample, op.grad)
        outs = T._flat(T._call(op, ember, a, k))
        cots = [
            ember.from_numpy(rng.standard_normal(tuple(outs[i].shape)))
            for i in T._diff_outputs(outs)
        ]
        step = ember.compile(lambda *a, **k: _forward_backward(op, a, k, cots), fuse=True)
        moved = _perturbed(sample, rng)
        a, k = T._inputs(ember, sample, op.grad)
        step(*a, **k)
        a, k = T._inputs(ember, moved, op.grad)
        ember.manual_seed(0)
        got = step(*a, **k)
        a, k = T._inputs(ember, moved, op.grad)
        ember.manual_seed(0)
        want = _forward_backward(op, a, k, cots)
    assert _close(got, want)
