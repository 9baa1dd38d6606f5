"""nn core against torch: Parameter, Module (registration, traversal order, state_dict, hooks,
modes, conversion, repr), containers, Linear/Flatten, nn.init and nn.utils.

Models are built by one function called with `ember` and with `torch`, so both sides run
the same code; printed text is compared with 'torch' spelled 'ember'. Random
initialisation is compared by its statistics (ember's streams are not torch's).
"""

from __future__ import annotations

import copy
import math
import pickle
import warnings
from collections import OrderedDict

import numpy as np
import pytest
import torch

import ember


def text(obj) -> str:
    return str(obj).replace("torch", "ember")


def build(m):
    """A nested model using every container, a shared layer and both kinds of buffer."""
    nn = m.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(3, 4)
            self.seq = nn.Sequential(nn.Linear(4, 4), nn.Identity(), nn.Linear(4, 2, bias=False))
            self.register_buffer("steps", m.zeros(1))
            self.register_buffer("tmp", m.ones(2), persistent=False)
            self.ml = nn.ModuleList(
                [nn.Linear(2, 2), nn.Linear(2, 2), nn.Linear(2, 2), nn.Flatten()]
            )
            self.md = nn.ModuleDict({"b": nn.Identity(), "a": nn.Linear(1, 1)})
            self.pl = nn.ParameterList([nn.Parameter(m.ones(2)), m.zeros(3, 2)])
            self.pd = nn.ParameterDict({"x": m.ones(2), "a": m.zeros(2, 2, dtype=m.float64)})
            self.shared = self.fc1
            self.scale = nn.Parameter(m.tensor(2.0))

        def forward(self, x):
            return self.seq(self.fc1(x)) * self.scale

    return Net()


def both(fn):
    return fn(ember), fn(torch)


# ---- Parameter ------------------------------------------------------------------------------
def test_parameter_repr_and_flags():
    e, t = both(lambda m: m.nn.Parameter(m.tensor([1.0, 2.0])))
    assert repr(e) == repr(t)
    assert isinstance(e, ember.Tensor) and e.requires_grad and e.is_leaf
    e, t = both(lambda m: m.nn.Parameter(m.tensor([1, 2]), requires_grad=False))
    assert repr(e) == repr(t)
    e, t = both(lambda m: m.nn.Parameter())
    assert repr(e) == repr(t)


def test_parameter_errors_and_aliasing(same):
    same(lambda m: m.nn.Parameter(m.tensor([1, 2])))

    def alias(m):
        x = m.ones(2)
        p = m.nn.Parameter(x)
        x.add_(1)
        return p.detach().clone(), p._version, type(p + 1).__name__, type(p.data).__name__

    same(alias)

    def under_no_grad(m):
        with m.no_grad():
            return m.nn.Parameter(m.ones(1)).requires_grad

    same(under_no_grad)


def test_parameter_copy_and_pickle():
    p = ember.nn.Parameter(ember.tensor([1.0, 2.0]))
    p.grad = ember.ones(2)
    q = copy.deepcopy(p)
    assert type(q) is ember.nn.Parameter and q.requires_grad and q.grad is None
    assert q.data_ptr() != p.data_ptr() and q.tolist() == p.tolist()
    r = pickle.loads(pickle.dumps(p))
    assert type(r) is ember.nn.Parameter and r.requires_grad and repr(r) == repr(p)
    assert not isinstance(ember.ones(1), ember.nn.Parameter)


def test_buffer():
    e, t = both(lambda m: m.nn.Buffer(m.ones(2), persistent=False))
    assert type(e) is ember.Tensor and isinstance(e, ember.nn.Buffer)
    assert e.persistent is t.persistent is False
    assert not isinstance(ember.ones(1), ember.nn.Buffer)

    def register(m):
        mod = m.nn.Module()
        mod.a = m.nn.Buffer(m.ones(1))
        mod.b = m.nn.Buffer(m.ones(1), persistent=False)
        mod.a = m.zeros(1)  # stays a buffer
        return [k for k, _ in mod.named_buffers()], list(mod.state_dict())

    e, t = both(register)
    assert e == t


# ---- Module: registration and traversal -----------------------------------------------------
def test_nested_repr():
    e, t = both(build)
    assert repr(e) == text(repr(t))
    e, t = both(lambda m: m.nn.Module())
    assert repr(e) == repr(t) == "Module()"


def test_traversal_order_and_names():
    e, t = both(build)
    for fn in (
        lambda n: [k for k, _ in n.named_parameters()],
        lambda n: [k for k, _ in n.named_parameters(prefix="net", remove_duplicate=False)],
        lambda n: [k for k, _ in n.named_parameters(recurse=False)],
        lambda n: [k for k, _ in n.named_buffers()],
        lambda n: [k for k, _ in n.named_modules()],
        lambda n: [k for k, _ in n.named_modules(remove_duplicate=False)],
        lambda n: [k for k, _ in n.named_children()],
        lambda n: [type(c).__name__ for c in n.children()],
        lambda n: [type(c).__name__ for c in n.modules()],
        lambda n: len(list(n.parameters())),
        lambda n: list(n.state_dict()),
        lambda n: list(n.state_dict(prefix="p.")),
        lambda n: list(n.state_dict()._metadata),
    ):
        assert fn(e) == fn(t)
    assert next(iter(e.parameters())) is e.scale  # own parameters first


def test_state_dict_values_are_detached_aliases():
    net = build(ember)
    sd = net.state_dict()
    assert isinstance(sd, OrderedDict)
    w = sd["fc1.weight"]
    assert type(w) is ember.Tensor and not w.requires_grad
    assert w.data_ptr() == net.fc1.weight.data_ptr()
    kept = net.state_dict(keep_vars=True)
    assert kept["fc1.weight"] is net.fc1.weight


def test_load_state_dict_roundtrip():
    src, dst = build(ember), build(ember)
    w = dst.fc1.weight
    result = dst.load_state_dict(src.state_dict())
    assert repr(result) == "<All keys matched successfully>"
    assert dst.fc1.weight is w and w.requires_grad  # copied in place
    for (k, a), (_, b) in zip(src.state_dict().items(), dst.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=k)


@pytest.mark.parametrize(
    "case",
    [
        lambda m: {"fc1.weight": m.zeros(2, 2), "foo": m.zeros(1), "seq.9.weight": m.ones(1)},
        lambda m: {"fc1.weight": 3},
        lambda m: {},
    ],
)
def test_load_state_dict_errors(same, case):
    same(lambda m: build(m).load_state_dict(case(m)))


def test_load_state_dict_non_strict_and_assign(same):
    def non_strict(m):
        lin = m.nn.Linear(3, 2)
        keys = lin.load_state_dict({"weight": m.zeros(2, 3), "extra": m.ones(1)}, strict=False)
        return repr(keys).replace("torch", "ember"), keys.missing_keys, lin.weight.sum().item()

    same(non_strict)

    def assign(m):
        lin = m.nn.Linear(3, 2)
        new = m.ones(2, 3)
        lin.load_state_dict({"weight": new, "bias": m.zeros(2)}, assign=True)
        w = lin.weight
        return type(w).__name__, w.requires_grad, w.data_ptr() == new.data_ptr()

    same(assign)
    same(lambda m: m.nn.Linear(1, 1).load_state_dict([1]))
    # A 1-element vector loads into a 0-d parameter.
    same(lambda m: build(m).load_state_dict({"scale": m.ones(1)}, strict=False).missing_keys)


def test_attribute_errors(same):
    def lin(m):
        return m.nn.Linear(3, 1)

    same(lambda m: lin(m).foo)
    same(lambda m: setattr(lin(m), "weight", m.zeros(1, 3)))
    same(lambda m: setattr(lin(m), "weight", None) or lin(m).weight is not None)
    same(lambda m: lin(m).register_parameter("a.b", None))
    same(lambda m: lin(m).register_parameter("", None))
    same(lambda m: lin(m).register_parameter("in_features", None))
    same(lambda m: lin(m).register_parameter("p", m.ones(1)))
    same(lambda m: lin(m).register_parameter("p", m.nn.Parameter(m.ones(1)) * 2))
    e, t = both(lambda m: pytest.raises(TypeError, lin(m).register_buffer, "b", 3))
    assert str(e.value) == text(t.value)  # "torch Tensor" has no dot for `same` to rewrite
    same(lambda m: lin(m).register_buffer("weight", m.ones(1)))
    same(lambda m: lin(m).add_module("c", 3))
    same(lambda m: lin(m).add_module("a.b", m.nn.Identity()))
    same(lambda m: lin(m).get_submodule("x"))
    same(lambda m: m.nn.Module()(1))

    def child_assign(m):
        s = m.nn.Sequential(m.nn.Identity())
        setattr(s, "0", 3)

    same(child_assign)

    def before_init(m):
        class Bad(m.nn.Module):
            def __init__(self):
                self.w = m.nn.Parameter(m.ones(1))

        Bad()

    same(before_init)


def test_setattr_moves_between_kinds_and_delattr():
    def fn(m):
        mod = m.nn.Module()
        mod.x = m.nn.Parameter(m.ones(1))
        mod.register_buffer("y", m.ones(1))
        mod.y = m.nn.Parameter(m.ones(1))  # a buffer name reassigned to a Parameter
        mod.z = m.nn.Linear(1, 1)
        del mod.x
        names = [k for k, _ in mod.named_parameters()]
        return names, [k for k, _ in mod.named_buffers()], hasattr(mod, "x"), "z" in dir(mod)

    e, t = both(fn)
    assert e == t


def test_get_parameter_and_buffer():
    e, t = both(build)
    assert e.get_parameter("seq.0.weight") is e.seq[0].weight
    assert e.get_buffer("steps") is e.steps
    assert e.get_submodule("seq.2") is e.seq[2]
    assert e.get_submodule("") is e


# ---- calling and hooks ----------------------------------------------------------------------
def test_forward_hooks(same):
    def fn(m):
        lin = m.nn.Linear(2, 2)
        with m.no_grad():
            lin.weight.copy_(m.tensor([[1.0, 2.0], [3.0, 4.0]]))
            lin.bias.zero_()
        calls = []
        h1 = lin.register_forward_pre_hook(lambda mod, args: (args[0] * 2,))
        h2 = lin.register_forward_hook(lambda mod, args, out: out + 1)
        h3 = lin.register_forward_hook(lambda mod, args, out: calls.append("first"), prepend=True)
        h4 = lin.register_forward_pre_hook(
            lambda mod, args, kwargs: (args, kwargs), with_kwargs=True
        )
        h5 = lin.register_forward_hook(
            lambda mod, args, kwargs, out: calls.append(len(kwargs)), with_kwargs=True
        )
        x = m.tensor([1.0, 1.0])
        a = lin(x).detach()
        for h in (h1, h2, h3, h4, h5):
            h.remove()
        b = lin(x).detach()
        return a, b, calls

    same(fn)


@pytest.mark.parametrize("m", [ember, torch], ids=["ember", "torch"])
def test_always_call_hook_runs_when_forward_raises(m):
    class Boom(m.nn.Module):
        def forward(self, x):
            raise ValueError("boom")

    calls = []
    mod = Boom()
    mod.register_forward_hook(lambda *a: calls.append("always"), always_call=True)
    mod.register_forward_hook(lambda *a: calls.append("normal"))
    with pytest.raises(ValueError, match="boom"):
        mod(1)
    assert calls == ["always"]


def test_pre_hook_bad_return(same):
    def fn(m):
        mod = m.nn.Identity()
        mod.register_forward_pre_hook(lambda mod, a, k: 3, with_kwargs=True)
        mod(1)

    same(fn)


# ---- modes, gradients and conversion --------------------------------------------------------
def test_train_eval(same):
    def fn(m):
        net = build(m)
        flags = [net.training]
        net.eval()
        flags += [mod.training for mod in net.modules()]
        net.seq.train()
        flags += [mod.training for mod in net.modules()]
        return flags, net.train() is net

    same(fn)
    same(lambda m: build(m).train("yes"))


def test_zero_grad(same):
    def fn(m):
        net = build(m)
        net(m.ones(2, 3)).sum().backward()
        before = net.fc1.weight.grad is not None
        net.zero_grad(set_to_none=False)
        zeroed = [float(p.grad.abs().sum()) for p in net.parameters() if p.grad is not None]
        net.zero_grad()
        return before, zeroed, [p.grad is None for p in net.parameters()]

    same(fn)


def test_requires_grad_and_apply(same):
    def fn(m):
        net = build(m)
        net.requires_grad_(False)
        seen = []
        net.apply(lambda mod: seen.append(type(mod).__name__))
        return [p.requires_grad for p in net.parameters()], seen

    same(fn)


def test_dtype_conversion_keeps_parameters(same):
    def fn(m):
        net = build(m)
        w = net.fc1.weight
        net(m.ones(1, 3)).sum().backward()
        net.double()
        out = [w is net.fc1.weight, str(w.dtype), str(w.grad.dtype), str(net.steps.dtype)]
        net.to(m.float32)
        out.append(str(net.pd["a"].dtype))
        net.half().float()
        out.append(str(w.dtype))
        net.to(m.zeros(1, dtype=m.float64))
        out.append(str(w.dtype))
        out.append(net.cpu() is net)
        return [s.replace("torch", "ember") if isinstance(s, str) else s for s in out]

    same(fn)
    same(lambda m: m.nn.Linear(1, 1).to(m.int64))
    same(lambda m: str(m.nn.Linear(1, 1).type(m.float64).weight.dtype).split(".")[1])


def test_deepcopy_and_pickle_model():
    net = build(ember)
    clone = copy.deepcopy(net)
    assert clone.fc1 is clone.shared and clone.fc1 is not net.fc1
    assert repr(clone) == repr(net)
    net = ember.nn.Sequential(ember.nn.Linear(2, 3), ember.nn.Flatten())
    restored = pickle.loads(pickle.dumps(net))
    assert [k for k, _ in restored.named_parameters()] == [k for k, _ in net.named_parameters()]
    np.testing.assert_array_equal(
        restored[0].weight.detach().numpy(), net[0].weight.detach().numpy()
    )
    assert type(restored[0].weight) is ember.nn.Parameter


def test_dir_lists_members():
    net = build(ember)
    names = dir(net)
    assert {"fc1", "seq", "steps", "scale", "forward", "training"} <= set(names)
    assert "0" not in dir(net.seq)


# ---- containers -----------------------------------------------------------------------------
def test_sequential(same):
    def fn(m):
        nn = m.nn
        s = nn.Sequential(nn.Linear(1, 2), nn.Identity(), nn.Flatten(0, 1))
        out = [repr(s[-1]), repr(s[1:]), len(s), [type(x).__name__ for x in s]]
        s.append(nn.Identity())
        s.insert(0, nn.Flatten())
        s.extend([nn.Identity()])
        del s[1]
        s[0] = nn.Unflatten(0, (1, 1))
        out += [repr(s), [k for k, _ in s.named_children()]]
        del s[1:3]
        out.append(repr(s))
        out.append(repr(s + nn.Sequential(nn.Identity())))
        out.append(repr(s * 2))
        out.append(type(s.pop(0)).__name__)
        return out

    same(fn)
    same(lambda m: m.nn.Sequential(m.nn.Identity())[3])
    same(lambda m: m.nn.Sequential(m.nn.Identity()).insert(5, m.nn.Identity()))

    def named(m):
        nn = m.nn
        s = nn.Sequential(OrderedDict([("a", nn.Linear(2, 3)), ("act", nn.Identity())]))
        return repr(s), list(s.state_dict()), repr(s[0:1])

    same(named)

    def forward(m):
        m.manual_seed(0)
        s = m.nn.Sequential(m.nn.Flatten(), m.nn.Unflatten(1, (2, 3)), m.nn.Flatten(0, 1))
        return s(m.arange(12.0).reshape(2, 2, 3)).shape

    same(forward)


def test_module_list_and_dict(same):
    def fn(m):
        nn = m.nn
        ml = nn.ModuleList([nn.Identity() for _ in range(3)])
        ml.append(nn.Linear(1, 1))
        ml += [nn.Linear(1, 1)]
        ml.insert(1, nn.Flatten())
        out = [repr(ml), len(ml), repr(ml[-1]), repr(ml[1:3])]
        del ml[0]
        ml[0] = nn.Identity()
        out += [repr(ml), [k for k, _ in ml.named_parameters()], repr(nn.ModuleList())]
        md = nn.ModuleDict([("z", nn.Identity()), ("y", nn.Linear(1, 1))])
        md["x"] = nn.Flatten()
        md.update({"w": nn.Identity()})
        out += [repr(md), list(md), list(md.keys()), "z" in md, len(md)]
        md.pop("z")
        out += [list(md), type(md["y"]).__name__]
        return out

    same(fn)
    same(lambda m: m.nn.ModuleList([m.nn.Identity()])[2])
    same(lambda m: m.nn.ModuleList(3))
    same(lambda m: m.nn.ModuleDict([("a", m.nn.Identity(), 1)]))


def test_parameter_list_and_dict(same):
    def fn(m):
        nn = m.nn
        pl = nn.ParameterList([m.ones(2), nn.Parameter(m.zeros(1, 3, dtype=m.float64))])
        pl.append(m.ones(1))
        pl.extend([m.zeros(2, 2)])
        out = [repr(pl), len(pl), type(pl[0]).__name__, [k for k, _ in pl.named_parameters()]]
        out.append(repr(pl[1:]))
        pd = nn.ParameterDict({"b": m.ones(1), "a": nn.Parameter(m.ones(2, dtype=m.float64))})
        pd["c"] = m.zeros(3)
        out += [repr(pd), list(pd), list(pd.keys()), "a" in pd, len(pd)]
        out += [repr(pd.pop("b")), list(pd), list(pd.state_dict())]
        out.append(repr(pd | nn.ParameterDict({"z": m.ones(1)})))
        return [text(x) if isinstance(x, str) else x for x in out]

    same(fn)
    same(lambda m: m.nn.ParameterList([m.ones(1)])(1))
    same(lambda m: m.nn.ParameterDict()(1))
    same(lambda m: m.nn.ParameterDict()[1])
    same(lambda m: m.nn.ParameterList(m.ones(2)))


# ---- Linear, Flatten ------------------------------------------------------------------------
def test_linear_repr_shapes_and_forward(same):
    def fn(m):
        nn = m.nn
        lin = nn.Linear(3, 1)
        bil = nn.Bilinear(2, 3, 4, bias=False)
        with m.no_grad():
            lin.weight.copy_(m.tensor([[1.0, -2.0, 0.5]]))
            lin.bias.fill_(0.25)
        return (
            repr(lin),
            repr(nn.Linear(2, 5, bias=False)),
            repr(bil),
            [tuple(p.shape) for p in bil.parameters()],
            lin(m.tensor([[1.0, 2.0, 3.0]])).detach(),
            str(nn.Linear(2, 2, dtype=m.float64).weight.dtype).split(".")[1],
            repr(nn.Identity(54, unused="x")),
        )

    same(fn)


@pytest.mark.parametrize("in_features", [1000, 7])
def test_linear_init_statistics(in_features):
    ember.manual_seed(0)
    lin = ember.nn.Linear(in_features, 4000)
    bound = 1 / math.sqrt(in_features)
    w = lin.weight.detach().numpy()
    b = lin.bias.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.02 * bound
    assert np.abs(b).max() <= bound and abs(b.std() - bound / math.sqrt(3)) < 0.05 * bound
    ember.manual_seed(0)
    again = ember.nn.Linear(in_features, 4000)
    np.testing.assert_array_equal(again.weight.detach().numpy(), w)


def test_bilinear_init_bound():
    bil = ember.nn.Bilinear(16, 3, 500)
    assert float(bil.weight.abs().max()) <= 0.25 and float(bil.bias.abs().max()) <= 0.25


# ---- nn.init --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args",
    [
        ("linear",),
        ("conv2d",),
        ("sigmoid",),
        ("tanh",),
        ("relu",),
        ("selu",),
        ("leaky_relu",),
        ("leaky_relu", 0.2),
        ("leaky_relu", 3),
        ("leaky_relu", True),
        ("softmax",),
    ],
)
def test_calculate_gain(same, args):
    same(lambda m: m.nn.init.calculate_gain(*args))


@pytest.mark.parametrize("shape", [(5,), (4, 3), (8, 3, 5), (6, 2, 3, 3), (0, 3)])
def test_fans(same, shape):
    same(lambda m: m.nn.init._calculate_fan_in_and_fan_out(m.empty(shape)))
    same(lambda m: m.nn.init._calculate_correct_fan(m.empty(shape), "fan_avg"))


def _stat(init_name, shape, **kw):
    """(max |x|, std) of ember's init on a large tensor; the formula's (bound, std)."""
    ember.manual_seed(0)
    p = ember.nn.Parameter(ember.empty(shape))
    out = getattr(ember.nn.init, init_name)(p, **kw)
    assert out is p and p.requires_grad and p.grad_fn is None
    x = p.detach().numpy()
    return np.abs(x).max(), x.std(), x.mean()


@pytest.mark.parametrize(
    "name,kw,shape,fan",
    [
        ("xavier_uniform_", {"gain": 2.0}, (300, 200), None),
        ("xavier_normal_", {}, (300, 200), None),
        ("kaiming_uniform_", {"a": math.sqrt(5)}, (300, 200), 200),
        ("kaiming_uniform_", {"mode": "fan_out", "nonlinearity": "relu"}, (30, 20, 3, 3), 270),
        ("kaiming_normal_", {"nonlinearity": "relu"}, (300, 200), 200),
        ("kaiming_normal_", {"mode": "fan_out", "a": 0.1}, (300, 20, 3), 900),
    ],
)
def test_variance_scaling_inits(name, kw, shape, fan):
    fan_in, fan_out = ember.nn.init._calculate_fan_in_and_fan_out(ember.empty(shape))
    if name.startswith("xavier"):
        std = kw.get("gain", 1.0) * math.sqrt(2.0 / (fan_in + fan_out))
    else:
        nl = kw.get("nonlinearity", "leaky_relu")
        std = torch.nn.init.calculate_gain(nl, kw.get("a", 0)) / math.sqrt(fan)
    biggest, got_std, mean = _stat(name, shape, **kw)
    assert abs(got_std - std) < 0.03 * std and abs(mean) < 0.03 * std
    if name.endswith("uniform_"):
        assert std * math.sqrt(3) * 0.99 < biggest <= std * math.sqrt(3)


def test_simple_inits():
    biggest, std, mean = _stat("uniform_", (100, 100), a=-2.0, b=2.0)
    assert biggest <= 2 and abs(std - 4 / math.sqrt(12)) < 0.02
    _, std, mean = _stat("normal_", (100, 100), mean=3.0, std=0.5)
    assert abs(std - 0.5) < 0.02 and abs(mean - 3) < 0.02


@pytest.mark.parametrize("mean,std,a,b", [(0.0, 1.0, -2.0, 2.0), (0.0, 1.0, 1.0, 1.5)])
def test_trunc_normal(mean, std, a, b):
    ember.manual_seed(0)
    x = ember.nn.init.trunc_normal_(ember.empty(200, 200), mean, std, a, b).numpy()
    t = torch.nn.init.trunc_normal_(torch.empty(200, 200), mean, std, a, b).numpy()
    assert a <= x.min() and x.max() <= b
    assert abs(x.mean() - t.mean()) < 0.02 and abs(x.std() - t.std()) < 0.02


def test_deterministic_inits(same):
    def fn(m):
        init = m.nn.init
        p = m.nn.Parameter(m.empty(3, 4))
        out = [init.eye_(p).detach().clone(), init.constant_(p, 0.5).detach().clone()]
        out += [init.ones_(p).detach().clone(), init.zeros_(p).detach().clone()]
        w = m.nn.Parameter(m.empty(4, 2, 3, 3))
        out.append(init.dirac_(w, groups=2).detach().clone())
        out.append(init.dirac_(m.empty(2, 3, 5)).clone())
        return out

    same(fn)
    same(lambda m: m.nn.init.eye_(m.empty(2, 2, 2)))
    same(lambda m: m.nn.init.dirac_(m.empty(2, 2)))
    same(lambda m: m.nn.init.dirac_(m.empty(3, 2, 2), groups=2))
    same(lambda m: m.nn.init.xavier_uniform_(m.empty(3)))
    same(lambda m: m.nn.init.kaiming_normal_(m.empty(3, 3), mode="fan"))


def test_init_generator_and_empty_warning():
    g1, g2 = ember.Generator().manual_seed(1), ember.Generator().manual_seed(1)
    a = ember.nn.init.kaiming_uniform_(ember.empty(5, 5), generator=g1)
    b = ember.nn.init.kaiming_uniform_(ember.empty(5, 5), generator=g2)
    assert a.tolist() == b.tolist()
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
        ember.nn.init.kaiming_normal_(ember.empty(0, 3))
    with pytest.warns(FutureWarning, match="nn.init.normal_"):
        ember.nn.init.normal(ember.empty(2))


def test_sparse_init():
    x = ember.nn.init.sparse_(ember.empty(10, 20), sparsity=0.3)
    assert ((x == 0).sum(0) >= 3).all()


# ---- nn.utils -------------------------------------------------------------------------------
def _grads(m, dtype_name="float32"):
    rng = np.random.default_rng(0)
    ps = []
    for shape in [(3, 4), (5,), (2, 2, 2)]:
        p = m.nn.Parameter(m.tensor(rng.standard_normal(shape), dtype=getattr(m, dtype_name)))
        p.grad = m.tensor(rng.standard_normal(shape) * 3, dtype=getattr(m, dtype_name))
        ps.append(p)
    ps.append(m.nn.Parameter(m.ones(2)))  # no grad: skipped
    return ps


@pytest.mark.parametrize("norm_type", [2.0, 1, float("inf"), 0.5, 3.0])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm(same, norm_type, max_norm):
    def fn(m):
        ps = _grads(m)
        total = m.nn.utils.clip_grad_norm_(ps, max_norm, norm_type=norm_type)
        return [total] + [p.grad for p in ps[:3]]

    same(fn, rtol=1e-5)


def test_clip_grad_norm_edge_cases(same):
    same(lambda m: m.nn.utils.clip_grad_norm_([], 1.0))
    same(lambda m: m.nn.utils.clip_grad_norm_(_grads(m)[0], 1.0))

    def nonfinite(m):
        p = m.nn.Parameter(m.ones(2))
        p.grad = m.tensor([float("inf"), 1.0])
        return m.nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)

    same(nonfinite)

    def empty_generator(m):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            m.nn.utils.clip_grad_norm_((p for p in []), 1.0)
        return [str(x.message) for x in w]

    same(empty_generator)


def test_clip_grad_value_and_vectors(same):
    def fn(m):
        ps = _grads(m, "float64")
        m.nn.utils.clip_grad_value_(ps, 1.5)
        vec = m.nn.utils.parameters_to_vector(ps)
        m.nn.utils.vector_to_parameters(vec * 2, ps)
        return [p.grad for p in ps[:3]] + [vec.detach()] + [p.detach() for p in ps]

    same(fn)
    same(lambda m: m.nn.utils.vector_to_parameters([1.0], []))
