"""bench/run.py's interleaving protocol (a timing never goes into a test: only the messages)."""

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import run  # noqa: E402


def test_a_served_worker_times_one_trial_per_request(tmp_path):
    s = run.Settings(trials=2, min_time=0.01, chain_ops=0, repeats=1, timeout=120)
    cmd = run.worker_cmd("numpy", "tiny-ops", s, f"--save-ref={tmp_path / 'r.npz'}", "--serve")
    server = run.Server(cmd)
    try:
        assert server.ask(None, 120) == {"status": "ready"}
        times = [server.ask("trial", 120)["t"] for _ in range(3)]
        done = server.ask("done", 120)
    finally:
        server.close()
    assert all(t > 0 for t in times)
    assert done["status"] == "ok" and done["times"] == times
    assert (tmp_path / "r.npz").exists()


def test_a_worker_that_fails_before_it_is_ready_gives_its_reason(tmp_path):
    s = run.Settings(trials=1, min_time=0.01, chain_ops=0, repeats=1, timeout=120)
    cmd = run.worker_cmd("micrograd", "mlp-step", s, f"--ref={tmp_path / 'r.npz'}", "--serve")
    server = run.Server(cmd)
    try:
        msg = server.ask(None, 120)
    finally:
        server.close()
    assert msg["status"] == "na" and msg["reason"]
