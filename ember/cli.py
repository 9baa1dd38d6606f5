"""The `ember` command line: `ember run script.py [args]` and `ember compat script.py`.

`ember run` executes a PyTorch script with its `torch`, `torch.*`, `torchvision` and `torchviz`
imports served by ember (`ember`, `ember.*`, `ember.vision`, `ember.viz`: the very same module
objects), with `sys.argv` and `sys.path[0]` as `python script.py` sets them, and exits with the
script's exit status. Whatever ember lacks fails with the torch name of what is missing:

- `import torch.fft`: ModuleNotFoundError "ember does not implement torch.fft (imported by
  script.py line 3)", raised by the finder (an ImportError, so `try: import ... except
  ImportError` in the script still works);
- `torch.quantize_per_tensor`, `nn.Transformer`: AttributeError "ember does not implement
  torch.quantize_per_tensor", from the `__getattr__` of the module class ember's modules get
  for the run (an AttributeError, so `hasattr` and `getattr(torch, name, default)` still work);
- an uncaught AttributeError on an ember object or TypeError for an unexpected keyword argument
  of an ember function gets the torch name appended when the traceback is printed.

`ember compat script.py` lists the torch APIs a script uses without running it (ember.compat).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.abc
import importlib.util
import os
import re
import runpy
import sys
import traceback
import types
from collections.abc import Iterator, Sequence

# (what scripts import, what serves it); longest first so "torchviz" is never "torch" + "viz".
_ALIASES = (("torchvision", "ember.vision"), ("torchviz", "ember.viz"), ("torch", "ember"))


def torch_name(real: str) -> str:
    """The name a script uses for an ember module: ember.nn -> torch.nn, ember.viz -> torchviz."""
    for alias, target in _ALIASES:
        if real == target or real.startswith(target + "."):
            return alias + real[len(target) :]
    return real


def ember_name(name: str) -> str | None:
    """The ember module serving a torch module name, or None if the name is not torch's."""
    for alias, target in _ALIASES:
        if name == alias or name.startswith(alias + "."):
            return target + name[len(alias) :]
    return None


def _is_ember(name: str) -> bool:
    return name == "ember" or name.startswith("ember.")


class TorchModule(types.ModuleType):
    """The class of ember's modules during `ember run`: a missing attribute names the torch API."""

    def __getattr__(self, name: str):
        if name.startswith("__") and name.endswith("__"):  # protocol probes keep Python's text
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        raise AttributeError(
            f"ember does not implement {torch_name(self.__name__)}.{name}", name=name, obj=self
        )


class _AliasLoader(importlib.abc.Loader):
    """Hands back the ember module for a torch name (the same object, not a copy)."""

    def __init__(self, module: types.ModuleType) -> None:
        self.module = module

    def create_module(self, spec) -> types.ModuleType:
        spec.loader_state = self.module.__spec__  # module_from_spec overwrites __spec__
        return self.module

    def exec_module(self, module: types.ModuleType) -> None:
        module.__spec__ = module.__spec__.loader_state


class _MarkingLoader:
    """Wraps the loader of an ember module so that the module gets the TorchModule class."""

    def __init__(self, loader) -> None:
        self._loader = loader

    def __getattr__(self, name: str):
        return getattr(self._loader, name)  # get_source, get_data, ...: the real loader's

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        module.__class__ = TorchModule
        self._loader.exec_module(module)


class TorchFinder(importlib.abc.MetaPathFinder):
    """Serves torch/torchvision/torchviz names with ember's modules, and marks ember's modules."""

    set_aside: dict  # the torch modules imported before `install`, restored by `uninstall`

    def find_spec(self, fullname: str, path=None, target=None):
        if _is_ember(fullname):
            spec = self._others(fullname, path, target)
            if spec is None:
                # Named after the torch module, so `from torch import fft` reports this error
                # instead of importlib's "cannot import name 'fft' from 'ember'".
                alias = torch_name(fullname)
                raise ModuleNotFoundError(
                    f"ember does not implement {alias}{_imported_by()}", name=alias
                )
            if spec.loader is not None:
                spec.loader = _MarkingLoader(spec.loader)
            return spec
        real = ember_name(fullname)
        if real is None:
            return None
        module = sys.modules.get(real)
        if module is None:
            parent, _, last = real.rpartition(".")
            attr = getattr(sys.modules.get(parent), last, None) if parent else None
            # A missing module raises "ember does not implement" from the branch above.
            module = attr if isinstance(attr, types.ModuleType) else importlib.import_module(real)
        return importlib.util.spec_from_loader(fullname, _AliasLoader(module))

    def _others(self, fullname: str, path, target):
        for finder in sys.meta_path:
            if finder is not self and hasattr(finder, "find_spec"):
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    return spec
        return None


def _imported_by() -> str:
    """` (imported by script.py line 3)`: the innermost frame outside the import machinery."""
    machinery = os.path.dirname(importlib.__file__)
    frame = sys._getframe(1)
    while frame is not None and (
        frame.f_code.co_filename == __file__
        or frame.f_code.co_filename.startswith(("<frozen", machinery))
    ):
        frame = frame.f_back
    if frame is None:
        return ""
    return f" (imported by {os.path.basename(frame.f_code.co_filename)} line {frame.f_lineno})"


def install() -> TorchFinder:
    """Serve torch imports from ember in this process (undone by `uninstall`).

    A real torch already imported (a test process's oracle) is set aside until `uninstall`.
    """
    finder = TorchFinder()
    finder.set_aside = {n: sys.modules.pop(n) for n in list(sys.modules) if ember_name(n)}
    sys.meta_path.insert(0, finder)
    for name, module in list(sys.modules.items()):
        if _is_ember(name) and type(module) is types.ModuleType:
            module.__class__ = TorchModule
    return finder


def uninstall(finder: TorchFinder) -> None:
    """Undo `install`: drop the aliases from sys.modules, give ember's modules their class back."""
    if finder in sys.meta_path:
        sys.meta_path.remove(finder)
    for name in list(sys.modules):
        if ember_name(name) is not None:
            del sys.modules[name]
    sys.modules.update(finder.set_aside)
    for name, module in list(sys.modules.items()):
        if _is_ember(name) and type(module) is TorchModule:
            module.__class__ = types.ModuleType


def run_script(path: str, args: Sequence[str] = ()) -> int:
    """Run `path` as `python path args...` would, with torch served by ember; its exit status."""
    path = os.path.abspath(path)
    if not os.path.isfile(path):
        print(f"ember run: can't open file {path!r}: No such file", file=sys.stderr)
        return 2
    saved_argv, saved_path = sys.argv, sys.path[:]
    sys.argv = [path, *args]
    sys.path[:1] = [os.path.dirname(path)]  # as `python script.py`: the script's directory
    finder = install()
    try:
        runpy.run_path(path, run_name="__main__")
        return 0
    except SystemExit as e:
        return _exit_status(e.code)
    except Exception as e:  # noqa: BLE001 - reported as Python reports an uncaught exception
        _name_torch_api(e)
        _print_traceback(e, path)
        return 1
    finally:
        sys.stdout.flush()
        uninstall(finder)
        sys.argv, sys.path[:] = saved_argv, saved_path


def _exit_status(code: object) -> int:
    """What the interpreter exits with for `sys.exit(code)`."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


_UNEXPECTED_KW = re.compile(r"^([\w.]+)\(\) got an unexpected keyword argument '(\w+)'$")
_NO_ATTRIBUTE = re.compile(r"^'(\w+)' object has no attribute '(\w+)'$")


def _name_torch_api(e: BaseException) -> None:
    """Add the torch name of what ember lacks to an uncaught error's message, when it is ember's."""
    msg = str(e)
    extra = None
    if isinstance(e, TypeError) and (m := _UNEXPECTED_KW.match(msg)):
        qualname, kw = m.groups()
        owner = _public_name(qualname.removesuffix(".__init__"))
        if owner is not None:
            extra = f"ember does not implement the keyword argument '{kw}' of {owner}"
    elif isinstance(e, AttributeError) and (m := _NO_ATTRIBUTE.match(msg)):
        obj = getattr(e, "obj", None)
        cls = type(obj) if obj is not None else None
        if cls is None or _is_ember(cls.__module__):
            owner = _public_name(m.group(1))
            if owner is not None:
                extra = f"ember does not implement {owner}.{m.group(2)}"
    if extra is not None:
        e.args = (f"{msg} ({extra})",)


def _public_name(qualname: str) -> str | None:
    """torch's name for an ember function or class with this qualname (shortest public path)."""
    found = []
    for name, module in list(sys.modules.items()):
        if not _is_ember(name) or any(p.startswith("_") for p in name.split(".")):
            continue
        for attr, obj in list(vars(module).items()):
            if not attr.startswith("_") and getattr(obj, "__qualname__", None) == qualname:
                if _is_ember(getattr(obj, "__module__", None) or ""):
                    found.append(f"{torch_name(name)}.{attr}")
    return min(found, key=lambda s: (s.count("."), len(s))) if found else None


def _print_traceback(e: BaseException, script: str) -> None:
    """Python's report of an uncaught exception, without the frames of ember run itself."""
    te = traceback.TracebackException.from_exception(e)
    for t in _chain(te):
        frames = list(t.stack)
        starts = [i for i, f in enumerate(frames) if f.filename == script]
        frames = frames[starts[0] :] if starts else frames
        keep = [f for f in frames if f.filename != __file__]
        t.stack = traceback.StackSummary.from_list(keep)
    sys.stderr.write("".join(te.format()))


def _chain(te: traceback.TracebackException) -> Iterator[traceback.TracebackException]:
    seen = set()
    while te is not None and id(te) not in seen:
        seen.add(id(te))
        yield te
        te = te.__cause__ or te.__context__


def main(argv: Sequence[str] | None = None) -> int:
    """`ember run script.py [args]` runs a PyTorch script on ember; `ember compat script.py`
    lists the torch APIs it uses and whether ember has them. Returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="ember", description="Run PyTorch scripts on ember (PyTorch's autograd on NumPy)."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a PyTorch script with torch imports served by ember")
    run.add_argument("script", help="the script, run as `python script.py args...`")
    run.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the script")
    compat = sub.add_parser("compat", help="list the torch APIs a script uses (does not run it)")
    compat.add_argument("script")
    ns = parser.parse_args(argv)
    if ns.command == "run":
        return run_script(ns.script, ns.args)
    from . import compat as compat_module

    result = compat_module.report(ns.script)
    return 0 if result.supported else 1
