"""Run one workload on one library in this process, and print one JSON line describing the run.

Started by run.py, one subprocess per (library, workload), so that libraries never share a
process (imports, thread pools and allocators stay apart) and peak RSS is the library's own.

    python bench/worker.py LIB WORKLOAD [--trials N] [--min-time S] [--ref REF.npz]
    python bench/worker.py LIB seed-poly --program   # the whole sin fit, for wall time
    python bench/worker.py LIB WORKLOAD --serve      # trials on request (run.py interleaves)

The run: build the workload from common.inputs, run it once and compare loss and gradients with
torch's (--ref; --save-ref writes them instead), warm up, then time `trials` trials of at least
`min-time` seconds each (deep-chain: one step per trial, the check run being its warm-up).
Times are seconds per step.
"""

from __future__ import annotations

import argparse
import importlib
import json
import resource
import sys
import time
from collections.abc import Callable

import numpy as np
from common import SEED_STEPS, Case, Unsupported, compare, inputs

# library name -> the module it needs
LIBS: dict[str, str] = {
    "numpy": "numpy",
    "ember": "ember",
    "ember-compiled": "ember",
    "ember-fused": "numexpr",  # ember.compile(fuse=True): needs the ember[fast] extra
    "torch-1t": "torch",
    "torch-2t": "torch",
    "autograd": "autograd",
    "mygrad": "mygrad",
    "jax-eager": "jax",
    "jax-jit": "jax",
    "tinygrad": "tinygrad",
    "micrograd": "micrograd.engine",
}


def builder(lib: str) -> Callable[[str, dict[str, np.ndarray]], Case]:
    """Import `lib` (raising ImportError when it is not installed) and return its `build`."""
    importlib.import_module(LIBS[lib])
    if lib in ("ember", "ember-compiled", "ember-fused", "torch-1t", "torch-2t"):
        from impls import torchlike

        m = importlib.import_module("ember" if lib.startswith("ember") else LIBS[lib])
        if lib.startswith("torch"):
            m.set_num_threads(int(lib[-2]))
        kw = {}
        if lib == "ember-compiled":
            kw = {"jit": m.compile}
        elif lib == "ember-fused":
            kw = {"jit": lambda fn: m.compile(fn, fuse=True)}
        return lambda w, inp: torchlike.build(m, w, inp, **kw)
    if lib.startswith("jax"):
        from impls import jax_impl

        return lambda w, inp: jax_impl.build(w, inp, jit=lib == "jax-jit")
    module = importlib.import_module(f"impls.{lib}_impl")
    return module.build


def rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    """Resident set size now, in MB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def timed(case: Case, workload: str, trials: int, min_time: float) -> list[float]:
    """Seconds per step for each trial, after a warm-up."""
    if workload == "deep-chain":  # the check run was the warm-up
        times = []
        for _ in range(trials):
            t0 = time.perf_counter()
            case.step()
            times.append(time.perf_counter() - t0)
        return times
    warm_up(case, min_time)
    return [trial(case, min_time) for _ in range(trials)]


def warm_up(case: Case, min_time: float) -> None:
    """At least 3 steps and `min_time` seconds of them, untimed."""
    t0 = time.perf_counter()
    n = 0
    while n < 3 or time.perf_counter() - t0 < min_time:
        case.step()
        n += 1


def trial(case: Case, min_time: float) -> float:
    """Seconds per step over at least one step and `min_time` seconds."""
    n, t0 = 0, time.perf_counter()
    while n == 0 or time.perf_counter() - t0 < min_time:
        case.step()
        n += 1
    return (time.perf_counter() - t0) / n


def served(case: Case, min_time: float) -> list[float]:
    """--serve: warm up, say so, then time one trial for each `trial` line read from stdin,
    answering each, until another line. run.py keeps one such worker per library and asks
    each for a trial in turn, so that a slow stretch of the machine falls on all of them."""
    warm_up(case, min_time)
    print(json.dumps({"status": "ready"}), flush=True)
    times = []
    for line in sys.stdin:
        if line.strip() != "trial":
            break
        times.append(trial(case, min_time))
        print(json.dumps({"t": times[-1]}), flush=True)
    return times


def failure(exc: BaseException) -> str:
    """A short reason for the table's "n/a" cell."""
    if isinstance(exc, Unsupported):
        return str(exc)
    if isinstance(exc, RecursionError):
        return "stack overflow (RecursionError)"
    if isinstance(exc, ImportError):
        return f"not installed ({exc.name or exc})"
    if isinstance(exc, MemoryError):
        return "out of memory"
    first = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else ""
    return f"error: {type(exc).__name__}: {first}"


def run(args: argparse.Namespace) -> dict[str, object]:
    """Check, then time (or, with --program, run the whole seed-poly program)."""
    try:
        build = builder(args.lib)
        inp = inputs(args.workload, args.chain_ops)
        case = build(args.workload, inp)
        if args.program:
            for _ in range(SEED_STEPS - 1):
                case.step()
            final = case.check()["loss"]
            return {"status": "ok", "final_loss": float(final), "rss_mb": rss_mb()}
        base = current_rss_mb()
        got = case.check()
    except (Exception, RecursionError) as exc:  # noqa: BLE001 -- any failure is a table entry
        return {"status": "na", "reason": failure(exc), "rss_mb": rss_mb()}
    note = ""
    dtype = np.asarray(got["loss"]).dtype
    if dtype != np.float32:
        note = f"computes in {dtype}"
    if args.save_ref:
        np.savez(args.save_ref, **{k: np.asarray(v) for k, v in got.items()})
    elif args.ref:
        with np.load(args.ref) as ref:
            why = compare(got, dict(ref))
        if why:
            return {"status": "na", "reason": why, "rss_mb": rss_mb()}
    try:
        if args.serve:
            times = served(case, args.min_time)
        else:
            times = timed(case, args.workload, args.trials, args.min_time)
    except (Exception, RecursionError) as exc:  # noqa: BLE001
        return {"status": "na", "reason": failure(exc), "rss_mb": rss_mb()}
    out = {"status": "ok", "times": times, "rss_mb": rss_mb(), "rss_base_mb": base, "note": note}
    traces = getattr(case.step, "traces", None)
    if traces is not None:  # ember-compiled: say what the timed calls ran, and the trace's cost
        eager = [t.eager_reason for t in traces if t.run is None]
        if eager:
            return {"status": "na", "reason": f"ran eagerly: {eager[0]}", "rss_mb": rss_mb()}
        out["trace_s"] = traces[0].trace_time
        out["note"] = f"{len(traces)} trace(s), first call {traces[0].trace_time * 1e3:.0f} ms"
        out["note"] += f"; {note}" if note else ""
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("lib", choices=sorted(LIBS))
    ap.add_argument("workload")
    ap.add_argument("--trials", type=int, default=7)
    ap.add_argument("--min-time", type=float, default=0.25)
    ap.add_argument("--chain-ops", type=int, default=100_000)
    ap.add_argument("--ref", help="torch's results (.npz) to compare with before timing")
    ap.add_argument("--save-ref", help="write this run's results (.npz) as the reference")
    ap.add_argument("--program", action="store_true", help="seed-poly: run the whole program")
    ap.add_argument("--serve", action="store_true", help="time one trial per `trial` on stdin")
    args = ap.parse_args()
    print(json.dumps(run(args)))


if __name__ == "__main__":
    main()
