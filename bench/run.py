"""ember's benchmark suite: every workload on every installed library, side by side.

    python bench/run.py [--quick] [--libs LIB ...] [--workloads W ...] [--out bench/results]

Each (library, workload) runs in its own subprocess (bench/worker.py): the library's loss and
gradients are first checked against torch's on the same inputs, then it warms up and is timed
over repeated trials; the median (and best) count. seed-poly is the whole sin-fit program timed
as a process; startup is `python -c "import LIB"` (ember's bytecode is compiled first, as
`pip install` does). A library that cannot run a workload shows "n/a" with the reason.
Prints the table, and writes it as Markdown (results.md) and a chart of ratios to torch with 2
threads (results.png) under --out.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from common import TIMED_IN_PROCESS, TINY_OPS, WORKLOADS
from worker import LIBS

HERE = Path(__file__).resolve().parent
BASELINE = "torch-2t"
LIB_ORDER = tuple(LIBS)  # numpy first: the floor
DIST = {  # library -> distribution whose version the report names
    "numpy": "numpy",
    "ember": "ember",
    "ember-compiled": "ember",
    "ember-fused": "ember",
    "torch-1t": "torch",
    "torch-2t": "torch",
    "autograd": "autograd",
    "mygrad": "mygrad",
    "jax-eager": "jax",
    "jax-jit": "jax",
    "tinygrad": "tinygrad",
    "micrograd": "micrograd",
}
# workload -> (unit shown, factor from seconds per step)
UNITS = {
    "tiny-ops": ("us/op", 1e6 / TINY_OPS),
    "mlp-step": ("ms", 1e3),
    "cnn-step": ("ms", 1e3),
    "hvp": ("ms", 1e3),
    "seed-poly": ("s", 1.0),
    "startup": ("s", 1.0),
    "deep-chain": ("s", 1.0),
}


@dataclass
class Settings:
    """How hard to measure: --quick trades precision for a run of a few minutes."""

    trials: int
    min_time: float
    chain_ops: int
    repeats: int  # whole-process runs (seed-poly, startup); one slow run moved a median of 3
    timeout: float  # seconds per subprocess


SETTLE = 0.2  # seconds between two libraries' trials: OpenBLAS's threads spin ~0.1 s after work
FULL = Settings(trials=11, min_time=0.2, chain_ops=100_000, repeats=5, timeout=240)
QUICK = Settings(trials=3, min_time=0.08, chain_ops=10_000, repeats=1, timeout=90)


@dataclass
class Cell:
    """One (workload, library) result: seconds per unit, or why there is none."""

    median: float | None = None
    best: float | None = None
    rss_mb: float | None = None
    reason: str = ""
    note: str = ""


def subprocess_json(cmd: list[str], timeout: float) -> tuple[dict, float]:
    """Run `cmd`, parse its last stdout line as JSON; returns it and the wall time."""
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=HERE)
    except subprocess.TimeoutExpired:
        return {"status": "na", "reason": f"timeout after {timeout:.0f} s"}, timeout
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"status": "na", "reason": exit_reason(proc.returncode, proc.stderr)}, wall
    return json.loads(proc.stdout.strip().splitlines()[-1]), wall


def exit_reason(returncode: int, stderr: str) -> str:
    """Why a worker died, for the table's "n/a" cell."""
    if returncode == -11:
        return "crashed (SIGSEGV: native stack overflow)"
    if returncode < 0:
        return f"crashed (signal {-returncode})"
    tail = stderr.strip().splitlines()[-1:] or ["?"]
    return f"exit {returncode}: {tail[0][:100]}"


class Server:
    """A worker started with --serve: it checks and warms up, then times one trial whenever
    asked. JSON lines come back through a reader thread, so that a hung or crashed worker
    gives a timeout or its exit reason instead of blocking the run."""

    def __init__(self, cmd: list[str]) -> None:
        self.err = tempfile.TemporaryFile("w+")  # (a pipe could fill up and stall the worker)
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err, text=True, cwd=HERE
        )
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            if line.startswith("{"):
                try:
                    self.lines.put(json.loads(line))
                except ValueError:  # (a library's own output that looks like JSON)
                    continue
        self.lines.put(None)

    def ask(self, request: str | None, timeout: float) -> dict:
        """Send `request` (a line; None sends nothing) and wait for the next JSON line."""
        try:
            if request is not None:
                self.proc.stdin.write(request + "\n")
                self.proc.stdin.flush()
            msg = self.lines.get(timeout=timeout)
        except queue.Empty:
            self.close()
            return {"status": "na", "reason": f"timeout after {timeout:.0f} s"}
        except BrokenPipeError:
            msg = None
        if msg is None:
            self.proc.wait()
            self.err.seek(0)
            return {"status": "na", "reason": exit_reason(self.proc.returncode, self.err.read())}
        return msg

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.err.close()


def worker_cmd(lib: str, workload: str, s: Settings, *extra: str) -> list[str]:
    """The command line running `workload` on `lib` in bench/worker.py."""
    return [
        sys.executable,
        str(HERE / "worker.py"),
        lib,
        workload,
        f"--trials={s.trials}",
        f"--min-time={s.min_time}",
        f"--chain-ops={s.chain_ops}",
        *extra,
    ]


def in_process(workload: str, libs: list[str], s: Settings, tmp: Path) -> dict[str, Cell]:
    """Check and time `workload` on each library; torch (2 threads) first, as the reference.

    Each library has a worker of its own, all kept alive, and the trials are interleaved:
    round r asks every worker for one trial, in an order rotated each round, with a pause
    before each so that the last one's thread pools have gone idle. This machine has slow
    stretches of many seconds; timed one library after another, a stretch moved whichever
    libraries it fell on (torch's median once went from 1.5 to 2.3 ms between runs), and with
    them the ratios. Interleaved, every library's median is taken over the same stretches.
    deep-chain (one long step per trial) is timed one library after another."""
    ref = tmp / f"{workload}.npz"
    order = [BASELINE] + [lib for lib in libs if lib != BASELINE]
    cells: dict[str, Cell] = {}
    if workload == "deep-chain":
        for lib in order:
            flag = f"--save-ref={ref}" if lib == BASELINE else f"--ref={ref}"
            res, _ = subprocess_json(worker_cmd(lib, workload, s, flag), s.timeout)
            cells[lib] = to_cell(res, workload)
            print(f"  {workload:10s} {lib:10s} {fmt(workload, cells[lib])}", flush=True)
        return cells
    servers: dict[str, Server] = {}
    for lib in order:  # (one at a time: torch writes the reference the others are checked on)
        flag = f"--save-ref={ref}" if lib == BASELINE else f"--ref={ref}"
        server = Server(worker_cmd(lib, workload, s, flag, "--serve"))
        msg = server.ask(None, s.timeout)
        if msg.get("status") == "ready":
            servers[lib] = server
        else:
            cells[lib] = to_cell(msg, workload)
            server.close()
    for r in range(s.trials):
        live = list(servers)
        for lib in live[r % len(live) :] + live[: r % len(live)] if live else []:
            time.sleep(SETTLE)
            msg = servers[lib].ask("trial", s.timeout)
            if "t" not in msg:
                cells[lib] = to_cell(msg, workload)
                servers.pop(lib).close()
    for lib, server in servers.items():
        cells[lib] = to_cell(server.ask("done", s.timeout), workload)
        server.close()
    for lib in order:
        print(f"  {workload:10s} {lib:10s} {fmt(workload, cells[lib])}", flush=True)
    return {lib: cells[lib] for lib in order}


def to_cell(res: dict, workload: str) -> Cell:
    """A worker's JSON line as a table cell."""
    if res["status"] != "ok":
        return Cell(reason=res["reason"], rss_mb=res.get("rss_mb"))
    t = res["times"]
    note = res.get("note", "")
    if workload == "deep-chain":  # say what the recorded graph itself cost
        note = f"+{res['rss_mb'] - res['rss_base_mb']:.0f} MB for the graph" + (
            f"; {note}" if note else ""
        )
    return Cell(statistics.median(t), min(t), res["rss_mb"], note=note)


def seed_poly(libs: list[str], s: Settings, tmp: Path) -> dict[str, Cell]:
    """Check the first step against torch, then time the whole 2000-step program as a process."""
    checks = in_process("seed-poly", libs, Settings(1, 0.01, 0, 1, s.timeout), tmp)
    cells, final_ref = {}, None
    for lib in [BASELINE] + [lib for lib in libs if lib != BASELINE]:
        if checks[lib].median is None:
            cells[lib] = checks[lib]
            continue
        walls, rss, losses = [], 0.0, []
        for _ in range(s.repeats):
            res, wall = subprocess_json(worker_cmd(lib, "seed-poly", s, "--program"), s.timeout)
            if res["status"] != "ok":
                walls = []
                cells[lib] = Cell(reason=res["reason"])
                break
            walls.append(wall)
            rss = max(rss, res["rss_mb"])
            losses.append(res["final_loss"])
        if walls:
            final_ref = losses[0] if lib == BASELINE else final_ref
            cell = Cell(statistics.median(walls), min(walls), rss)
            if final_ref is not None and abs(losses[0] - final_ref) > 1e-3 * abs(final_ref):
                cell = Cell(reason=f"final loss {losses[0]:.4g} != torch's {final_ref:.4g}")
            cells[lib] = cell
        print(f"  seed-poly  {lib:10s} {fmt('seed-poly', cells[lib])} (whole process)")
    return cells


def startup(libs: list[str], s: Settings) -> dict[str, Cell]:
    """Wall time and peak RSS of `python -c "import MODULE"`, median over repeats."""
    by_module: dict[str, Cell] = {}
    cells = {}
    for lib in libs:
        module = "ember" if lib.startswith("ember") else LIBS[lib]
        if module not in by_module:
            code = (
                f"import {module}, resource; "
                "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
            )
            walls, rss, reason = [], 0.0, ""
            for _ in range(s.repeats + 2):
                t0 = time.perf_counter()
                proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
                walls.append(time.perf_counter() - t0)
                if proc.returncode:
                    reason = f"not installed ({module})"
                    break
                rss = max(rss, float(proc.stdout.split()[-1]))
            by_module[module] = (
                Cell(reason=reason) if reason else Cell(statistics.median(walls), min(walls), rss)
            )
        cells[lib] = by_module[module]
        print(f"  startup    {lib:10s} {fmt('startup', cells[lib])}")
    return cells


def fmt(workload: str, c: Cell) -> str:
    """A cell for the progress lines: median and best in the workload's unit, or why n/a."""
    if c.median is None:
        return f"n/a ({c.reason})"
    unit, k = UNITS[workload]
    return f"{c.median * k:.3g} {unit} (best {c.best * k:.3g})"


def ratio(cells: dict[str, Cell], lib: str) -> float | None:
    """`lib`'s median over torch (2 threads)'s, when both ran."""
    base, c = cells.get(BASELINE), cells.get(lib)
    if base is None or c is None or base.median is None or c.median is None:
        return None
    return c.median / base.median


def machine() -> str:
    """CPU model and core count, for the report's header."""
    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    py = platform.python_version()
    return f"{model}, {os.cpu_count()} cores, {platform.system()}, Python {py}"


def versions(libs: list[str]) -> str:
    """The installed versions of the libraries' distributions."""
    out = []
    for dist in dict.fromkeys(DIST[lib] for lib in libs):
        try:
            out.append(f"{dist} {importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            out.append(f"{dist} (not installed)")
    return ", ".join(out)


def markdown(results: dict[str, dict[str, Cell]], libs: list[str], s: Settings) -> str:
    """The report: a ratio matrix, then each workload's times, peak RSS and reasons for n/a."""
    date = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    mode = "quick" if s is QUICK else "full"
    lines = [
        "# ember benchmark results",
        "",
        f"{date}, {machine()}; {mode} run (`python bench/run.py`), {s.trials} trials "
        f"per cell, deep-chain of {s.chain_ops:,} ops.",
        "",
        f"Versions: {versions(libs)}.",
        "",
        "## Median time / torch (2 threads) median time",
        "",
        "| workload | " + " | ".join(libs) + " |",
        "|---" * (len(libs) + 1) + "|",
    ]
    for w, cells in results.items():
        row = []
        for lib in libs:
            r = ratio(cells, lib)
            row.append("n/a" if r is None else f"{r:.2f}")
        lines.append(f"| {w} | " + " | ".join(row) + " |")
    for w, cells in results.items():
        unit, k = UNITS[w]
        lines += [
            "",
            f"## {w}",
            "",
            f"| library | median ({unit}) | best ({unit}) | / torch-2t | peak RSS (MB) | notes |",
            "|---|---|---|---|---|---|",
        ]
        for lib in libs:
            c = cells[lib]
            rss = f"{c.rss_mb:.0f}" if c.rss_mb else ""
            if c.median is None:
                lines.append(f"| {lib} | n/a | | | {rss} | {c.reason} |")
                continue
            r = ratio(cells, lib)
            lines.append(
                f"| {lib} | {c.median * k:.3g} | {c.best * k:.3g} | "
                f"{'' if r is None else f'{r:.2f}x'} | {rss} | {c.note} |"
            )
    return "\n".join(lines) + "\n"


def chart(results: dict[str, dict[str, Cell]], libs: list[str], path: Path) -> None:
    """Grouped bars of each library's ratio to torch (2 threads), log axis; n/a is left out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [lib for lib in libs if lib != BASELINE]
    workloads = list(results)
    width = 0.8 / max(len(shown), 1)
    fig, ax = plt.subplots(figsize=(11, 4.2))
    cmap = plt.get_cmap("tab10")
    for i, lib in enumerate(shown):
        xs, ys = [], []
        for j, w in enumerate(workloads):
            r = ratio(results[w], lib)
            if r is not None:
                xs.append(j + (i - (len(shown) - 1) / 2) * width)
                ys.append(r)
        ax.bar(xs, ys, width, label=lib, color=cmap(i % 10), edgecolor="black", linewidth=0.3)
    ax.axhline(1.0, color="black", linewidth=1)
    ax.set_yscale("log")
    ax.set_xticks(range(len(workloads)), workloads)
    ax.set_ylabel("median time / torch (2 threads)")
    ax.set_title("Time relative to torch with 2 threads (lower is faster; log scale)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def bytecode() -> None:
    """Compile ember's modules to bytecode first, as `pip install` does for every wheel: an
    editable checkout under PYTHONDONTWRITEBYTECODE would otherwise compile its source on
    every import, and startup and seed-poly would time that instead of ember."""
    import compileall

    import ember

    compileall.compile_dir(str(Path(ember.__file__).parent), quiet=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a smoke run of a few minutes")
    ap.add_argument("--libs", nargs="+", choices=LIB_ORDER, default=list(LIB_ORDER))
    ap.add_argument("--workloads", nargs="+", choices=WORKLOADS, default=list(WORKLOADS))
    ap.add_argument("--out", type=Path, default=HERE / "results")
    args = ap.parse_args()
    s = QUICK if args.quick else FULL
    libs = [lib for lib in LIB_ORDER if lib in set(args.libs) | {BASELINE}]
    results: dict[str, dict[str, Cell]] = {}
    t0 = time.perf_counter()
    bytecode()
    with tempfile.TemporaryDirectory() as tmp:
        for w in [w for w in WORKLOADS if w in args.workloads]:
            if w in TIMED_IN_PROCESS:
                results[w] = in_process(w, libs, s, Path(tmp))
            elif w == "seed-poly":
                results[w] = seed_poly(libs, s, Path(tmp))
            else:
                results[w] = startup(libs, s)
    report = markdown(results, libs, s)
    print()
    print(report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.md").write_text(report)
    chart(results, libs, args.out / "results.png")
    print(f"wrote {args.out / 'results.md'} and results.png in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
