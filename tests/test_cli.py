"""`ember run`, `ember compat` and the `python -m ember` tour, run as a user runs them.

The tutorial scripts in examples/scripts/ are plain PyTorch: run on ember they must print
exactly what they print on PyTorch (installed here as the oracle).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ember import cli, compat

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "examples" / "scripts"


def run(*args: str, cwd: Path | None = None, env: dict | None = None):
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        check=False,
        timeout=300,
    )


def script(tmp_path: Path, code: str, name: str = "script.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(code))
    return path


@pytest.mark.parametrize(
    "name, args",
    [("chain_rule.py", []), ("polyfit.py", ["--steps", "300"]), ("train_classifier.py", [])],
)
def test_tutorial_scripts_print_what_pytorch_prints(name, args):
    on_torch = run(str(SCRIPTS / name), *args)
    on_ember = run("-m", "ember", "run", str(SCRIPTS / name), *args)
    assert on_torch.returncode == 0, on_torch.stderr
    assert on_ember.returncode == 0, on_ember.stderr
    assert on_ember.stdout == on_torch.stdout
    assert on_ember.stderr == ""


def test_the_console_script():
    exe = shutil.which("ember", path=os.path.dirname(sys.executable))
    assert exe is not None, "pyproject.toml declares the `ember` console script"
    proc = subprocess.run(
        [exe, "run", str(SCRIPTS / "chain_rule.py")], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "tensor([0.6667, 1.3333, 2.0000])" in proc.stdout


def test_argv_path_and_exit_status_are_the_scripts(tmp_path):
    path = script(
        tmp_path,
        """
        import sys
        import torch
        print(sys.argv[1:], sys.path[0] == __file__.rsplit("/", 1)[0], __name__)
        print(torch.tensor([1.0]) * 2)
        sys.exit(int(sys.argv[1]))
        """,
    )
    proc = run("-m", "ember", "run", str(path), "3", "--flag")
    assert proc.returncode == 3
    assert proc.stdout == "['3', '--flag'] True __main__\ntensor([2.])\n"
    assert run("-m", "ember", "run", str(path), "0").returncode == 0


def test_an_uncaught_error_exits_1_with_the_scripts_traceback(tmp_path):
    path = script(tmp_path, "import torch\n\nraise ValueError('boom')\n")
    proc = run("-m", "ember", "run", str(path))
    assert proc.returncode == 1
    assert proc.stderr.startswith("Traceback (most recent call last):\n  File ")
    assert f'File "{path}", line 3, in <module>' in proc.stderr
    assert "cli.py" not in proc.stderr and "runpy" not in proc.stderr
    assert proc.stderr.endswith("ValueError: boom\n")


@pytest.mark.parametrize(
    "code, message",
    [
        ("import torch\nimport torch.fft\n", "ember does not implement torch.fft (imported by "),
        ("import torch\nfrom torch.fft import rfft\n", "ember does not implement torch.fft"),
        ("from torch import fft\n", "ember does not implement torch.fft"),
        (
            "import torch.nn as nn\nnn.Transformer()\n",
            "ember does not implement torch.nn.Transformer",
        ),
        (
            "import torch\ntorch.quantize_per_tensor(None)\n",
            "ember does not implement torch.quantize_per_tensor",
        ),
        (
            "import torch\ntorch.nn.functional.scaled_dot_product_attention\n",
            "ember does not implement torch.nn.functional.scaled_dot_product_attention",
        ),
        ("import torchvision.transforms\n", "ember does not implement torchvision.transforms"),
        (
            "import torch\ntorch.zeros(2).frobnicate()\n",
            "'Tensor' object has no attribute 'frobnicate' "
            "(ember does not implement torch.Tensor.frobnicate)",
        ),
        (
            "import torch\ntorch.nn.Linear(2, 2, foo=1)\n",
            "Linear.__init__() got an unexpected keyword argument 'foo' "
            "(ember does not implement the keyword argument 'foo' of torch.nn.Linear)",
        ),
    ],
)
def test_missing_apis_are_named(tmp_path, code, message):
    proc = run("-m", "ember", "run", str(script(tmp_path, code, "uses_missing.py")))
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert message in last
    if "imported by" in message:
        assert last.endswith("(imported by uses_missing.py line 2)")


def test_missing_apis_still_behave_as_python_expects(tmp_path):
    path = script(
        tmp_path,
        """
        import torch
        print(hasattr(torch, "quantize_per_tensor"), getattr(torch.nn, "Transformer", None))
        try:
            import torch.fft
        except ImportError as e:
            print(type(e).__name__, e)
        """,
    )
    proc = run("-m", "ember", "run", str(path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "False None",
        "ModuleNotFoundError ember does not implement torch.fft (imported by script.py line 5)",
    ]


def test_run_in_process_restores_the_interpreter(tmp_path, capsys):
    import torch as real_torch

    path = script(tmp_path, "import torch, torch.nn\nprint(torch.__name__)\n")
    assert cli.run_script(str(path)) == 0
    assert capsys.readouterr().out == "ember\n"
    import torch

    assert torch is real_torch
    assert sys.modules["torch.nn"] is real_torch.nn
    with pytest.raises(AttributeError, match="module 'ember' has no attribute 'fft'"):
        import ember

        ember.fft  # noqa: B018


# ---- ember compat --------------------------------------------------------------------------
def test_compat_on_the_tutorial_scripts():
    for name in ("chain_rule.py", "polyfit.py", "train_classifier.py"):
        result = compat.report(str(SCRIPTS / name), quiet=True)
        assert result.supported, result.missing
    apis = {u.api: u for u in compat.report(str(SCRIPTS / "train_classifier.py"), quiet=True).uses}
    for api in (
        "torch.utils.data.DataLoader",
        "torch.utils.data.DataLoader(batch_size=)",
        "torch.nn.Sequential.parameters",
        "torch.optim.SGD(momentum=)",
        "torch.optim.SGD.step",
    ):
        assert apis[api].supported is True
    assert apis["torch.nn.Linear"].count == 2


def test_compat_lists_what_ember_lacks(tmp_path, capsys):
    path = script(
        tmp_path,
        """
        import torch
        import torch.fft
        from torch import nn
        import torch.nn.functional as F

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 2, foo=True)

            def forward(self, x):
                return F.relu(self.fc(x)) + self.helper(x)

            def helper(self, x):
                return x

        net = Net()
        net.parameters()
        net.frobnicate()
        torch.quantize_per_tensor(net)
        print(torch.__version__)
        """,
    )
    result = compat.report(str(path))
    missing = [u.api for u in result.missing]
    assert missing == [
        "torch.fft",
        "torch.nn.Linear(foo=)",
        "torch.nn.Module.frobnicate",
        "torch.quantize_per_tensor",
    ]
    apis = [u.api for u in result.uses]
    assert "torch.nn.Module.parameters" in apis and "torch.nn.functional.relu" in apis
    assert not any(a.endswith((".fc", ".helper", ".__init__")) for a in apis)
    assert "torch.__version__" in apis
    out = capsys.readouterr().out
    assert out.startswith(f"torch APIs used by {path}: {len(apis)}, ember lacks 4\n")
    assert "  line  api" in out and "MISSING" in out

    proc = run("-m", "ember", "compat", str(path))
    assert proc.returncode == 1 and proc.stdout == out
    assert run("-m", "ember", "compat", str(SCRIPTS / "polyfit.py")).returncode == 0


# ---- the tour --------------------------------------------------------------------------------
SEED003_IN_TOUR = [
    "[1] MeanBackward0: z = mean(y)",
    "    rule     d mean(y)/dy = 1/3 for each of 3 elements",
    "tensor([0.6667, 1.3333, 2.0000])",
]


def test_tour_without_graphviz_on_a_numpy_only_machine(tmp_path):
    # A stand-in site with only NumPy and ember on it (no graphviz, no torch), python -S.
    site = tmp_path / "site"
    site.mkdir()
    numpy_dir = Path(__import__("numpy").__file__).parent
    for p in numpy_dir.parent.iterdir():
        if p.name in ("numpy", "numpy.libs"):
            (site / p.name).symlink_to(p)
    (site / "ember").symlink_to(ROOT / "ember")
    env = {**os.environ, "PYTHONPATH": str(site)}
    code = "import sys; from ember.__main__ import main; sys.exit(main())"
    proc = run("-S", "-c", code, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert sum("pip install ember[viz]" in line for line in lines) == 1
    for line in SEED003_IN_TOUR:
        assert line in lines
    assert "y = 0.0102 + 0.8446 x + -0.0018 x^2 + -0.0916 x^3" in lines
    assert not (tmp_path / "ember-tour").exists()


def test_tour_writes_dot_source_without_the_dot_program(tmp_path):
    env = {**os.environ, "PATH": str(tmp_path)}  # no `dot` on PATH
    proc = run("-m", "ember", "--out", "pics", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "pics"
    assert f"Pictures of the graphs go to {out}/ as DOT source" in proc.stdout
    assert f"(picture of the graph: {out / 'seed003_mean.dot'})" in proc.stdout
    dot = (out / "seed003_mean.dot").read_text()
    assert "MeanBackward0" in dot and "MulBackward0" in dot


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_tour_writes_png_pictures_in_the_default_directory(tmp_path):
    proc = run("-m", "ember", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for line in SEED003_IN_TOUR:
        assert line in proc.stdout.splitlines()
    pictures = sorted(p.name for p in (tmp_path / "ember-tour").iterdir())
    assert "seed003_mean.png" in pictures and len(pictures) == 5
    assert (tmp_path / "ember-tour" / "seed003_mean.png").read_bytes()[:4] == b"\x89PNG"
