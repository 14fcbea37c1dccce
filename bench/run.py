"""`make bench`: every stage benchmark in one run, next to the machine's own ceilings.

Each stage is a script under bench/ that takes ``--json OUT`` and writes its figures there; this
driver brings the local stack up, measures the ceilings, runs the stages (``--only`` picks some,
``--repeat`` runs each several times and keeps the median of every numeric figure) and writes
``bench/results/<timestamp>/results.json`` and ``summary.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench import ceilings
from lakepulse_cli.stack import Stack
from lakepulse_common.settings import LakePulseSettings

BENCH_DIR = Path(__file__).resolve().parent
STAGES: dict[str, list[str]] = {
    "seed": ["seed_load.py", "--scale", "{scale}"],
    "simulator": ["simulate_rate.py", "--rate", "500", "--rate", "2000", "--duration", "10"],
    "cdc": ["cdc_throughput.py"],
    "bronze": ["bronze_drain.py"],
    "silver": ["silver_merge.py"],
    "gold": ["gold_build.py"],
}
console = Console()


def _median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for key in runs[0]:
        values = [run.get(key) for run in runs]
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            merged[key] = statistics.median(values)  # type: ignore[type-var]
        elif all(isinstance(v, dict) for v in values):
            merged[key] = _median_of(values)  # type: ignore[arg-type]
        else:
            merged[key] = values[-1]
    return merged


def run_stage(name: str, out_dir: Path, scale: float, repeat: int) -> dict[str, Any]:
    script, *args = STAGES[name]
    path = BENCH_DIR / script
    if not path.exists():
        return {"status": "not available in this build"}
    runs = []
    for attempt in range(repeat):
        out = out_dir / f"{name}.{attempt}.json"
        command = [sys.executable, str(path), *(a.format(scale=scale) for a in args), "--json", str(out)]
        console.print(f"[bold]{name}[/] run {attempt + 1}/{repeat}: {' '.join(command[1:])}")
        result = subprocess.run(command, check=False)
        if result.returncode != 0 or not out.exists():
            return {"status": f"failed (exit {result.returncode})"}
        runs.append(json.loads(out.read_text()))
    return {"status": "ok", "runs": repeat, **_median_of(runs)}


def _flatten(prefix: str, value: Any) -> list[tuple[str, str]]:
    if isinstance(value, dict):
        return [
            row
            for key, inner in value.items()
            for row in _flatten(f"{prefix}.{key}" if prefix else key, inner)
        ]
    return [(prefix, f"{value:,.3f}" if isinstance(value, float) else str(value))]


def write_summary(out_dir: Path, results: dict[str, Any]) -> Path:
    lines = [f"# LakePulse benchmark {out_dir.name}", "", "| figure | value |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in _flatten("", results)]
    path = out_dir / "summary.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", action="append", choices=sorted(STAGES), help="run only these stages")
    parser.add_argument("--scale", type=float, default=1.0, help="data scale for the seed stage")
    parser.add_argument("--repeat", type=int, default=1, help="runs per stage; the median is reported")
    args = parser.parse_args()

    settings = LakePulseSettings()
    Stack(settings).up()
    out_dir = BENCH_DIR / "results" / time.strftime("%Y%m%d-%H%M%S")
    out_dir.mkdir(parents=True)
    results: dict[str, Any] = {"machine": {"cores": os.cpu_count()}}
    console.print("[bold]ceilings[/]: pyarrow Parquet write, single-process Kafka produce")
    results["ceilings"] = ceilings.measure(settings)
    for stage in args.only or list(STAGES):
        results[stage] = run_stage(stage, out_dir, args.scale, args.repeat)
    (out_dir / "results.json").write_text(json.dumps(results, indent=2, default=str))
    summary = write_summary(out_dir, results)

    table = Table(title=f"LakePulse benchmark ({out_dir.name})")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in _flatten("", results):
        table.add_row(key, value)
    console.print(table)
    console.print(f"results: {out_dir / 'results.json'}\nsummary: {summary}")


if __name__ == "__main__":
    main()
