"""Pointwise semantics the OpInfo table does not cover: result dtypes of mixed operands, integer
and bool arithmetic, in-place dtype rules and grad_fn names, and errors (type and message),
each run on ember and on torch and compared (see conftest's `same`)."""

import pytest


def dtype_of(expr):
    """`expr(m)`'s dtype name, comparable across the two libraries."""
    return lambda m: str(expr(m).dtype).split(".")[-1]


def grad_fn_of(expr):
    return lambda m: type(expr(m).grad_fn).__name__


def f32(m):
    return m.tensor([1.5, -2.0, 0.0])


def i64(m):
    return m.tensor([7, -3, 0])


def u8(m):
    return m.tensor([250, 3, 0], dtype=m.uint8)


def b(m):
    return m.tensor([True, False, True])


def leafy(m):
    """A non-leaf float tensor requiring grad (in-place ops are allowed on it)."""
    return m.tensor([1.5, -2.0, 0.5], requires_grad=True) * 1


DTYPES = {
    "int/int": lambda m: i64(m) / m.tensor([2, 4, 1]),
    "int/scalar": lambda m: i64(m) / 2,
    "f32*py-float": lambda m: f32(m) * 2.5,
    "f32*f64-0d": lambda m: f32(m) * m.tensor(2.5, dtype=m.float64),
    "f32*f64": lambda m: f32(m) * m.tensor([2.5, 1, 1], dtype=m.float64),
    "int+py-float": lambda m: i64(m) + 0.5,
    "int+bool": lambda m: i64(m) + b(m),
    "bool+bool": lambda m: b(m) + b(m),
    "bool*bool": lambda m: b(m) * b(m),
    "bool+int-scalar": lambda m: b(m) + 1,
    "bool/bool": lambda m: b(m) / b(m),
    "bool**2": lambda m: b(m) ** 2,
    "u8+int": lambda m: u8(m) + 10,
    "u8*2": lambda m: u8(m) * 2,
    "-u8": lambda m: -u8(m),
    "u8<-1": lambda m: u8(m) < -1,
    "int//int": lambda m: i64(m) // m.tensor([2, -2, 3]),
    "int%int": lambda m: i64(m) % m.tensor([2, -2, 3]),
    "int//float": lambda m: i64(m) // 2.5,
    "float%neg": lambda m: m.remainder(m.tensor([4.0, -4.0, 3.0]), -2.0),
    "div-trunc-int": lambda m: m.div(i64(m), -2, rounding_mode="trunc"),
    "div-floor-int": lambda m: m.div(i64(m), -2, rounding_mode="floor"),
    "int**int": lambda m: i64(m) ** 2,
    "int**float": lambda m: i64(m) ** 0.5,
    "2**int": lambda m: 2 ** m.tensor([-1, 0, 3]),
    "int**neg-tensor": lambda m: m.tensor([-1, 1, 2]) ** m.tensor([-1, -1, -1]),
    "bool**True": lambda m: m.pow(b(m), True),
    "int-abs": lambda m: m.abs(m.tensor([-128, 5], dtype=m.int8)),
    "int-sign": lambda m: m.sign(i64(m)),
    "bool-sign": lambda m: m.sign(b(m)),
    "float-sign-nan": lambda m: m.sign(m.tensor([float("nan"), -0.0, 3.0])),
    "int-floor": lambda m: m.floor(i64(m)),
    "int-round": lambda m: m.round(i64(m)),
    "int-sqrt": lambda m: m.sqrt(i64(m)),
    "int-relu": lambda m: m.relu(i64(m)),
    "int-clamp-float": lambda m: m.clamp(i64(m), 0.5),
    "bool-clamp": lambda m: m.clamp(b(m), 0, 1),
    "int-clamp-tensor": lambda m: m.clamp(i64(m), min=m.tensor(0.5)),
    "int-square": lambda m: m.square(i64(m)),
    "bool-square": lambda m: m.square(b(m)),
    "where-py-floats": lambda m: m.where(b(m), 1.0, 0.0),
    "where-py-ints": lambda m: m.where(b(m), 1, 0),
    "where-int-float": lambda m: m.where(b(m), i64(m), 2.5),
    "maximum-int-float": lambda m: m.maximum(i64(m), f32(m)),
    "bitwise-bool-int": lambda m: m.bitwise_and(b(m), i64(m)),
    "logical-float-int": lambda m: m.logical_and(f32(m), i64(m)),
    "to-int-truncates": lambda m: m.tensor([1.7, -1.7, 2.5]).to(m.int64),
    "copy_-into-int": lambda m: i64(m).copy_(m.tensor([1.7, -2.7, 3.2])),
    "fill_-int": lambda m: i64(m).fill_(2.7),
    "isclose": lambda m: m.isclose(f32(m), f32(m) + 1e-6),
}


@pytest.mark.parametrize("expr", DTYPES.values(), ids=DTYPES.keys())
def test_values_and_dtypes(same, expr):
    same(expr)
    same(dtype_of(expr))


INPLACE_GRAD_FNS = {
    "add_": lambda m: leafy(m).add_(1),
    "sub_": lambda m: leafy(m).sub_(leafy(m), alpha=2),
    "mul_": lambda m: leafy(m).mul_(2),
    "div_": lambda m: leafy(m).div_(2),
    "div_-floor": lambda m: leafy(m).div_(2, rounding_mode="floor"),
    "pow_-scalar": lambda m: leafy(m).pow_(2),
    "pow_-tensor": lambda m: leafy(m).pow_(leafy(m)),
    "exp_": lambda m: leafy(m).exp_(),
    "clamp_": lambda m: leafy(m).clamp_(0, 1),
    "clamp_-tensor": lambda m: leafy(m).clamp_(leafy(m) - 1, leafy(m) + 1),
    "clamp_min_": lambda m: leafy(m).clamp_min_(0),
    "neg_": lambda m: leafy(m).neg_(),
    "abs_": lambda m: leafy(m).abs_(),
    "sqrt_": lambda m: leafy(m).sqrt_(),
    "sigmoid_": lambda m: leafy(m).sigmoid_(),
    "tanh_": lambda m: leafy(m).tanh_(),
    "relu_": lambda m: leafy(m).relu_(),
    "torch.relu_": lambda m: m.relu_(leafy(m)),
    "square_": lambda m: leafy(m).square_(),
    "floor_divide_": lambda m: leafy(m).floor_divide_(2),
    "remainder_": lambda m: leafy(m).remainder_(leafy(m)),
    "zero_": lambda m: leafy(m).zero_(),
    "fill_-scalar": lambda m: leafy(m).fill_(2),
    "fill_-tensor": lambda m: leafy(m).fill_(leafy(m)[0]),
    "copy_": lambda m: leafy(m).copy_(leafy(m)),
    "x+=y": lambda m: leafy(m).__iadd__(leafy(m)),
    "2-x": lambda m: 2 - leafy(m),
    "rsub-tensor": lambda m: m.rsub(leafy(m), leafy(m)),
    "2/x": lambda m: 2 / leafy(m),
    "2**x": lambda m: 2 ** leafy(m),
    "x**y": lambda m: leafy(m) ** leafy(m),
    "x//y": lambda m: leafy(m) // leafy(m),
    "remainder-scalar": lambda m: leafy(m) % 2,
    "clamp-mixed": lambda m: m.clamp(leafy(m), m.tensor(0.0), 1.0),
    "round-decimals": lambda m: m.round(leafy(m), decimals=0),
    "clamp_max-tensor": lambda m: m.clamp_max(leafy(m), leafy(m)),
    "to": lambda m: leafy(m).double(),
}


@pytest.mark.parametrize("expr", INPLACE_GRAD_FNS.values(), ids=INPLACE_GRAD_FNS.keys())
def test_grad_fn_names(same, expr):
    same(grad_fn_of(expr))


ERRORS = {
    "float&": lambda m: f32(m) & f32(m),
    "float|int": lambda m: f32(m) | 1,
    "float^": lambda m: f32(m) ^ f32(m),
    "bitwise_not-float": lambda m: m.bitwise_not(f32(m)),
    "bool-bool": lambda m: b(m) - b(m),
    "bool-True": lambda m: b(m) - True,
    "bool-int": lambda m: b(m) - 1,
    "rsub-bool": lambda m: m.rsub(b(m), b(m)),
    "neg-bool": lambda m: -b(m),
    "abs-bool": lambda m: m.abs(b(m)),
    "relu-bool": lambda m: m.relu(b(m)),
    "ceil-bool": lambda m: m.ceil(b(m)),
    "frac-int": lambda m: m.frac(i64(m)),
    "round-int-decimals": lambda m: m.round(i64(m), decimals=1),
    "int//0": lambda m: i64(m) // 0,
    "int%0": lambda m: i64(m) % 0,
    "div-trunc-int-0": lambda m: m.div(i64(m), 0, rounding_mode="trunc"),
    "bool//bool": lambda m: b(m) // b(m),
    "bool%bool": lambda m: b(m) % b(m),
    "div-trunc-bool": lambda m: m.div(b(m), b(m), rounding_mode="trunc"),
    "div-bad-mode": lambda m: m.div(f32(m), 2, rounding_mode="round"),
    "int**-1": lambda m: i64(m) ** -1,
    "bool**bool": lambda m: b(m) ** b(m),
    "add-int-float-alpha": lambda m: m.add(i64(m), i64(m), alpha=2.5),
    "add-bool-alpha": lambda m: m.add(f32(m), f32(m), alpha=True),
    "inplace-int-add-float": lambda m: i64(m).add_(1.5),
    "inplace-int-div": lambda m: i64(m).div_(2),
    "inplace-int-sigmoid": lambda m: i64(m).sigmoid_(),
    "inplace-broadcast": lambda m: f32(m).add_(m.ones(2, 3)),
    "inplace-leaf": lambda m: m.ones(3, requires_grad=True).mul_(2),
    "broadcast": lambda m: m.ones(3) + m.ones(4),
    "imag-real": lambda m: f32(m).imag,
    "clamp-none": lambda m: m.clamp(f32(m)),
    "where-float-cond": lambda m: m.where(f32(m), f32(m), f32(m)),
    "maximum-scalar": lambda m: m.maximum(f32(m), 2.0),
    "atan2-scalar": lambda m: m.atan2(f32(m), 2),
    "logical_xor-scalar": lambda m: m.logical_xor(f32(m), 2),
    "isclose-dtypes": lambda m: m.isclose(f32(m), f32(m).double()),
    "allclose-dtypes": lambda m: m.allclose(f32(m), i64(m)),
    "fill_-1d": lambda m: f32(m).fill_(m.ones(2)),
    "copy_-mismatch": lambda m: f32(m).copy_(m.ones(4)),
    "copy_-bigger": lambda m: f32(m).copy_(m.ones(2, 3)),
    "floor_divide-backward": lambda m: (leafy(m) // 2).sum().backward(),
    "floor_divide_-backward": lambda m: leafy(m).floor_divide_(2).sum().backward(),
    "remainder-scalar-input-backward": lambda m: m.remainder(2.0, leafy(m)).sum().backward(),
}


@pytest.mark.parametrize("expr", ERRORS.values(), ids=ERRORS.keys())
def test_errors(same, expr):
    same(expr)


def test_python_bool_results(same):
    same(lambda m: m.equal(f32(m), f32(m)))
    same(lambda m: m.equal(i64(m), i64(m).float()))
    same(lambda m: m.equal(f32(m), m.tensor([1.5, -2.0])))
    same(lambda m: m.equal(m.tensor([float("nan")]), m.tensor([float("nan")])))
    same(lambda m: m.allclose(f32(m), f32(m) + 1e-7))
    same(lambda m: m.allclose(f32(m), f32(m) + 1))


def _real_is_self(m):
    x = f32(m)
    return x.real is x


def test_real_is_self(same):
    same(_real_is_self)


def test_erf_accuracy(same):
    same(lambda m: m.erf(m.linspace(-6, 6, 2001, dtype=m.float64)), rtol=1e-15)


REFLECTED_AND_INVERT = {
    "2%x": lambda m: [(2 % leafy(m)), type((2 % leafy(m)).grad_fn).__name__],
    "2//x": lambda m: [(2 // leafy(m)), type((2 // leafy(m)).grad_fn).__name__],
    "7%int": lambda m: 7 % m.tensor([3, 4]),
    "~float": lambda m: ~f32(m),
    "~bool": lambda m: ~b(m),
    "logical_not_-keeps-history": lambda m: type(leafy(m).logical_not_().grad_fn).__name__,
    "exp(float)": lambda m: m.exp(2.0),
}


@pytest.mark.parametrize("name", REFLECTED_AND_INVERT)
def test_reflected_operators_and_invert(same, name):
    same(REFLECTED_AND_INVERT[name])


@pytest.mark.parametrize("shape", [(5,), (40, 30)])  # (a small and a batch-sized gradient)
def test_relu_backward_of_infinite_and_nan_cotangents(same, shape):
    """relu's backward multiplies by its mask, where inf * 0 would be NaN: an infinite or NaN
    cotangent where relu was 0 must give 0, as torch's select does, and pass where it was not."""

    def grad(m):
        x = m.linspace(-1, 1, shape[0] * (shape[1:] or (1,))[0]).reshape(shape).requires_grad_()
        g = m.ones(shape).reshape(-1)
        g[0], g[1], g[-1], g[-2] = float("inf"), float("nan"), float("-inf"), float("nan")
        return m.autograd.grad(m.relu(x), x, g.reshape(shape))[0]

    same(grad)
