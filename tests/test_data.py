"""ember.utils.data against torch.utils.data: the same program run on both must give batches of
the same structure, shapes, dtypes and values (wherever no randomness is involved), the same
lengths and the same errors. Shuffled orders are checked for reproducibility with ember
generators instead, since ember's random streams are not torch's."""

from __future__ import annotations

import collections
import warnings

import numpy as np
import pytest
import torch

import ember

Point = collections.namedtuple("Point", "x y")


def describe(value):
    """A comparable description of a batch: tensors by dtype, shape and values."""
    if isinstance(value, (torch.Tensor, ember.Tensor)):
        return ("tensor", str(value.dtype).split(".")[-1], tuple(value.shape), value.tolist())
    if isinstance(value, dict):
        return (type(value).__name__, {k: describe(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [describe(v) for v in value])
    if isinstance(value, np.ndarray):
        return ("ndarray", value.dtype.str, value.tolist())
    if isinstance(value, (int, float, str, bytes, set, type(None))):
        return value
    return ("object", type(value).__name__)


def run(fn, module):
    """('ok', description) or ('raise', type, message with torch -> ember)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ("ok", describe(fn(module)))
    except Exception as exc:  # noqa: BLE001 - the exception is what is compared
        return ("raise", type(exc).__name__, str(exc).replace("torch.", "ember."))


def check(fn):
    """fn(ember) and fn(torch) describe the same result or raise the same error."""
    e, t = run(fn, ember), run(fn, torch)
    assert e == t, f"\nember: {e}\ntorch: {t}"
    return e


def squares(m, n=10):
    """A map-style dataset whose samples mix a tensor, an int and a float."""

    class Squares(m.utils.data.Dataset):
        def __len__(self):
            return n

        def __getitem__(self, i):
            return m.tensor([i, i * i], dtype=m.float32), i, i / 2

    return Squares()


def stream(m, n):
    """An iterable-style dataset of n ints, optionally reporting a length."""

    class Stream(m.utils.data.IterableDataset):
        def __iter__(self):
            return iter(range(n))

        def __len__(self):
            return n

    return Stream()


# ---- datasets ----------------------------------------------------------------------------------
def test_tensor_dataset():
    def fn(m):
        ds = m.utils.data.TensorDataset(m.arange(12.0).reshape(4, 3), m.tensor([1, 0, 1, 1]))
        return len(ds), ds[2], ds[1:3]

    check(fn)


@pytest.mark.parametrize("second", [(4,), (3, 2), (2, 3)])
def test_tensor_dataset_size_mismatch(second):
    check(lambda m: len(m.utils.data.TensorDataset(m.zeros(3, 2), m.zeros(*second))))


def test_subset_concat_stack():
    def fn(m):
        d = m.utils.data
        a = d.TensorDataset(m.arange(5))
        b = d.TensorDataset(m.arange(10, 13))
        sub = d.Subset(a, [4, 0, 2])
        cat = a + b
        stack = d.StackDataset(a, b=sub)  # mixing positional and keyword datasets is an error
        return len(sub), sub[1], len(cat), cat[6], cat[-1], cat.cumulative_sizes, stack

    check(fn)


@pytest.mark.parametrize(
    "make",
    [
        lambda m: m.utils.data.ConcatDataset([]),
        lambda m: m.utils.data.ConcatDataset([stream(m, 2)]),
        lambda m: m.utils.data.ConcatDataset([m.utils.data.TensorDataset(m.arange(3))])[-4],
        lambda m: m.utils.data.StackDataset(),
        lambda m: m.utils.data.StackDataset(m.zeros(2), m.zeros(3)),
        lambda m: m.utils.data.StackDataset(x=m.zeros(2), y=m.zeros(2))[1],
        lambda m: m.utils.data.Dataset()[0],
        lambda m: list(stream(m, 2) + stream(m, 3)),
        lambda m: len(stream(m, 2) + stream(m, 3)),
    ],
)
def test_dataset_edges(make):
    check(make)


def test_subset_overriding_getitem_only():
    def fn(m):
        class Bad(m.utils.data.Subset):
            def __getitem__(self, i):
                return 0

        return Bad(m.utils.data.TensorDataset(m.arange(3)), [0])

    check(fn)


# ---- collation ---------------------------------------------------------------------------------
BATCHES = {
    "ints": [1, 2, 3],
    "floats": [0.5, 1.5],
    "bools": [True, False],
    "tensors": [np.ones((2, 3), np.float32), np.zeros((2, 3), np.float32)],
    "int_tensors": [[1, 2], [3, 4]],
    "np_arrays": [np.arange(3, dtype=np.int32), np.arange(3, 6, dtype=np.int32)],
    "np_float16": [np.ones(2, np.float16), np.zeros(2, np.float16)],
    "np_scalars": [np.float32(1.5), np.float32(2.5)],
    "np_int_scalars": [np.int16(1), np.int16(2)],
    "np_bool_scalars": [np.bool_(True), np.bool_(False)],
    "strings": ["a", "bc"],
    "bytes": [b"a", b"b"],
    "tuples": [(1, 2.0, "x"), (3, 4.0, "y")],
    "lists": [[1, 2.0], [3, 4.0]],
    "dicts": [{"a": 1, "b": [0.5, 1]}, {"a": 2, "b": [1.5, 2]}],
    "ordered": [collections.OrderedDict(z=1, a=2), collections.OrderedDict(z=3, a=4)],
    "namedtuples": [Point(1, 2.0), Point(3, 4.0)],
    "ragged_lists": [[1, 2], [3]],
    "objects": [object(), object()],
    "np_strings": [np.array(["a"]), np.array(["b"])],
    "ragged_tensors": [np.ones(2, np.float32), np.ones(3, np.float32)],
}


def _as_batch(m, name):
    batch = BATCHES[name]
    if name == "tensors" or name == "ragged_tensors":
        return [m.from_numpy(b) for b in batch]
    if name == "int_tensors":
        return [m.tensor(b) for b in batch]
    if name == "objects":
        return [object] * 2  # a type object: the message names its type, the same in both
    return batch


@pytest.mark.parametrize("name", sorted(BATCHES))
def test_default_collate(name):
    check(lambda m: m.utils.data.default_collate(_as_batch(m, name)))


@pytest.mark.parametrize("name", sorted(BATCHES))
def test_default_convert(name):
    check(lambda m: [m.utils.data.default_convert(x) for x in _as_batch(m, name)])


# ---- samplers ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "make",
    [
        lambda m: m.utils.data.SequentialSampler(range(4)),
        lambda m: m.utils.data.BatchSampler(range(10), 3, False),
        lambda m: m.utils.data.BatchSampler(range(10), 3, True),
        lambda m: m.utils.data.BatchSampler(range(9), 3, True),
        lambda m: m.utils.data.BatchSampler(range(10), 0, False),
        lambda m: m.utils.data.BatchSampler(range(10), True, False),
        lambda m: m.utils.data.BatchSampler(range(10), 2, 1),
    ],
)
def test_deterministic_samplers(make):
    check(lambda m: (list(make(m)), len(make(m))))


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"num_samples": 7},
        {"num_samples": 23},
        {"replacement": True, "num_samples": 70},
        {"replacement": 1},
        {"num_samples": 0},
        {"num_samples": 2.0},
    ],
)
def test_random_sampler_lengths(kwargs):
    def fn(m):
        s = m.utils.data.RandomSampler(range(10), **kwargs)
        draws = list(s)
        in_range = all(0 <= i < 10 for i in draws)
        counts = collections.Counter(draws)
        # Without replacement, every full pass is a permutation.
        full = kwargs.get("replacement") or all(c >= min(counts.values()) for c in counts.values())
        return len(s), len(draws), in_range, full

    check(fn)


def test_weighted_and_subset_random_samplers():
    def fn(m):
        d = m.utils.data
        w = d.WeightedRandomSampler([0.0, 1.0, 0.0, 2.0], 6)
        s = d.SubsetRandomSampler([5, 7, 9])
        return len(w), set(w) <= {1, 3}, len(s), sorted(s)

    check(fn)


@pytest.mark.parametrize(
    "args",
    [
        ([1.0], 0),
        ([1.0], 2, 1),
        ([[1.0, 2.0]], 2),
    ],
)
def test_weighted_sampler_errors(args):
    check(lambda m: m.utils.data.WeightedRandomSampler(*args))


# ---- DataLoader --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"batch_size": 3},
        {"batch_size": 3, "drop_last": True},
        {"batch_size": 5, "drop_last": True},
        {"batch_size": None},
        {"batch_size": 4, "collate_fn": lambda b: [x[1] for x in b]},
        {"num_workers": 2, "batch_size": 4},
    ],
)
def test_dataloader_map_style(kwargs):
    check(lambda m: (len(m.utils.data.DataLoader(squares(m), **kwargs)), list(_load(m, kwargs))))


def _load(m, kwargs):
    return m.utils.data.DataLoader(squares(m), **kwargs)


def test_dataloader_tensor_dataset_and_samplers():
    def fn(m):
        d = m.utils.data
        ds = d.TensorDataset(m.arange(14.0).reshape(7, 2), m.arange(7))
        by_batch = d.DataLoader(ds, batch_sampler=[[6, 0], [3], [1, 2, 4]])
        by_sampler = d.DataLoader(ds, batch_size=2, sampler=[5, 4, 3])
        return list(by_batch), len(by_batch), list(by_sampler), len(by_sampler)

    check(fn)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"batch_size": 4},
        {"batch_size": 4, "drop_last": True},
        {"batch_size": None},
        {"batch_size": 5, "drop_last": True},
    ],
)
def test_dataloader_iterable(kwargs):
    def fn(m):
        loader = m.utils.data.DataLoader(stream(m, 10), **kwargs)
        return len(loader), list(loader)

    check(fn)


def test_dataloader_iterable_longer_than_reported_warns():
    class Liar(ember.utils.data.IterableDataset):
        def __iter__(self):
            return iter(range(3))

        def __len__(self):
            return 2

    loader = ember.utils.data.DataLoader(Liar())
    assert len(loader) == 2
    with pytest.warns(UserWarning, match="was reported to be 2"):
        assert len(list(loader)) == 3


@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_workers": -1},
        {"timeout": -1},
        {"prefetch_factor": 2},
        {"persistent_workers": True},
        {"multiprocessing_context": "spawn"},
        {"sampler": [0, 1], "shuffle": True},
        {"batch_sampler": [[0]], "batch_size": 2},
        {"batch_sampler": [[0]], "drop_last": True},
        {"batch_sampler": [[0]], "shuffle": True},
        {"batch_size": None, "drop_last": True},
        {"batch_size": 0},
        {"drop_last": "yes"},
    ],
)
def test_dataloader_argument_errors(kwargs):
    check(lambda m: m.utils.data.DataLoader(squares(m), **kwargs))


@pytest.mark.parametrize("kwargs", [{"shuffle": True}, {"sampler": [0]}, {"batch_sampler": [[0]]}])
def test_dataloader_iterable_argument_errors(kwargs):
    def fn(m):
        return m.utils.data.DataLoader(stream(m, 3), **kwargs)

    e, t = run(fn, ember), run(fn, torch)
    # The sampler's repr is in the message; compare the text before it.
    assert e[:2] == t[:2] and e[2].split("=")[0] == t[2].split("=")[0]


def test_dataloader_attributes_frozen():
    check(lambda m: setattr(m.utils.data.DataLoader(squares(m)), "batch_size", 2))


def test_shuffle_reproducible_with_generator():
    ds = ember.utils.data.TensorDataset(ember.arange(20))

    def epochs(seed):
        g = ember.Generator().manual_seed(seed)
        loader = ember.utils.data.DataLoader(ds, batch_size=6, shuffle=True, generator=g)
        return [[b[0].tolist() for b in loader] for _ in range(2)]

    first, second = epochs(3)
    assert first == epochs(3)[0] and second == epochs(3)[1]
    assert first != second and first != epochs(4)[0]
    assert [len(b) for b in first] == [6, 6, 6, 2]
    assert sorted(sum(first, [])) == list(range(20))


def test_shuffle_reproducible_with_manual_seed():
    ds = ember.utils.data.TensorDataset(ember.arange(20))
    loader = ember.utils.data.DataLoader(ds, batch_size=20, shuffle=True)
    ember.manual_seed(7)
    a = next(iter(loader))[0].tolist()
    ember.manual_seed(7)
    assert next(iter(loader))[0].tolist() == a
    assert sorted(a) == list(range(20)) and a != list(range(20))


# ---- random_split ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "lengths",
    [
        [3, 7],
        [0.3, 0.7],
        [0.1, 0.1, 0.8],
        [1 / 3, 1 / 3, 1 / 3],
        [0.05, 0.95],
        [0.5, 0.5, 0.0],
        [4, 4],
        [1.5, -0.5],
        [0.5, 0.6],
    ],
)
def test_random_split_lengths(lengths):
    def fn(m):
        parts = m.utils.data.random_split(range(10), lengths, generator=m.Generator())
        seen = sorted(i for p in parts for i in p)
        return [len(p) for p in parts], seen == list(range(10))

    check(fn)


def test_random_split_reproducible():
    def split(seed):
        g = ember.Generator().manual_seed(seed)
        return [list(p) for p in ember.utils.data.random_split(range(30), [0.2, 0.8], g)]

    assert split(0) == split(0) != split(1)
    ember.manual_seed(5)
    a = [list(p) for p in ember.utils.data.random_split(range(30), [10, 20])]
    ember.manual_seed(5)
    assert a == [list(p) for p in ember.utils.data.random_split(range(30), [10, 20])]


def test_random_split_zero_length_warns():
    with pytest.warns(UserWarning, match="Length of split at index 1 is 0"):
        ember.utils.data.random_split(range(3), [1.0, 0.0])
