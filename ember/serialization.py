"""`ember.save` / `ember.load`: tensors, parameters and state dicts to and from files, and
reading checkpoints written by `torch.save` without torch. Nothing here unpickles freely: a file
can only ever produce tensors, parameters, containers, numbers and strings.

The ember file format (version 1) is a ZIP archive (entries stored, uncompressed) holding:

    header.json        {"format": "ember.save", "version": 1, "root": NODE}
    tensors/<i>.npy    tensor i's data in NumPy's .npy format (C order, no pickled objects)

A NODE is a JSON value that encodes one Python object:

    null, true, false, an integer, a string      None, bool, int, str, as themselves
    a number with a fraction or exponent         a finite float
    {"type": "float", "value": "nan"|"inf"|"-inf"}                    a non-finite float
    {"type": "complex", "real": NODE, "imag": NODE}                   a complex number
    {"type": "list"|"tuple"|"size", "items": [NODE, ...]}             list, tuple, ember.Size
    {"type": "dict"|"ordered_dict", "items": [[KEY, VALUE], ...]}     keys are NODEs, in order;
        an ordered_dict may carry "metadata": NODE (a state dict's `_metadata`)
    {"type": "dtype", "name": "float32"}, {"type": "device", "name": "cpu"}
    {"type": "tensor", "index": i, "dtype": "float32", "shape": [2, 3],
     "requires_grad": false, "parameter": false}    data in tensors/<i>.npy; a tensor object
        saved twice is stored once, and loads as one object (as with torch)

`load` reads the header, checks every node and every array against it (dtype, shape, no object
arrays), and returns only when all of it is good: a truncated, corrupted or foreign file raises
RuntimeError and never yields part of an object.

Checkpoints from `torch.save` (a ZIP archive `<name>/data.pkl` + `<name>/data/<key>`) are read
with an allow-list unpickler, as torch's `weights_only=True` does: the only globals a file may
name are torch's tensor and parameter rebuild functions, its storage types (`torch.FloatStorage`,
...), `collections.OrderedDict`, `torch.Size`, `torch.device`, torch dtypes, and the builtins
`set`, `frozenset`, `complex` and `_codecs.encode` (how pickle writes bytes). Any other global is
refused with an error naming it; none is ever imported. `weights_only=False` does not lift
this: ember never runs code named by a file, so a pickled module or class cannot be loaded
(save and load its `state_dict()` instead). Differences from torch: tensors never share memory
after loading, a tensor's extra Python attributes are dropped, and bfloat16 (which NumPy lacks)
is refused.
"""

from __future__ import annotations

import collections
import io
import json
import math
import os
import pickle
import sys
import zipfile
from typing import IO, Any

import numpy as np

from . import _dtype
from ._device import check_device, device
from ._tensor import Size, Tensor

__all__ = ["load", "save"]

FORMAT_NAME = "ember.save"
FORMAT_VERSION = 1
_HEADER = "header.json"

_DTYPES = {
    d.name: d
    for d in (
        _dtype.bool_,
        _dtype.uint8,
        _dtype.int8,
        _dtype.int16,
        _dtype.int32,
        _dtype.int64,
        _dtype.float16,
        _dtype.float32,
        _dtype.float64,
        _dtype.complex64,
        _dtype.complex128,
    )
}
_NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}

FileLike = str | os.PathLike | IO[bytes]


class _LoadError(Exception):
    """A file that cannot be loaded; the message says why (raised to users as RuntimeError)."""


def _parameter_class() -> type:
    from .nn.parameter import Parameter

    return Parameter


def _is_parameter(t: Tensor) -> bool:
    # Without ember.nn imported no Parameter exists, so plain tensors never import it.
    module = sys.modules.get("ember.nn.parameter")
    return module is not None and isinstance(t, module.Parameter)


# ---- save --------------------------------------------------------------------------------------
def save(
    obj: Any,
    f: FileLike,
    pickle_module: Any = None,
    pickle_protocol: int = 2,
    _use_new_zipfile_serialization: bool = True,
) -> None:
    """Write `obj` (tensors, parameters, and dicts, OrderedDicts, lists and tuples of them,
    numbers, strings) to a path or a writable binary file, in the format described above.

    The pickle options are accepted for torch compatibility and unused: ember does not pickle.
    Unsupported objects raise TypeError before anything is written.
    """
    arrays: list[np.ndarray] = []
    root = _encode(obj, arrays, {}, set())
    header = json.dumps(
        {"format": FORMAT_NAME, "version": FORMAT_VERSION, "root": root}, allow_nan=False
    )
    target = open(os.fspath(f), "wb") if isinstance(f, (str, os.PathLike)) else f
    try:
        with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as zf:
            zf.writestr(_HEADER, header)
            for i, arr in enumerate(arrays):
                with zf.open(f"tensors/{i}.npy", "w", force_zip64=arr.nbytes > 2**30) as out:
                    np.lib.format.write_array(out, arr, allow_pickle=False)
    finally:
        if target is not f:
            target.close()


def _encode(obj: Any, arrays: list, tensors: dict, active: set) -> Any:
    """The JSON node for obj; tensor data is appended to `arrays` (once per tensor object)."""
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else {"type": "float", "value": str(obj)}
    if isinstance(obj, complex):
        return {
            "type": "complex",
            "real": _encode(obj.real, arrays, tensors, active),
            "imag": _encode(obj.imag, arrays, tensors, active),
        }
    if isinstance(obj, Tensor):
        if id(obj) not in tensors:
            tensors[id(obj)] = len(arrays)
            arrays.append(np.asarray(obj.detach().numpy(), order="C"))
        return {
            "type": "tensor",
            "index": tensors[id(obj)],
            "dtype": obj.dtype.name,
            "shape": list(obj.shape),
            "requires_grad": obj.requires_grad,
            "parameter": _is_parameter(obj),
        }
    if isinstance(obj, _dtype.dtype):
        return {"type": "dtype", "name": obj.name}
    if isinstance(obj, device):
        return {"type": "device", "name": str(obj)}
    kind = {
        list: "list",
        tuple: "tuple",
        Size: "size",
        dict: "dict",
        collections.OrderedDict: "ordered_dict",
    }.get(type(obj))
    if kind is None:
        raise TypeError(
            f"ember.save cannot save an object of type {type(obj).__module__}."
            f"{type(obj).__qualname__}: it saves tensors, parameters, numbers, strings, dtypes, "
            "devices, and lists, tuples, dicts and OrderedDicts of them"
        )
    if id(obj) in active:
        raise ValueError("ember.save cannot save a container that contains itself")
    active.add(id(obj))
    if isinstance(obj, dict):
        node = {
            "type": kind,
            "items": [
                [_encode(k, arrays, tensors, active), _encode(v, arrays, tensors, active)]
                for k, v in obj.items()
            ],
        }
        if kind == "ordered_dict" and "_metadata" in vars(obj):
            node["metadata"] = _encode(obj._metadata, arrays, tensors, active)
    else:
        node = {"type": kind, "items": [_encode(x, arrays, tensors, active) for x in obj]}
    active.discard(id(obj))
    return node


# ---- load --------------------------------------------------------------------------------------
def load(
    f: FileLike,
    map_location: Any = None,
    pickle_module: Any = None,
    *,
    weights_only: bool | None = None,
    mmap: bool | None = None,
    **pickle_load_args: Any,
) -> Any:
    """Read an object written by `ember.save`, or a checkpoint written by `torch.save`, from a
    path or a seekable binary file.

    Tensors always load on the CPU (ember's only device): `map_location` may be None, 'cpu', a
    cpu device, a dict of location renames or a callable (treated as mapping to the CPU); a torch
    checkpoint whose tensors were saved on another device needs one of them, as in torch.
    `weights_only` is accepted for compatibility; loading is always restricted (module docs).
    """
    _check_map_location(map_location)
    source = os.fspath(f) if isinstance(f, (str, os.PathLike)) else getattr(f, "name", "the file")
    stream = open(source, "rb") if isinstance(f, (str, os.PathLike)) else f
    try:
        return _load(stream, source, map_location)
    except _LoadError as exc:
        raise RuntimeError(str(exc)) from None
    finally:
        if stream is not f:
            stream.close()


def _load(stream: IO[bytes], source: str, map_location: Any) -> Any:
    if not zipfile.is_zipfile(stream):
        stream.seek(0)
        if stream.read(1) == b"\x80":
            raise _LoadError(
                f"{source} is in torch's legacy (pre-1.6, non-zip) format, which ember.load "
                "does not read: re-save it with a current torch.save"
            )
        raise _LoadError(
            f"{source} is not a file written by ember.save or torch.save, or it is truncated "
            "or corrupted (no complete zip archive found)"
        )
    stream.seek(0)
    try:
        with zipfile.ZipFile(stream) as zf:
            names = set(zf.namelist())
            if _HEADER in names:
                return _load_ember(zf)
            pickles = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
            if len(pickles) == 1 and not any(n.endswith("/constants.pkl") for n in names):
                return _load_torch(zf, pickles[0][: -len("data.pkl")], map_location)
            kind = "a TorchScript archive (torch.jit.save)" if pickles else "a zip archive"
            raise _LoadError(
                f"{source} is {kind}, not a file written by ember.save or torch.save "
                f"(expected an entry {_HEADER} or <name>/data.pkl)"
            )
    except _LoadError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure to parse is a damaged file
        raise _LoadError(
            f"{source} is truncated or corrupted and was not loaded ({type(exc).__name__}: {exc})"
        ) from exc


def _check_map_location(map_location: Any) -> None:
    """Accept what torch accepts, as long as everything lands on the CPU."""
    if map_location is None or callable(map_location):
        return
    if isinstance(map_location, dict):
        for target in map_location.values():
            check_device(target)
        return
    check_device(map_location)


# ---- the ember format --------------------------------------------------------------------------
def _load_ember(zf: zipfile.ZipFile) -> Any:
    header = json.loads(zf.read(_HEADER), parse_constant=_refuse_constant)
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise _LoadError("header.json is not an ember.save header")
    if "root" not in header:
        raise _LoadError("header.json has no root object")
    if header.get("version") != FORMAT_VERSION:
        raise _LoadError(
            f"the file has ember.save format version {header.get('version')!r}; this ember "
            f"reads version {FORMAT_VERSION}"
        )
    return _decode(header.get("root"), zf, {}, "root")


def _refuse_constant(name: str) -> None:
    raise _LoadError(f"header.json holds the non-JSON constant {name}")


def _decode(node: Any, zf: zipfile.ZipFile, tensors: dict, path: str) -> Any:
    """The object a header node encodes; `path` locates the node in error messages."""
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if not isinstance(node, dict) or not isinstance(node.get("type"), str):
        raise _LoadError(f"malformed node at {path} in header.json")
    kind = node["type"]
    if kind == "float" and node.get("value") in _NONFINITE:
        return _NONFINITE[node["value"]]
    if kind == "complex":
        real = _decode(node.get("real"), zf, tensors, path + ".real")
        imag = _decode(node.get("imag"), zf, tensors, path + ".imag")
        if isinstance(real, float) and isinstance(imag, float):
            return complex(real, imag)
    if kind == "dtype" and node.get("name") in _DTYPES:
        return _DTYPES[node["name"]]
    if kind == "device" and node.get("name") == "cpu":
        return device("cpu")
    if kind == "tensor":
        return _decode_tensor(node, zf, tensors, path)
    items = node.get("items")
    if kind in ("list", "tuple", "size") and isinstance(items, list):
        out = [_decode(x, zf, tensors, f"{path}[{i}]") for i, x in enumerate(items)]
        return {"list": list, "tuple": tuple, "size": Size}[kind](out)
    if kind in ("dict", "ordered_dict") and isinstance(items, list):
        out = {} if kind == "dict" else collections.OrderedDict()
        for i, pair in enumerate(items):
            if not (isinstance(pair, list) and len(pair) == 2):
                raise _LoadError(f"malformed dict item at {path}[{i}] in header.json")
            out[_decode(pair[0], zf, tensors, f"{path}.key{i}")] = _decode(
                pair[1], zf, tensors, f"{path}[{i}]"
            )
        if "metadata" in node:
            out._metadata = _decode(node["metadata"], zf, tensors, path + ".metadata")
        return out
    raise _LoadError(f"malformed {kind!r} node at {path} in header.json")


def _decode_tensor(node: dict, zf: zipfile.ZipFile, tensors: dict, path: str) -> Tensor:
    index, shape = node.get("index"), node.get("shape")
    d = _DTYPES.get(node.get("dtype"))
    requires_grad, parameter = node.get("requires_grad"), node.get("parameter")
    if (
        not isinstance(index, int)
        or d is None
        or not isinstance(shape, list)
        or not all(isinstance(s, int) and s >= 0 for s in shape)
        or not isinstance(requires_grad, bool)
        or not isinstance(parameter, bool)
    ):
        raise _LoadError(f"malformed tensor node at {path} in header.json")
    if index not in tensors:
        with zf.open(f"tensors/{index}.npy") as entry:
            arr = np.lib.format.read_array(entry, allow_pickle=False)
        if arr.dtype != d.np or list(arr.shape) != shape:
            raise _LoadError(
                f"tensors/{index}.npy holds {arr.dtype} {list(arr.shape)}, but header.json "
                f"says {d.name} {shape}"
            )
        t = Tensor._make(arr)
        if parameter:
            t = _parameter_class()(t, requires_grad)
        else:
            t.requires_grad_(requires_grad)
        tensors[index] = t
    return tensors[index]


# ---- torch checkpoints -------------------------------------------------------------------------
_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
    "ComplexFloatStorage": np.complex64,
    "ComplexDoubleStorage": np.complex128,
}


class _StorageType:
    """What a file's `torch.FloatStorage`-style global resolves to: just the element dtype."""

    __slots__ = ("dtype",)

    def __init__(self, dtype: type) -> None:
        self.dtype = np.dtype(dtype)


class _Rebuilt:
    """A tensor or parameter rebuilt from a torch pickle, turned into an ember object only
    after the whole pickle has loaded. It refuses pickle's BUILD (setting attributes)."""

    __slots__ = ("array", "requires_grad", "parameter")

    def __init__(self, array: np.ndarray, requires_grad: bool, parameter: bool) -> None:
        self.array, self.requires_grad, self.parameter = array, requires_grad, parameter

    def __setstate__(self, state: Any) -> None:
        raise _LoadError("the checkpoint sets attributes on a tensor, which ember refuses")


def _rebuild_tensor_v2(
    storage: Any,
    storage_offset: Any,
    size: Any,
    stride: Any,
    requires_grad: Any,
    backward_hooks: Any,
    metadata: Any = None,
) -> _Rebuilt:
    """torch._utils._rebuild_tensor_v2: a strided view of a storage, copied; every index is
    checked to lie inside the storage, so a crafted file cannot read past it."""
    if not isinstance(storage, np.ndarray) or not isinstance(requires_grad, bool):
        raise _LoadError("malformed tensor record in the checkpoint")
    ints = (storage_offset, *size, *stride)
    if len(size) != len(stride) or not all(type(i) is int and i >= 0 for i in ints):
        raise _LoadError("malformed tensor geometry in the checkpoint")
    if math.prod(size) and storage_offset + sum((n - 1) * s for n, s in zip(size, stride)) >= len(
        storage
    ):
        raise _LoadError("a tensor in the checkpoint reaches past the end of its storage")
    base = storage[storage_offset:]
    view = np.lib.stride_tricks.as_strided(
        base, tuple(size), tuple(s * storage.itemsize for s in stride), writeable=False
    )
    return _Rebuilt(np.array(view), requires_grad, parameter=False)


def _rebuild_parameter(data: Any, requires_grad: Any, backward_hooks: Any, state: Any = None):
    """torch._utils._rebuild_parameter(_with_state); the state's attributes are dropped."""
    if not isinstance(data, _Rebuilt) or not isinstance(requires_grad, bool):
        raise _LoadError("malformed parameter record in the checkpoint")
    return _Rebuilt(data.array, requires_grad, parameter=True)


_TORCH_TENSOR, _TORCH_PARAMETER = object(), object()  # the classes `torch.Tensor`, `Parameter`


def _rebuild_from_type_v2(func: Any, new_type: Any, args: Any, state: Any) -> _Rebuilt:
    """torch._tensor._rebuild_from_type_v2: a tensor saved with Python attributes (dropped)."""
    if func not in (_rebuild_tensor_v2, _rebuild_parameter) or new_type not in (
        _TORCH_TENSOR,
        _TORCH_PARAMETER,
    ):
        raise _LoadError("malformed tensor record in the checkpoint")
    out = func(*args)
    return _Rebuilt(out.array, out.requires_grad, out.parameter or new_type is _TORCH_PARAMETER)


def _codecs_encode(text: Any, encoding: Any = "utf-8") -> bytes:
    """How protocol-2 pickles write bytes: `_codecs.encode(text, 'latin1')`."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise _LoadError("malformed bytes record in the checkpoint")
    return text.encode("latin1")


def _torch_size(sizes: Any = ()) -> Size:
    if not all(type(s) is int for s in sizes):
        raise _LoadError("malformed torch.Size in the checkpoint")
    return Size(sizes)


def _torch_device(kind: Any, index: Any = None) -> device:
    if not isinstance(kind, str) or not kind.startswith("cpu"):
        raise _LoadError(f"the checkpoint holds the device {kind!r}; ember has only the CPU")
    return device(kind, index)


_TORCH_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
    ("torch", "Tensor"): _TORCH_TENSOR,
    ("torch.nn.parameter", "Parameter"): _TORCH_PARAMETER,
    ("torch", "Size"): _torch_size,
    ("torch", "device"): _torch_device,
    ("_codecs", "encode"): _codecs_encode,
    **{(b, "set"): set for b in ("builtins", "__builtin__")},
    **{(b, "frozenset"): frozenset for b in ("builtins", "__builtin__")},
    **{(b, "complex"): complex for b in ("builtins", "__builtin__")},
    **{("torch", name): d for name, d in _DTYPES.items()},
    **{("torch", name): _StorageType(dt) for name, dt in _STORAGE_DTYPES.items()},
}


class _TorchUnpickler(pickle.Unpickler):
    """Resolves globals through the allow-list only and storages from the zip archive."""

    def __init__(
        self, data: bytes, zf: zipfile.ZipFile, prefix: str, byteorder: str, map_location: Any
    ) -> None:
        super().__init__(io.BytesIO(data))
        self._zf, self._prefix, self._byteorder = zf, prefix, byteorder
        self._map_location = map_location
        self._storages: dict[str, np.ndarray] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("torch", "BFloat16Storage"):
            raise _LoadError(
                "the checkpoint holds bfloat16 tensors, which ember (on NumPy) does not have: "
                "convert them with .float() before torch.save"
            )
        if (module, name) not in _TORCH_GLOBALS:
            raise _LoadError(
                f"Weights only load failed: Unsupported global: GLOBAL {module}.{name} is not "
                "allowed. ember.load rebuilds only tensors, parameters, containers, numbers and "
                "strings and never imports or runs what a file names; to load a model, save "
                "its state_dict() and load that"
            )
        return _TORCH_GLOBALS[(module, name)]

    def persistent_load(self, pid: Any) -> np.ndarray:
        if not (
            isinstance(pid, tuple)
            and len(pid) == 5
            and pid[0] == "storage"
            and isinstance(pid[1], _StorageType)
            and isinstance(pid[2], str)
            and isinstance(pid[3], str)
            and type(pid[4]) is int
        ):
            raise _LoadError("malformed storage record in the checkpoint")
        _, kind, key, location, numel = pid
        self._check_location(location)
        if key not in self._storages:
            raw = self._zf.read(f"{self._prefix}data/{key}")
            if len(raw) != numel * kind.dtype.itemsize:
                raise _LoadError(f"storage {key} has {len(raw)} bytes, not {numel} elements")
            order = "<" if self._byteorder == "little" else ">"
            arr = np.frombuffer(raw, dtype=kind.dtype.newbyteorder(order))
            self._storages[key] = arr.astype(kind.dtype)
        return self._storages[key]

    def _check_location(self, location: str) -> None:
        """torch's map_location rules; every storage must end up on the CPU."""
        m = self._map_location
        if isinstance(m, dict):
            location = str(m.get(location, location))
        elif m is not None:
            # A cpu device (checked by load), or a callable: torch hands it a CPU storage.
            return
        if not location.startswith("cpu"):
            raise _LoadError(
                f"Attempting to deserialize object on device '{location}', but ember runs on "
                "the CPU only. Use ember.load with map_location=ember.device('cpu') to map "
                "your storages to the CPU."
            )


def _load_torch(zf: zipfile.ZipFile, prefix: str, map_location: Any) -> Any:
    names = set(zf.namelist())
    byteorder = "little"
    if prefix + "byteorder" in names:
        byteorder = zf.read(prefix + "byteorder").decode("ascii")
        if byteorder not in ("little", "big"):
            raise _LoadError(f"unknown byte order {byteorder!r} in the checkpoint")
    unpickler = _TorchUnpickler(zf.read(prefix + "data.pkl"), zf, prefix, byteorder, map_location)
    return _materialize(unpickler.load(), {})


_PLAIN = (str, bytes, bytearray, int, float, complex, type(None), _dtype.dtype, device, Size)


def _materialize(obj: Any, memo: dict) -> Any:
    """The unpickled tree with tensors made into ember objects, checked to hold nothing else."""
    if id(obj) in memo:
        return memo[id(obj)]
    if isinstance(obj, _Rebuilt):
        t = Tensor._make(obj.array)
        if obj.parameter:
            out = _parameter_class()(t, obj.requires_grad)
        else:
            out = t.requires_grad_(obj.requires_grad)
    elif type(obj) in (dict, collections.OrderedDict):
        out = type(obj)()
        memo[id(obj)] = out
        for k, v in obj.items():
            out[_materialize(k, memo)] = _materialize(v, memo)
        # Matches torch: a state dict's `_metadata` (module versions) survives the round trip.
        meta = vars(obj).get("_metadata") if type(obj) is collections.OrderedDict else None
        if isinstance(meta, dict):
            out._metadata = _materialize(meta, memo)
    elif type(obj) is list:
        out = []
        memo[id(obj)] = out
        out.extend(_materialize(x, memo) for x in obj)
    elif type(obj) in (tuple, set, frozenset):
        out = type(obj)(_materialize(x, memo) for x in obj)
    elif type(obj) in _PLAIN or type(obj) is bool:
        out = obj
    else:
        raise _LoadError(f"the checkpoint holds an unexpected {type(obj).__name__} object")
    memo[id(obj)] = out
    return out
