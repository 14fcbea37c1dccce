"""`make bench`: every stage benchmark in one run, next to the machine's own ceilings.

Each stage is a module under bench/ that takes ``--json OUT`` and writes its figures there; this
driver brings the local stack up, measures the ceilings, runs the stages (``--only`` picks some,
``--repeat`` runs each several times and keeps the median of every numeric figure, ``--scale 0.1,1,4``
runs the size-dependent stages at each data scale) and writes ``bench/results/<timestamp>/``:
``results.json``, ``summary.md`` and the PNG plots. The peak memory of every stage run (its whole
process tree: the script and the JVM it starts) is sampled here, so every stage reports it.

    uv run python -m bench.run --only bronze --repeat 3
    uv run python -m bench.run --scale 0.1,1,4 --only seed --only gold
"""

from __future__ import annotations

import argparse
import functools
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

from bench import ceilings, plots, report
from bench.memory import MemorySampler
from lakepulse_cli.stack import Stack
from lakepulse_common.settings import LakePulseSettings

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
# Placeholders: {scale}; {events} = 1M x scale (bronze backlog); {silver_small}/{silver_large} =
# 0.5M/2M x scale (silver table sizes); {rate}/{duration} of the freshness workload.
STAGES: dict[str, list[str]] = {
    "seed": ["seed_load", "--scale", "{scale}"],
    "simulator": ["simulate_rate", "--rate", "500", "--rate", "2000", "--duration", "10"],
    "cdc": ["cdc_throughput"],
    "bronze": ["bronze_drain", "--events", "{events}"],
    # Delta-on-Spark per-operation floors: the in-run baseline of the silver and gold stages.
    "floor": ["delta_floor"],
    "silver": ["silver_merge", "--sizes", "{silver_small}", "{silver_large}"],
    "gold": ["gold_build", "--scale", "{scale}"],
    # Three bare Spark drivers as a bronze → silver → gold pipeline at the freshness rate: its baseline.
    "pipeline": ["pipeline_floor", "--rate", "{rate}", "--duration", "{duration}"],
    # Last: it starts the services, which would compete for the cores with every other stage.
    "freshness": ["freshness", "--rate", "{rate}", "--duration", "{duration}", "--start-services"],
    # After freshness: it queries the gold marts that run left in the local stack's lake.
    "sql": ["sql_query"],
}
SCALED_STAGES = ("seed", "bronze", "silver", "gold")
console = Console()


def stage_arguments(name: str, scale: float, rate: float, duration: float) -> list[str]:
    """The stage's command-line arguments with the scale (and freshness workload) filled in."""
    values = {
        "scale": f"{scale:g}",
        "events": str(max(1, round(1_000_000 * scale))),
        "silver_small": str(max(1, round(500_000 * scale))),
        "silver_large": str(max(1, round(2_000_000 * scale))),
        "rate": f"{rate:g}",
        "duration": f"{duration:g}",
    }
    return [argument.format(**values) for argument in STAGES[name][1:]]


def as_mapping(payload: Any) -> dict[str, Any]:
    """A stage's JSON as a mapping: a list of per-size results (silver) is keyed by its table size."""
    if isinstance(payload, dict):
        return payload
    if isinstance(payload, list) and all(isinstance(item, dict) for item in payload):
        return {
            f"{item['table_rows']}_rows" if "table_rows" in item else str(i): item
            for i, item in enumerate(payload)
        }
    return {"value": payload}


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median of every numeric figure over repeated runs; nested mappings likewise; anything else
    (strings, lists, booleans) from the last run."""
    merged: dict[str, Any] = {}
    for key in runs[0]:
        values = [run.get(key) for run in runs]
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            merged[key] = statistics.median(values)  # type: ignore[type-var]
        elif all(isinstance(v, dict) for v in values):
            merged[key] = median_of(values)  # type: ignore[arg-type]
        else:
            merged[key] = values[-1]
    return merged


def run_stage(name: str, out_dir: Path, arguments: list[str], repeat: int, tag: str = "") -> dict[str, Any]:
    module = STAGES[name][0]
    if not (BENCH_DIR / f"{module}.py").exists():
        return {"status": "not available in this build"}
    runs = []
    for attempt in range(repeat):
        out = out_dir / f"{name}{tag}.{attempt}.json"
        command = [sys.executable, "-m", f"bench.{module}", *arguments, "--json", str(out)]
        console.print(f"[bold]{name}{tag}[/] run {attempt + 1}/{repeat}: {' '.join(command[1:])}")
        process = subprocess.Popen(command, cwd=REPO_DIR)
        sampler = MemorySampler(functools.partial(dict, stage=process.pid), interval_s=0.5)
        sampler.start()
        code = process.wait()
        sampler.stop()
        if code != 0 or not out.exists():
            return {"status": f"failed (exit {code})"}
        figures = as_mapping(json.loads(out.read_text()))
        figures["peak_rss_mib"] = sampler.summary()["total_peak"]["rss_mib"]
        runs.append(figures)
    return {"status": "ok", "runs": repeat, **median_of(runs)}


def parse_scales(text: str) -> list[float]:
    scales = [float(part) for part in text.split(",") if part.strip()]
    if not scales or any(s <= 0 for s in scales):
        raise argparse.ArgumentTypeError("--scale takes positive numbers, e.g. 1 or 0.1,1,4")
    return sorted(set(scales))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", action="append", choices=list(STAGES), help="run only these stages")
    parser.add_argument(
        "--scale",
        type=parse_scales,
        default=[1.0],
        help="data scale(s) of the seed, bronze, silver, gold stages; 0.1,1,4 adds a scaling table",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per stage; the median is reported")
    parser.add_argument("--freshness-rate", type=float, default=1000.0, help="source tx/s (freshness)")
    parser.add_argument("--freshness-duration", type=float, default=120.0, help="seconds (freshness)")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    args = parser.parse_args()

    settings = LakePulseSettings()
    Stack(settings).up()
    out_dir = BENCH_DIR / "results" / time.strftime("%Y%m%d-%H%M%S")
    out_dir.mkdir(parents=True)
    scales: list[float] = args.scale
    reference = 1.0 if 1.0 in scales else scales[-1]  # the scale the headline figures are quoted at
    results: dict[str, Any] = {
        "machine": {"cores": os.cpu_count()},
        "scales": scales,
        "reference_scale": reference,
    }
    console.print("[bold]ceilings[/]: pyarrow Parquet write, single-process Kafka produce")
    results["ceilings"] = ceilings.measure(settings)
    scaling: dict[str, dict[str, Any]] = {}
    for stage in [s for s in STAGES if s in (args.only or STAGES)]:
        if stage in SCALED_STAGES and len(scales) > 1:
            for scale in scales:
                arguments = stage_arguments(stage, scale, args.freshness_rate, args.freshness_duration)
                figures = run_stage(stage, out_dir, arguments, args.repeat, tag=f"@{scale:g}")
                scaling.setdefault(stage, {})[f"{scale:g}"] = figures
            results[stage] = scaling[stage][f"{reference:g}"]
        else:
            arguments = stage_arguments(stage, reference, args.freshness_rate, args.freshness_duration)
            results[stage] = run_stage(stage, out_dir, arguments, args.repeat)
    if scaling:
        results["scaling"] = scaling
    results["ratios"] = report.ratios(results)
    (out_dir / "results.json").write_text(json.dumps(results, indent=2, default=str))
    images = [] if args.no_plots else plots.write_all(out_dir, results)
    summary = report.write_summary(out_dir, results, images)

    table = Table(title=f"LakePulse benchmark ({out_dir.name})")
    for column in ("figure", "value", "in-run baseline"):
        table.add_column(column, justify="left" if column == "figure" else "right")
    for row in report.headline_rows(results):
        table.add_row(*row)
    console.print(table)
    if scaling:
        scaling_table = Table(title="scaling")
        for column in report.SCALING_COLUMNS:
            scaling_table.add_column(column, justify="right")
        for scaling_row in report.scaling_rows(scaling):
            scaling_table.add_row(*scaling_row)
        console.print(scaling_table)
    console.print(f"results: {out_dir / 'results.json'}\nsummary: {summary}")
    for image in images:
        console.print(f"plot: {image}")


if __name__ == "__main__":
    main()
