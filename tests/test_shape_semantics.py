"""Shape-op semantics that OpInfo does not see: which results are views (shared memory and
version counter), layouts after copies, grad_fn chains, and torch's errors word for word.

Every check runs the same function on ember and on torch (the `same` fixture of conftest.py).
"""

from __future__ import annotations

import pytest


def _x(m):
    return m.arange(24.0).reshape(2, 3, 4)


def _xt(m):
    """A non-contiguous (4, 3, 2) view."""
    return _x(m).transpose(0, 2)


VIEWS = {
    "reshape": lambda m, x: x.reshape(6, 4),
    "reshape_alias": lambda m, x: x.transpose(0, 2).reshape(4, 3, 2, 1),
    "view": lambda m, x: x.view(-1),
    "view_as": lambda m, x: x.view_as(m.zeros(4, 6)),
    "reshape_as": lambda m, x: x.reshape_as(m.zeros(4, 6)),
    "flatten": lambda m, x: x.flatten(1),
    "unflatten": lambda m, x: x.unflatten(2, (2, 2)),
    "ravel": lambda m, x: m.ravel(x),
    "squeeze": lambda m, x: x.unsqueeze(1).squeeze(),
    "squeeze_dim": lambda m, x: x.unsqueeze(1).squeeze(1),
    "squeeze_dims": lambda m, x: x.unsqueeze(1).squeeze((0, 1)),
    "unsqueeze": lambda m, x: x.unsqueeze(-1),
    "transpose": lambda m, x: x.transpose(0, 1),
    "swapaxes": lambda m, x: m.swapaxes(x, 0, -1),
    "permute": lambda m, x: x.permute(2, 0, 1),
    "t": lambda m, x: x[0].t(),
    "t_1d": lambda m, x: x[0, 0].t(),
    "T": lambda m, x: x[0].T,
    "mT": lambda m, x: x.mT,
    "movedim": lambda m, x: m.movedim(x, 0, -1),
    "narrow": lambda m, x: x.narrow(1, 1, 2),
    "select": lambda m, x: x.select(2, -1),
    "select_0d": lambda m, x: x.select(0, 1).select(0, 2).select(0, 3),
    "diagonal": lambda m, x: x.diagonal(1, 1, 2),
    "split": lambda m, x: x.split(2, 2)[1],
    "split_sizes": lambda m, x: x.split([1, 2], 1)[1],
    "chunk": lambda m, x: x.chunk(3, 1)[2],
    "unbind": lambda m, x: x.unbind(1)[1],
    "unbind_0d": lambda m, x: x[0, 0].unbind()[3],
    "iter": lambda m, x: list(x)[1],
    "view_of_view": lambda m, x: x.transpose(0, 1).select(0, 1).unsqueeze(0),
}

COPIES = {
    "reshape_copy": lambda m, x: x.transpose(0, 2).reshape(-1),
    "flatten_copy": lambda m, x: x.transpose(0, 2).flatten(),
    "repeat": lambda m, x: x.repeat(1, 1, 1),
    "tile": lambda m, x: x.tile((1,)),
    "flip": lambda m, x: x.flip(()),
    "roll": lambda m, x: x.roll(0),
    "cat": lambda m, x: m.cat([x]),
    "stack": lambda m, x: m.stack([x]),
    "tril": lambda m, x: x.tril(5),
    "triu": lambda m, x: x.triu(-5),
    "diag": lambda m, x: x[0].diag(),
    "diag_embed": lambda m, x: x.diag_embed(),
}


def _write_through(op):
    def run(m):
        x = _x(m)
        v = op(m, x)
        v.add_(100)
        return x, v, x._version, v._version, v._is_view(), v._base is x

    return run


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_view_shares_memory_and_version(same, name):
    same(_write_through(VIEWS[name]))


@pytest.mark.parametrize("name", sorted(COPIES))
def test_copy_does_not_share(same, name):
    same(_write_through(COPIES[name]))


def test_expand_is_a_view(same):
    def run(m):
        x = m.zeros(3, 1)
        v = x.expand(3, 4)
        x.add_(1)
        return v, v._is_view(), v._base is x, v._version, v.stride()

    same(run)


def test_flatten_noop_returns_input(same):
    same(lambda m: [(x.flatten() is x, x.flatten(-1, -1) is x) for x in [_x(m)[0, 0], _xt(m)]])


LAYOUTS = {
    "flip_keeps_layout": lambda m: _xt(m).flip(0),
    "roll": lambda m: _xt(m).roll(1, 0),
    "repeat": lambda m: _xt(m).repeat(1, 1, 1),
    "cat": lambda m: m.cat([_xt(m), _xt(m)], 1),
    "stack": lambda m: m.stack([_xt(m)], 1),
    "tril": lambda m: _xt(m).tril(),
    "diag": lambda m: _xt(m)[0].diag(),
    "diag_embed": lambda m: _xt(m).diag_embed(),
    "transpose": lambda m: _xt(m),
    "expand": lambda m: m.zeros(3, 1).expand(2, 3, 4),
    "diagonal": lambda m: _x(m).diagonal(0, 0, 2),
}


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_layout(same, name):
    """Strides decide whether a later view() succeeds, so they must be torch's."""
    same(lambda m: (LAYOUTS[name](m).stride(), LAYOUTS[name](m).is_contiguous()))


def _chain(t):
    """grad_fn names along the first edges: what the graph records."""
    names, fn = [], t.grad_fn
    while fn is not None and fn.next_functions:
        names.append(type(fn).__name__)
        fn = fn.next_functions[0][0]
    return names


GRAPHS = {
    "reshape_contiguous": lambda m, x: x.reshape(-1),
    "reshape_alias": lambda m, x: x.transpose(0, 2).reshape(4, 3, 2, 1),
    "reshape_copy": lambda m, x: x.transpose(0, 2).reshape(-1),
    "ravel_copy": lambda m, x: x.transpose(0, 2).ravel(),
    "flatten_0d": lambda m, x: x[0, 0, 0].flatten(),
    "squeeze_empty_tuple": lambda m, x: x.squeeze(()),
    "movedim_noop": lambda m, x: x.movedim(0, 0),
    "transpose_same": lambda m, x: x.transpose(1, 1),
    "tile": lambda m, x: x.tile(()),
    "chunk": lambda m, x: x.chunk(2, 2)[1],
    "chunk_empty": lambda m, x: x[:, :, :0].chunk(2, 2)[1],
    "narrow_whole": lambda m, x: x.narrow(1, 0, 3),
    "diag_1d": lambda m, x: x[0, 0].diag(1),
    "diag_2d": lambda m, x: x[0].diag(),
    "hstack": lambda m, x: m.hstack([x[0, 0], x[0, 1]]),
    "vstack_1d": lambda m, x: m.vstack([x[0, 0], x[0, 1]]),
    "broadcast_to": lambda m, x: m.broadcast_to(x[0, :1], (2, 3, 4)),
    "cat_promote": lambda m, x: m.cat([x, m.ones(2, 3, 4, dtype=m.int64)]),
}


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_grad_fn_chain(same, name):
    def run(m):
        out = GRAPHS[name](m, _x(m).requires_grad_())
        return _chain(out), out.dtype.is_floating_point, out._is_view()

    same(run)


def test_split_gradient_with_unused_pieces(same):
    def run(m):
        x = _x(m).requires_grad_()
        a, _, c = x.split([1, 1, 2], 2)
        (a.sum() * 2 + c.sum()).backward()
        return x.grad

    same(run)


def test_view_then_inplace_on_base_keeps_gradient_sizes(same):
    """View rules need only sizes: modifying the input after the view is not an error."""

    def run(m):
        x = _x(m).requires_grad_()
        y = x * 1
        v = y.transpose(0, 1).reshape(3, 8)
        y.add_(1)
        return m.autograd.grad(v.sum(), x)[0]

    same(run)


ERRORS = {
    "view_strides": lambda m: _xt(m).view(-1),
    "view_size": lambda m: _x(m).view(2, 4),
    "view_two_infer": lambda m: _x(m).view(-1, -1),
    "view_negative": lambda m: _x(m).view(-2, 12),
    "view_infer_bad": lambda m: _x(m).view(-1, 5),
    "view_infer_zero": lambda m: _x(m).view(0, -1),
    "reshape_empty_ambiguous": lambda m: m.zeros(0, 3).reshape(0, -1),
    "flatten_order": lambda m: _x(m).flatten(2, 1),
    "flatten_range": lambda m: _x(m).flatten(0, 3),
    "unflatten_product": lambda m: _x(m).unflatten(1, (2, 2)),
    "unflatten_empty": lambda m: _x(m).unflatten(2, ()),
    "unflatten_infer": lambda m: _x(m).unflatten(-1, (-1, 3)),
    "unflatten_infer_zero": lambda m: _x(m).unflatten(1, (0, -1)),
    "squeeze_range": lambda m: _x(m).squeeze(3),
    "squeeze_duplicate": lambda m: _x(m).squeeze((0, 0)),
    "unsqueeze_range": lambda m: _x(m).unsqueeze(4),
    "transpose_range": lambda m: _x(m).transpose(0, 3),
    "permute_length": lambda m: _x(m).permute(0, 1),
    "permute_duplicate": lambda m: _x(m).permute(0, 1, 1),
    "permute_range": lambda m: _x(m).permute(0, 1, 3),
    "t_3d": lambda m: _x(m).t(),
    "movedim_length": lambda m: _x(m).movedim((0, 1), (0,)),
    "movedim_repeated_source": lambda m: _x(m).movedim((0, 0), (1, 2)),
    "movedim_repeated_destination": lambda m: _x(m).movedim((0, 1), (2, -1)),
    "expand_size": lambda m: _x(m).expand(2, 5, 4),
    "expand_too_few": lambda m: _x(m).expand(4),
    "expand_leading_minus_one": lambda m: _x(m).expand(-1, 2, 3, 4),
    "expand_negative": lambda m: m.zeros(3, 1).expand(-2, 1),
    "expand_as": lambda m: _x(m).expand_as(m.zeros(3)),
    "broadcast_to": lambda m: m.broadcast_to(_x(m), (3, 3, 4)),
    "repeat_too_few": lambda m: _x(m).repeat(2, 2),
    "repeat_negative": lambda m: _x(m).repeat(2, -1, 2),
    "flip_duplicate": lambda m: _x(m).flip(0, 0),
    "flip_range": lambda m: _x(m).flip(3),
    "fliplr_1d": lambda m: m.fliplr(m.zeros(3)),
    "flipud_0d": lambda m: m.flipud(m.zeros(())),
    "roll_mismatch": lambda m: _x(m).roll((1, 2), (0,)),
    "roll_tuple_no_dims": lambda m: _x(m).roll((1, 2)),
    "roll_int_two_dims": lambda m: _x(m).roll(1, (0, 0)),
    "roll_no_shifts": lambda m: _x(m).roll((), ()),
    "roll_0d_dim": lambda m: m.zeros(()).roll(1, 0),
    "roll_range": lambda m: _x(m).roll(1, 3),
    "cat_sizes": lambda m: m.cat([_x(m), m.zeros(2, 4, 4)], 2),
    "cat_ndim": lambda m: m.cat([_x(m), m.zeros(2, 3)]),
    "cat_0d": lambda m: m.cat([_x(m), m.zeros(())]),
    "cat_empty_list": lambda m: m.cat([]),
    "cat_range": lambda m: m.cat([_x(m), _x(m)], 3),
    "cat_tensor": lambda m: m.cat(_x(m)),
    "concat_sizes": lambda m: m.concat([m.zeros(2, 3), m.zeros(3, 2)]),
    "stack_sizes": lambda m: m.stack([_x(m), m.zeros(2, 4, 4)]),
    "stack_empty": lambda m: m.stack([]),
    "stack_range": lambda m: m.stack([_x(m), _x(m)], 4),
    "hstack_empty": lambda m: m.hstack([]),
    "vstack_empty": lambda m: m.vstack([]),
    "split_zero": lambda m: _x(m).split(0, 1),
    "split_negative": lambda m: _x(m).split(-1, 1),
    "split_sizes_sum": lambda m: _x(m).split([1, 1], 1),
    "split_sizes_negative": lambda m: _x(m).split([4, -1], 1),
    "split_0d": lambda m: m.zeros(()).split(1),
    "chunk_zero": lambda m: _x(m).chunk(0, 1),
    "chunk_0d": lambda m: m.zeros(()).chunk(1),
    "unbind_0d": lambda m: m.zeros(()).unbind(),
    "unbind_range": lambda m: _x(m).unbind(3),
    "narrow_past_end": lambda m: _x(m).narrow(1, 2, 2),
    "narrow_start_range": lambda m: _x(m).narrow(1, 4, 0),
    "narrow_negative_start_range": lambda m: _x(m).narrow(1, -4, 1),
    "narrow_negative_length": lambda m: _x(m).narrow(1, 0, -1),
    "narrow_0d": lambda m: m.zeros(()).narrow(0, 0, 1),
    "select_range": lambda m: _x(m).select(1, 3),
    "select_negative_range": lambda m: _x(m).select(-2, -4),
    "select_0d": lambda m: m.zeros(()).select(0, 0),
    "tril_1d": lambda m: m.zeros(3).tril(),
    "triu_0d": lambda m: m.zeros(()).triu(),
    "diag_3d": lambda m: _x(m).diag(),
    "diag_0d": lambda m: m.zeros(()).diag(),
    "diagonal_same_dims": lambda m: _x(m).diagonal(0, 1, -2),
    "diagonal_1d": lambda m: m.zeros(3).diagonal(),
    "diag_embed_same_dims": lambda m: _x(m).diag_embed(0, 1, 1),
    "sum_to_size_size": lambda m: _x(m).sum_to_size(5),
    "sum_to_size_ndim": lambda m: _x(m).sum_to_size(1, 2, 3, 4),
}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_error(same, name):
    same(ERRORS[name])


EDGES = {
    "scalar_view_1": lambda m: m.tensor(1.0).view(1),
    "scalar_view_empty": lambda m: m.tensor(1.0).view(()),
    "scalar_view_infer": lambda m: m.tensor(1.0).view(-1),
    "empty_view_infer": lambda m: m.zeros(0).view(-1, 3).shape,
    "squeeze_0d": lambda m: m.tensor(2.0).squeeze(-1),
    "unsqueeze_0d": lambda m: m.tensor(2.0).unsqueeze(-1),
    "transpose_0d": lambda m: m.tensor(2.0).transpose(0, -1),
    "permute_0d": lambda m: m.tensor(2.0).permute(()),
    "flip_0d": lambda m: m.tensor(2.0).flip(0),
    "roll_empty": lambda m: m.zeros(0, 2).roll(1, 1),
    "split_bigger": lambda m: _x(m).split(5, 1)[0],
    "split_empty_dim": lambda m: [t.shape for t in m.zeros(0, 2).split(3)],
    "chunk_fewer": lambda m: [t.shape for t in m.zeros(6).chunk(4)],
    "chunk_empty": lambda m: [t.shape for t in m.zeros(0).chunk(2)],
    "cat_legacy_empty": lambda m: m.cat([m.zeros(0), _x(m), m.zeros(0)], 1),
    "cat_promote_int": lambda m: m.cat([m.ones(1, dtype=m.int32), m.ones(1, dtype=m.int64)]),
    "cat_promote_float": lambda m: m.cat([m.ones(1, dtype=m.float64), m.ones(1)]),
    "stack_promote": lambda m: m.stack([m.ones(1, dtype=m.int64), m.ones(1)]),
    "narrow_tensor_start": lambda m: _x(m).narrow(1, m.tensor(1), 2),
    "diag_beyond": lambda m: _x(m)[0].diag(5),
    "diagonal_beyond": lambda m: _x(m).diagonal(7).shape,
    "repeat_0d": lambda m: m.tensor(2.0).repeat(()),
    "unflatten_infer": lambda m: _x(m).unflatten(-1, (-1, 2)),
    "moveaxis": lambda m: m.moveaxis(_x(m), (0, -1), (-1, 0)),
    "kw_view_size": lambda m: _x(m).view(size=(6, 4)),
    "kw_reshape_shape": lambda m: m.reshape(_x(m), shape=(6, 4)),
    "kw_expand_size": lambda m: _x(m)[:, :1].expand(size=(2, 5, 4)),
    "kw_permute_dims": lambda m: m.permute(_x(m), dims=(2, 1, 0)),
    "kw_repeat_repeats": lambda m: _x(m).repeat(repeats=(1, 1, 2)),
    "kw_tile_dims": lambda m: m.tile(_x(m), dims=(2,)),
    "kw_flip_dims": lambda m: m.flip(_x(m), dims=(0,)),
    "kw_cat_axis": lambda m: m.concatenate([_x(m), _x(m)], axis=1),
    "kw_stack_axis": lambda m: m.stack([_x(m), _x(m)], axis=1),
    "kw_swapaxes": lambda m: m.swapaxes(_x(m), axis0=0, axis1=2),
    "kw_roll": lambda m: m.roll(_x(m), shifts=1, dims=0),
    "kw_narrow": lambda m: m.narrow(_x(m), dim=1, start=0, length=2),
    "squeeze_tensor_dim": lambda m: m.squeeze(_x(m)[:1], m.tensor(0)),
}


@pytest.mark.parametrize("name", sorted(EDGES))
def test_edge(same, name):
    def run(m):
        out = EDGES[name](m)
        return out, str(out.dtype).split(".")[1] if hasattr(out, "dtype") else None

    same(run)


def test_numel_function_and_where_method(same):
    same(lambda m: m.numel(m.ones(2, 3)))
    same(lambda m: m.tensor([1.0, -2.0]).where(m.tensor([True, False]), 0.0))


@pytest.mark.parametrize(
    "shapes",
    [((2, 1), (3,)), ((2,), (3,)), ((2, 3), (4, 3)), (3, (2, 1)), ((5, 1, 3), (1, 4, 1), (4, 3))],
)
def test_broadcast_shapes(same, shapes):
    same(lambda m: m.broadcast_shapes(*shapes))


def test_broadcast_tensors_are_expand_views(same):
    def run(m):
        a, b = m.broadcast_tensors(m.ones(2, 1, requires_grad=True), m.arange(3.0))
        return a.shape, a.grad_fn.name(), b.grad_fn, b._base is not None or b.stride()

    same(run)
    same(lambda m: m.broadcast_tensors(m.ones(2), m.ones(3)))


@pytest.mark.parametrize("indexing", ["ij", "xy"])
def test_meshgrid_grids_are_expanded_views(same, indexing):
    def run(m):
        a, b = m.meshgrid(m.tensor([1.0, 2, 3]), m.tensor([4.0, 5]), indexing=indexing)
        return a, b, a.stride(), b.stride()

    same(run)


@pytest.mark.parametrize(
    "call",
    [
        lambda m: m.meshgrid(m.ones(2), m.ones(3), indexing="foo"),
        lambda m: m.meshgrid(indexing="ij"),
        lambda m: m.meshgrid(m.ones(2), m.ones(3).double(), indexing="ij"),
        lambda m: m.meshgrid([m.ones(2), m.ones(3)], indexing="xy")[0].shape,
    ],
)
def test_meshgrid_errors_and_list_form(same, call):
    same(call)


def test_meshgrid_without_indexing_warns_and_uses_ij(recwarn):
    import torch

    import ember

    for m in (ember, torch):
        a, _ = m.meshgrid(m.ones(2), m.ones(3))
        assert tuple(a.shape) == (2, 3)
    messages = [str(w.message).split(" (Triggered")[0] for w in recwarn]
    assert messages[0] == messages[1].replace("torch.", "ember.")
