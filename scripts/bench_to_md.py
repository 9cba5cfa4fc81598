#!/usr/bin/env python3
"""Turn Google Benchmark JSON output into markdown tables with ours/theirs ratio rows.

Benchmark names follow "<case>/<implementation>[/<args>...]" (e.g. "spsc_single/ringkernel/real_time" or
"mpsc_single/moodycamel_cq/producers:2/real_time"). For every case and argument suffix, the "ringkernel" row is
paired with each other implementation of the same case and a ratio row ours/theirs of items_per_second is
printed (> 1.0 means RingKernel is faster). When repetitions were run, the median aggregate is used.

Usage: bench_to_md.py FILE.json [FILE.json ...] [--ours ringkernel] [-o OUT.md]
Standard library only.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import OrderedDict
from pathlib import Path


def fmt_rate(value: float | None) -> str:
    if value is None:
        return "-"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= scale:
            return f"{value / scale:.2f} {unit}/s"
    return f"{value:.1f} /s"


def fmt_time(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    return f"{value:,.1f} {unit}"


def split_name(run_name: str) -> tuple[str, str, str]:
    """Returns (case, implementation, suffix) for "<case>/<impl>/<suffix...>"."""
    parts = run_name.split("/")
    if len(parts) == 1:
        return parts[0], "", ""
    return parts[0], parts[1], "/".join(parts[2:])


def load_rows(path: Path) -> tuple[dict, list[dict]]:
    """Median rows when aggregates exist, otherwise plain iteration rows (first occurrence per name)."""
    data = json.loads(path.read_text())
    benchmarks = data.get("benchmarks", [])
    has_aggregates = any(b.get("run_type") == "aggregate" for b in benchmarks)
    rows: "OrderedDict[str, dict]" = OrderedDict()
    for b in benchmarks:
        if has_aggregates:
            if b.get("run_type") != "aggregate" or b.get("aggregate_name") != "median":
                continue
        elif b.get("run_type", "iteration") != "iteration":
            continue
        name = b.get("run_name") or b.get("name", "")
        if b.get("error_occurred"):
            rows.setdefault(name, {"name": name, "error": b.get("error_message", "error")})
            continue
        rows.setdefault(name, b | {"name": name})
    return data.get("context", {}), list(rows.values())


def table_for(path: Path, ours: str) -> str:
    context, rows = load_rows(path)
    out: list[str] = []
    title = path.stem
    reps = next((r.get("repetitions") for r in rows if r.get("repetitions")), None)
    out.append(f"### {title}\n")
    if rows and "aggregate_name" in rows[0]:
        out.append(f"Medians of {reps or 'several'} repetitions.\n")
    out.append("| Benchmark | Items/s | Time | CPU |")
    out.append("|---|---:|---:|---:|")
    for r in rows:
        if "error" in r:
            out.append(f"| `{r['name']}` | error: {r['error']} | | |")
            continue
        unit = r.get("time_unit", "ns")
        out.append(
            f"| `{r['name']}` | {fmt_rate(r.get('items_per_second'))} | "
            f"{fmt_time(r.get('real_time'), unit)} | {fmt_time(r.get('cpu_time'), unit)} |"
        )

    # Ratio rows: ours vs every other implementation of the same case and suffix.
    groups: "OrderedDict[tuple[str, str], dict[str, dict]]" = OrderedDict()
    for r in rows:
        if "error" in r:
            continue
        case, impl, suffix = split_name(r["name"])
        if impl:
            groups.setdefault((case, suffix), {})[impl] = r
    ratio_lines = []
    for (case, suffix), impls in groups.items():
        mine = impls.get(ours)
        if mine is None or mine.get("items_per_second") is None:
            continue
        for impl, theirs in impls.items():
            if impl == ours or not theirs.get("items_per_second"):
                continue
            ratio = mine["items_per_second"] / theirs["items_per_second"]
            label = case + (f" ({suffix})" if suffix else "")
            ratio_lines.append(
                f"| {label} | {impl} | {fmt_rate(mine['items_per_second'])} | "
                f"{fmt_rate(theirs['items_per_second'])} | **{ratio:.2f}x** |"
            )
    if ratio_lines:
        out.append("")
        out.append(f"Ratios ({ours} / other, items per second; > 1.00x means {ours} is faster):\n")
        out.append(f"| Case | Other | {ours} | Other | Ratio |")
        out.append("|---|---|---:|---:|---:|")
        out.extend(ratio_lines)
    out.append("")
    return "\n".join(out)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+", type=Path, help="Google Benchmark JSON files")
    ap.add_argument("--ours", default="ringkernel", help="implementation name treated as ours")
    ap.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    args = ap.parse_args(argv)
    parts = []
    for f in args.files:
        try:
            parts.append(table_for(f, args.ours))
        except (OSError, json.JSONDecodeError) as e:
            print(f"bench_to_md: {f}: {e}", file=sys.stderr)
            return 1
    text = "\n".join(parts)
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
