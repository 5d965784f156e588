"""Peak-memory probes: RSS readings, one in-process probe, and fresh-process probes that report back."""

import subprocess
import sys

import pytest

from mllab.analysis.memory import collect_memory_probes, memory_probe, resident_mb, start_memory_probes


def test_resident_mb_reads_current_and_peak():
    current, peak = resident_mb()
    assert 1 < current <= peak  # a Python process with torch holds more than 1 MiB, and the peak is no lower
    block = bytearray(64 * 2**20)  # touch 64 MiB: the peak must rise to cover it
    block[::4096] = b"x" * len(block[::4096])
    _, after = resident_mb()
    assert after >= current + 32
    del block


def test_memory_probe_in_process_reports_growth():
    result = memory_probe(accum_steps=1, batch=4096, width=256, depth=2, seed=0)
    assert set(result) == {"baseline_mb", "peak_mb"}
    assert result["peak_mb"] >= result["baseline_mb"] > 1


def test_fresh_process_probes_come_back_for_both_k():
    results = collect_memory_probes(start_memory_probes(4, 2048, 64, 2, seed=0))
    assert sorted(results) == [1, 4]
    for k, m in results.items():
        assert m["peak_mb"] >= m["baseline_mb"] > 1, (k, m)


def test_failed_probe_raises_with_its_error():
    process = subprocess.Popen([sys.executable, "-m", "mllab.analysis.memory", "not-a-number"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with pytest.raises(RuntimeError, match="memory probe k=3 failed"):
        collect_memory_probes({3: process})
