"""ember.save / ember.load: round trips of everything a state dict or an optimizer state dict
holds, clear errors (never a partial object, never executed code) for truncated, foreign and
malicious files, and checkpoints written by real torch.save read without torch's help."""

from __future__ import annotations

import collections
import io
import json
import math
import os
import pickle
import zipfile

import numpy as np
import pytest
import torch

import ember

DTYPES = [
    "bool",
    "uint8",
    "int8",
    "int16",
    "int32",
    "int64",
    "float16",
    "float32",
    "float64",
    "complex64",
    "complex128",
]


def roundtrip(obj, **load_kwargs):
    buf = io.BytesIO()
    ember.save(obj, buf)
    buf.seek(0)
    return ember.load(buf, **load_kwargs)


def assert_same_tensor(a, b):
    assert type(a) is type(b)
    assert a.dtype == b.dtype and a.shape == b.shape and a.requires_grad == b.requires_grad
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


def to_ember(t: torch.Tensor) -> ember.Tensor:
    return ember.from_numpy(t.detach().numpy().copy())


# ---- round trips -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", DTYPES)
def test_roundtrip_every_dtype(name):
    x = ember.from_numpy((np.arange(-3, 9) % 5).reshape(3, 4).astype(getattr(ember, name).np))
    assert_same_tensor(roundtrip(x), x)


@pytest.mark.parametrize(
    "make",
    [
        lambda: ember.tensor(3.5),
        lambda: ember.zeros(0, 3),
        lambda: ember.arange(12.0).reshape(3, 4).t(),
        lambda: ember.arange(12.0).reshape(3, 4)[:, 1],
        lambda: ember.randn(2, 3, requires_grad=True),
        lambda: ember.randn(2, 3, requires_grad=True) * 2,
        lambda: ember.tensor([math.nan, math.inf, -0.0]),
    ],
)
def test_roundtrip_tensor_forms(make):
    x = make()
    y = roundtrip(x)
    assert y.is_leaf and y.requires_grad == x.requires_grad
    assert_same_tensor(y.detach(), x.detach())


def test_roundtrip_containers_and_scalars(tmp_path):
    od = collections.OrderedDict(w=ember.ones(2), b=ember.zeros(1, dtype=ember.int64))
    od._metadata = {"": {"version": 1}}
    obj = {
        "state_dict": od,
        3: [1, -(2**70), 2.5, 1e-300, math.nan, -math.inf, 1 + 2j, "é", None, True, False],
        (1, "k"): (ember.float16, ember.device("cpu"), ember.Size([2, 3]), ()),
        "empty": {},
    }
    path = tmp_path / "obj.pt"
    ember.save(obj, path)
    out = ember.load(str(path))
    assert list(out) == list(obj) and type(out["state_dict"]) is collections.OrderedDict
    assert out["state_dict"]._metadata == {"": {"version": 1}}
    for k in od:
        assert_same_tensor(out["state_dict"][k], od[k])
    nums = out[3]
    assert math.isnan(nums[4]) and nums[:4] == obj[3][:4] and nums[5:] == obj[3][5:]
    assert [type(v) for v in nums] == [type(v) for v in obj[3]]
    assert out[(1, "k")] == obj[(1, "k")] and type(out[(1, "k")][2]) is ember.Size
    assert out["empty"] == {}


def test_roundtrip_keeps_tensor_identity():
    x = ember.ones(3)
    out = roundtrip({"a": x, "b": [x], "c": x.clone()})
    assert out["a"] is out["b"][0] and out["a"] is not out["c"]


def test_roundtrip_parameters_and_module_state_dict():
    p = ember.nn.Parameter(ember.randn(2, 2))
    frozen = ember.nn.Parameter(ember.randn(2), requires_grad=False)
    out = roundtrip([p, frozen])
    assert_same_tensor(out[0], p)
    assert_same_tensor(out[1], frozen)

    model = ember.nn.Sequential(ember.nn.Linear(3, 4), ember.nn.ReLU(), ember.nn.Linear(4, 2))
    copy = ember.nn.Sequential(ember.nn.Linear(3, 4), ember.nn.ReLU(), ember.nn.Linear(4, 2))
    copy.load_state_dict(roundtrip(model.state_dict()))
    x = ember.randn(5, 3)
    np.testing.assert_array_equal(copy(x).detach().numpy(), model(x).detach().numpy())


def test_roundtrip_optimizer_state_dict():
    # The structure of a torch Adam state dict (int keys, tuples, None, 0-d step tensors).
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.Adam(model.parameters())
    model(torch.ones(1, 2)).sum().backward()
    opt.step()
    ref = opt.state_dict()
    state = {i: {k: to_ember(v) for k, v in s.items()} for i, s in ref["state"].items()}
    obj = {"state": state, "param_groups": ref["param_groups"]}
    out = roundtrip(obj)
    assert out["param_groups"] == ref["param_groups"]
    assert list(out["state"]) == [0, 1]
    for i in state:
        for k in state[i]:
            assert_same_tensor(out["state"][i][k], state[i][k])


@pytest.mark.parametrize(
    "obj",
    [
        object(),
        np.ones(2),
        {"a": {1, 2}},
        collections.defaultdict(list),
        [b"bytes"],
    ],
)
def test_save_unsupported_writes_nothing(obj):
    buf = io.BytesIO()
    with pytest.raises(TypeError, match="ember.save cannot save an object of type"):
        ember.save(obj, buf)
    assert buf.getvalue() == b""


def test_save_self_referencing_container():
    loop = []
    loop.append(loop)
    with pytest.raises(ValueError, match="contains itself"):
        ember.save(loop, io.BytesIO())


def test_file_format_is_documented_zip():
    buf = io.BytesIO()
    ember.save({"w": ember.arange(3.0)}, buf)
    zf = zipfile.ZipFile(buf)
    assert sorted(zf.namelist()) == ["header.json", "tensors/0.npy"]
    header = json.loads(zf.read("header.json"))
    assert header["format"] == "ember.save" and header["version"] == 1
    assert header["root"]["items"][0][1] == {
        "type": "tensor",
        "index": 0,
        "dtype": "float32",
        "shape": [3],
        "requires_grad": False,
        "parameter": False,
    }
    arr = np.load(io.BytesIO(zf.read("tensors/0.npy")), allow_pickle=False)
    np.testing.assert_array_equal(arr, [0.0, 1.0, 2.0])


def test_map_location():
    x = ember.ones(2)
    for loc in ("cpu", ember.device("cpu"), {"cpu": "cpu"}, lambda storage, loc: storage):
        assert_same_tensor(roundtrip(x, map_location=loc), x)
    with pytest.raises(RuntimeError, match="CPU only"):
        roundtrip(x, map_location="cuda")


# ---- damaged, foreign and malicious files ------------------------------------------------------
def saved_bytes(obj) -> bytes:
    buf = io.BytesIO()
    ember.save(obj, buf)
    return buf.getvalue()


def load_bytes(data: bytes):
    return ember.load(io.BytesIO(data))


@pytest.mark.parametrize("keep", [0, 1, 10, 100, 0.5, 0.9, -1])
def test_truncated_file(keep):
    data = saved_bytes({"w": ember.randn(50), "b": ember.zeros(3)})
    cut = int(len(data) * keep) if isinstance(keep, float) else keep % len(data)
    with pytest.raises(RuntimeError, match="truncated or corrupted"):
        load_bytes(data[:cut])


def test_corrupted_tensor_data():
    data = bytearray(saved_bytes({"w": ember.zeros(1000)}))
    i = data.index(b"\x00" * 64, data.index(b"tensors/0.npy") + 200)
    data[i] = 0x7F
    with pytest.raises(RuntimeError, match="truncated or corrupted"):
        load_bytes(bytes(data))


def zip_bytes(entries: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, content in entries.items():
            zf.writestr(name, content)
    return buf.getvalue()


def npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=True)
    return buf.getvalue()


def header(root, version=1) -> str:
    return json.dumps({"format": "ember.save", "version": version, "root": root})


TENSOR_NODE = {
    "type": "tensor",
    "index": 0,
    "dtype": "float32",
    "shape": [2],
    "requires_grad": False,
    "parameter": False,
}


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "not a file written by ember.save or torch.save"),
        (b"hello world\n", "not a file written by ember.save or torch.save"),
        (os.urandom(64) + b"\x00", "not a file written by ember.save or torch.save"),
        (zip_bytes({"readme.txt": "hi"}), "is a zip archive, not a file written by"),
        (zip_bytes({"header.json": "{not json"}), "truncated or corrupted"),
        (zip_bytes({"header.json": '{"format": "other"}'}), "not an ember.save header"),
        (zip_bytes({"header.json": header(1, version=2)}), "format version 2"),
        (zip_bytes({"header.json": header({"type": "eval", "x": 1})}), "malformed 'eval' node"),
        (zip_bytes({"header.json": header({"type": "float", "value": "1"})}), "malformed"),
        (zip_bytes({"header.json": header(TENSOR_NODE)}), "truncated or corrupted"),
        (
            zip_bytes(
                {
                    "header.json": header(TENSOR_NODE),
                    "tensors/0.npy": npy_bytes(np.zeros(3, np.float32)),
                }
            ),
            r"holds float32 \[3\], but header.json says float32 \[2\]",
        ),
        (
            zip_bytes(
                {
                    "header.json": header(TENSOR_NODE),
                    "tensors/0.npy": npy_bytes(np.array([print, print], dtype=object)),
                }
            ),
            "truncated or corrupted",
        ),
        (zip_bytes({"header.json": '{"format": "ember.save", "version": 1, "root": NaN}'}), "NaN"),
        (zip_bytes({"x/constants.pkl": b"", "x/data.pkl": b""}), "TorchScript"),
    ],
)
def test_foreign_or_malformed_file(data, message):
    with pytest.raises(RuntimeError, match=message):
        load_bytes(data)


class Evil:
    def __reduce__(self):
        return (os.system, ("touch ember_pwned",))


def torch_zip(pickled: bytes, storages: dict | None = None) -> bytes:
    entries = {"archive/data.pkl": pickled, "archive/byteorder": "little"}
    entries.update({f"archive/data/{k}": v for k, v in (storages or {}).items()})
    return zip_bytes(entries)


@pytest.mark.parametrize(
    "payload, name",
    [
        (Evil(), "posix.system"),
        ({"state": [1, Evil()]}, "posix.system"),
        (collections.Counter(a=1), "collections.Counter"),
        (pickle.loads, "pickle.loads"),
    ],
)
def test_malicious_pickle_is_refused(payload, name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = torch_zip(pickle.dumps(payload, protocol=2))
    with pytest.raises(RuntimeError, match=f"Unsupported global: GLOBAL {name}"):
        load_bytes(data)
    assert not (tmp_path / "ember_pwned").exists()


def test_malicious_tensor_geometry_is_refused():
    t = torch.arange(4.0)
    buf = io.BytesIO()
    torch.save(t, buf)
    zf = zipfile.ZipFile(buf)
    prefix = zf.namelist()[0].split("/")[0]
    pkl = zf.read(f"{prefix}/data.pkl")
    # The same pickle with stride 100 instead of 1: reading it would run past the storage.
    i = pkl.index(b"K\x01\x85")  # BININT1 1, TUPLE1: the stride (1,)
    forged = pkl[:i] + b"Kd\x85" + pkl[i + 3 :]
    data = zip_bytes(
        {f"{prefix}/data.pkl": forged, f"{prefix}/data/0": zf.read(f"{prefix}/data/0")}
    )
    with pytest.raises(RuntimeError, match="reaches past the end of its storage"):
        load_bytes(data)


def test_storage_size_mismatch_is_refused():
    buf = io.BytesIO()
    torch.save(torch.arange(4.0), buf)
    zf = zipfile.ZipFile(buf)
    entries = {n: zf.read(n) for n in zf.namelist()}
    key = next(n for n in entries if "/data/" in n)
    entries[key] = entries[key][:8]
    with pytest.raises(RuntimeError, match="has 8 bytes, not 4 elements"):
        load_bytes(zip_bytes(entries))


# ---- checkpoints written by torch --------------------------------------------------------------
def torch_saved(obj, **kwargs) -> io.BytesIO:
    buf = io.BytesIO()
    torch.save(obj, buf, **kwargs)
    buf.seek(0)
    return buf


def assert_matches_torch(e, t):
    assert isinstance(e, ember.Tensor) and str(e.dtype) == str(t.dtype).replace("torch", "ember")
    assert tuple(e.shape) == tuple(t.shape) and e.requires_grad == t.requires_grad
    np.testing.assert_array_equal(e.detach().numpy(), t.detach().numpy())


def test_torch_state_dict(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    model(torch.randn(5, 3))  # running statistics and num_batches_tracked move
    sd = model.state_dict()
    path = tmp_path / "model.pth"
    torch.save(sd, path)
    out = ember.load(path)
    assert type(out) is collections.OrderedDict and list(out) == list(sd)
    assert out._metadata == sd._metadata
    for k in sd:
        assert_matches_torch(out[k], sd[k])


@pytest.mark.parametrize("name", DTYPES)
def test_torch_every_dtype(name):
    t = (torch.arange(-3, 9) % 5).reshape(3, 4).to(getattr(torch, name))
    assert_matches_torch(ember.load(torch_saved(t)), t)


def test_torch_views_parameters_and_python_values():
    base = torch.arange(24.0).reshape(4, 6)
    p = torch.nn.Parameter(torch.randn(2, 3))
    tagged = torch.ones(2)
    tagged.note = "attributes are dropped"
    obj = {
        "t": base.t(),
        "col": base[1:, 2],
        "expanded": torch.ones(3, 1).expand(3, 4),
        "scalar": torch.tensor(7),
        "empty": torch.zeros(0, 2),
        "p": p,
        "frozen": torch.nn.Parameter(torch.ones(1), requires_grad=False),
        "tagged": tagged,
        "same": [base, base],
        "py": (b"\x00\xffbytes", {1, 2}, frozenset({3}), 1 + 2j, torch.Size([2, 3])),
        "meta": (torch.float64, torch.device("cpu"), None, math.inf),
    }
    out = ember.load(torch_saved(obj))
    for k in ("t", "col", "expanded", "scalar", "empty", "tagged"):
        assert_matches_torch(out[k], obj[k])
        assert type(out[k]) is ember.Tensor
    for k in ("p", "frozen"):
        assert_matches_torch(out[k], obj[k])
        assert type(out[k]) is ember.nn.Parameter
    assert out["same"][0] is out["same"][1]
    assert out["py"] == (b"\x00\xffbytes", {1, 2}, frozenset({3}), 1 + 2j, ember.Size([2, 3]))
    assert out["meta"] == (ember.float64, ember.device("cpu"), None, math.inf)


def test_torch_optimizer_state_dict():
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.ones(1, 2)).sum().backward()
    opt.step()
    ref = opt.state_dict()
    out = ember.load(torch_saved(ref))
    assert out["param_groups"] == ref["param_groups"]
    for i, s in ref["state"].items():
        assert_matches_torch(out["state"][i]["momentum_buffer"], s["momentum_buffer"])


def test_torch_checkpoint_from_another_device(monkeypatch):
    monkeypatch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
    data = torch_saved({"w": torch.ones(2)}).getvalue()
    with pytest.raises(RuntimeError, match="on device 'cuda:0', but ember runs on the CPU only"):
        load_bytes(data)
    for loc in ("cpu", {"cuda:0": "cpu"}, lambda storage, loc: storage):
        out = ember.load(io.BytesIO(data), map_location=loc)
        assert out["w"].tolist() == [1.0, 1.0]


@pytest.mark.parametrize(
    "obj, kwargs, message",
    [
        (torch.ones(2, dtype=torch.bfloat16), {}, "bfloat16"),
        (torch.nn.Linear(2, 2), {}, "GLOBAL torch.nn.modules.linear.Linear"),
        (torch.ones(2), {"_use_new_zipfile_serialization": False}, "legacy"),
    ],
)
def test_torch_files_ember_refuses(obj, kwargs, message):
    data = torch_saved(obj, **kwargs)
    with pytest.raises(RuntimeError, match=message):
        ember.load(data, weights_only=False)
