"""`results.csv`, the per-epoch table Ultralytics writes into a run folder, read in one place."""

from __future__ import annotations

from pathlib import Path


def read_results(run_dir: Path) -> list[dict[str, float]]:
    import csv as csvmod

    path = run_dir / "results.csv"
    if not path.exists():
        return []
    rows = []
    for row in csvmod.DictReader(path.read_text().splitlines()):
        out = {}
        for k, v in row.items():
            try:
                out[k.strip()] = float(v)
            except (TypeError, ValueError, AttributeError):
                pass
        rows.append(out)
    return rows
