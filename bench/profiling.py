"""Profiling the core's hot path with pyinstrument (``python -m bench --profile``).

pyinstrument samples the stack every millisecond; on a hot path made of closures one to two
microseconds long, its tree shows which closures and built-ins the time goes to. For a line by
line view, ``py-spy record -r 2000 -o profile.svg -- python -m bench --stages core`` works too.
"""

from __future__ import annotations

from pathlib import Path

from .workload import compiled_segment, seggraph_rows, subscribers


def profile_core(out_dir: Path, count: int, passes: int = 10) -> Path | None:
    try:
        from pyinstrument import Profiler
    except ImportError:
        print("profile: pyinstrument is not installed (pip install -e '.[bench]')")
        return None
    segment = compiled_segment()
    rows = seggraph_rows(subscribers(count))
    profiler = Profiler(interval=0.0005)
    profiler.start()
    for _ in range(passes):
        segment.evaluate_many(rows)
    profiler.stop()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "profile-core.txt"
    path.write_text(
        profiler.output_text(unicode=True, color=False, show_all=True), encoding="utf-8"
    )
    print(f"profile: wrote {path}")
    return path
