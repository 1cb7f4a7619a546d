"""Builds summary.md of a ``benchmarks/vs_alertmanager.sh`` run from its result folder.

    .venv/bin/python benchmarks/vs_alertmanager_report.py /tmp/lim-vs-am/<timestamp>

Reads the loadgen JSON of every point (``throughput_<target>.json``, ``single_<target>.json``,
``rate-r<k>_<target>.json``, ``fill_<target>.json``), ``memory.jsonl`` and ``machine.txt``; prints Markdown. Every
ratio divides two figures measured in this run, on this machine, with the same stream.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

AM = "alertmanager"

#: The peer's own figures (/work/shared/tools/alertmanager-peer/RESULTS.md, another run on this kind of machine),
#: printed beside ours for orientation only: (client, batch, conns) -> alerts/s.
PEER_REFERENCE = {
    ("raw", 100, 8): 35_557,
    ("aiohttp", 100, 8): 35_060,
    ("raw", 1, 8): 12_824,
    ("aiohttp", 1, 8): 7_836,
    ("raw", 10, 8): 28_439,
    ("aiohttp", 10, 8): 23_132,
}
PEER_BYTES_PER_ALERT_100K = 4_050  # RSS, median minus baseline, 100k active alerts


_CEILINGS = ("ceiling-raw", "ceiling-litestar-asgi", "ceiling-litestar")


def _order(target: str) -> tuple[int, int, str]:
    """Alertmanager, ours (embedded, distributed), then the ceilings from the barest up."""
    rank = 0 if target == AM else 1 if target.startswith("ours-") else 2
    sub = _CEILINGS.index(target) if target in _CEILINGS else len(_CEILINGS)
    return rank, sub, target


def load_points(res: Path, phase: str) -> dict[str, dict[str, Any]]:
    points: dict[str, dict[str, Any]] = {}
    for path in sorted(res.glob(f"{phase}_*.json")):
        try:
            points[path.stem[len(phase) + 1 :]] = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            print(f"skipping {path}: {exc}", file=sys.stderr)
    return dict(sorted(points.items(), key=lambda kv: _order(kv[0])))


def target_cpu(point: dict[str, Any]) -> float | None:
    """% of one core, summed over the target's processes (granian main and workers)."""
    values = [
        w["cpu_pct_of_core"]
        for name, w in point.get("watch", {}).items()
        if (name == "target" or name.startswith("target.")) and "cpu_pct_of_core" in w
    ]
    return sum(values) if values else None


def errors(point: dict[str, Any]) -> str:
    bad = {k: v for k, v in point.get("status", {}).items() if not 200 <= int(k) < 300}
    parts = [f"{code}x{n}" for code, n in sorted(bad.items())]
    if point.get("errors"):
        parts.append(f"excx{point['errors']}")
    return " ".join(parts) if parts else "0"


def num(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def ratio(a: float | None, b: float | None) -> str:
    if a is None or not b:
        return "-"
    return f"{a / b:.2f}x"


def lat(point: dict[str, Any], key: str, field: str) -> float | None:
    value = point.get(key, {}).get(field)
    return float(value) if value is not None else None


def closed_section(title: str, points: dict[str, dict[str, Any]]) -> list[str]:
    out = [f"## {title}", ""]
    if not points:
        return [*out, "not run, or no target finished.", ""]
    first = next(iter(points.values()))
    out += [
        f"Stream: `--format am-v2` to `/api/v2/alerts`, client {first['client']}, batch {first['batch']}, "
        f"{first['conc']} connections, {first['duration_req']:g} s, seed {first['seed']}, run tag "
        f"`{first['run_tag']}`. CPU is % of one core (200% = the whole machine); sys is both cores busy.",
        "",
        "| target | alerts/s | req/s | p50 ms | p99 ms | target CPU % | loadgen CPU % | sys % | non-2xx / errors "
        "| webhook POSTs | vs Alertmanager |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    am_rate = points[AM]["alerts_per_s"] if AM in points else None
    for target, p in points.items():
        sink = p.get("sink", {}).get("notifications")
        out.append(
            f"| {target} | {num(p['alerts_per_s'])} | {num(p['requests_per_s'])} "
            f"| {num(lat(p, 'latency', 'p50_ms'), 2)} | {num(lat(p, 'latency', 'p99_ms'), 2)} "
            f"| {num(target_cpu(p))} | {num(p.get('loadgen_cpu_pct_of_core'))} "
            f"| {num(p.get('system_busy_pct_all_cores'))} | {errors(p)} | {num(sink)} "
            f"| {ratio(p['alerts_per_s'], am_rate)} |"
        )
    out.append("")
    ceilings = {t: p["alerts_per_s"] for t, p in points.items() if t.startswith("ceiling-")}
    for target, p in points.items():
        if not target.startswith("ours-"):
            continue
        parts = [f"**{target} / Alertmanager = {ratio(p['alerts_per_s'], am_rate)}**"]
        parts += [f"{target} / {c} = {ratio(p['alerts_per_s'], v)}" for c, v in ceilings.items()]
        out.append("- " + "; ".join(parts))
    ref = PEER_REFERENCE.get((first["client"], first["batch"], first["conc"]))
    if ref:
        out.append(
            f"- Peer reference (RESULTS.md, a separate 20 s run): Alertmanager {ref:,} alerts/s at this "
            "client/batch/connections."
        )
    out.append("")
    return out


def load_rate_runs(res: Path) -> list[dict[str, dict[str, Any]]]:
    """The rate point's runs in order (``rate-r<k>_<target>.json``; a run of an older script: ``rate_*.json``)."""
    runs = []
    k = 1
    while points := load_points(res, f"rate-r{k}"):
        runs.append(points)
        k += 1
    if not runs and (old := load_points(res, "rate")):
        runs.append(old)
    return runs


def _from_schedule(point: dict[str, Any], key: str) -> float | None:
    return lat(point, "latency_from_schedule", key)


def rate_section(runs: list[dict[str, dict[str, Any]]]) -> list[str]:
    out = ["## (c) Fixed offered load, open loop", ""]
    if not runs:
        return [*out, "not run, or no target finished.", ""]
    first = next(iter(runs[0].values()))
    out += [
        f"Offered {first.get('offered_rate', 0):,.0f} alerts/s in batches of {first['batch']} "
        f"({first.get('scheduled_requests', 0):,} requests on a fixed clock), {first['conc']} connections, client "
        f"{first['client']}, {first['duration_req']:g} s, {len(runs)} run(s) of every target, interleaved. 'From "
        "schedule' runs from the scheduled send time, so a late client does not hide a slow server (coordinated "
        "omission).",
        "",
        "| target | run | achieved alerts/s | ok req | send->response p50 / p99 ms | from schedule p50 / p99 / max ms "
        "| target CPU % | non-2xx / errors | client scheduler lag max ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    targets = sorted({t for points in runs for t in points}, key=_order)
    for target in targets:
        for k, points in enumerate(runs, 1):
            p = points.get(target)
            if p is None:
                continue
            out.append(
                f"| {target} | {k} | {num(p['alerts_per_s'])} | {num(p['req_ok'])} / "
                f"{num(p.get('scheduled_requests'))} "
                f"| {num(lat(p, 'latency', 'p50_ms'), 2)} / {num(lat(p, 'latency', 'p99_ms'), 2)} "
                f"| {num(_from_schedule(p, 'p50_ms'), 2)} / {num(_from_schedule(p, 'p99_ms'), 2)} / "
                f"{num(_from_schedule(p, 'max_ms'), 2)} "
                f"| {num(target_cpu(p))} | {errors(p)} | {num(p.get('scheduler_lag_max_ms'), 2)} |"
            )
    out.append("")
    medians: dict[str, tuple[float | None, float | None]] = {}
    for target in targets:
        p99s = [v for points in runs if target in points if (v := _from_schedule(points[target], "p99_ms")) is not None]
        p50s = [v for points in runs if target in points if (v := _from_schedule(points[target], "p50_ms")) is not None]
        medians[target] = (_median(p50s), _median(p99s))
        out.append(
            f"- {target}: median of {len(p99s)} run(s), from schedule: p50 {num(medians[target][0], 2)} ms, "
            f"p99 **{num(medians[target][1], 2)} ms** (each run's p99: {', '.join(num(v, 2) for v in p99s)})"
        )
    am = medians.get(AM)
    for target in targets:
        if target.startswith("ours-") and am:
            out.append(
                f"- {target} / Alertmanager, median p99 from schedule: {ratio(medians[target][1], am[1])} (below 1x "
                f"is faster); median p50: {ratio(medians[target][0], am[0])}"
            )
    out.append("")
    return out


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def memory_section(res: Path) -> list[str]:
    out = ["## (d) Memory while holding unique open alerts", ""]
    fills = load_points(res, "fill")
    samples: dict[tuple[str, str], list[dict[str, Any]]] = {}
    path = res / "memory.jsonl"
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                s = json.loads(line)
                samples.setdefault((s["target"], s["label"]), []).append(s)
    if not fills:
        return [*out, "not run, or no target finished.", ""]
    first = next(iter(fills.values()))
    out += [
        f"A fresh target filled with unique alerts only (endsAt = now+1h): batch {first['batch']}, {first['conc']} "
        f"connections, client {first['client']}. RSS of the whole process tree (granian's main process plus its "
        "worker for ours and the ceilings), median of the samples [min-max]; bytes per alert = (filled median - "
        "baseline median) / alerts accepted.",
        "",
        "| target | alerts accepted | fill alerts/s | non-2xx / errors | RSS empty MiB | RSS filled MiB "
        "| bytes per alert | worker-only bytes per alert | Go heap in-use per alert |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    per_alert: dict[str, float] = {}
    for target, f in fills.items():
        base = samples.get((target, "baseline"), [])
        full = samples.get((target, "filled"), [])
        held = f["alerts_ok"]
        b_tot = _median([s["rss_total"] for s in base])
        f_tot = _median([s["rss_total"] for s in full])
        b_w = _median([s["rss_workers"] for s in base])
        f_w = _median([s["rss_workers"] for s in full])
        b_h = _median([s["go_heap_inuse"] for s in base if s.get("go_heap_inuse") is not None])
        f_h = _median([s["go_heap_inuse"] for s in full if s.get("go_heap_inuse") is not None])
        bpa = (f_tot - b_tot) / held if held and b_tot is not None and f_tot is not None else None
        wpa = (f_w - b_w) / held if held and b_w and f_w is not None else None
        hpa = (f_h - b_h) / held if held and b_h is not None and f_h is not None else None
        if bpa is not None:
            per_alert[target] = bpa
        totals = [s["rss_total"] / 2**20 for s in full]
        rng = f" [{min(totals):.1f}-{max(totals):.1f}]" if totals else ""
        active = [s["am_active"] for s in full if s.get("am_active") is not None]
        held_txt = num(held) + (f" (AM active: {active[-1]:,})" if active else "")
        out.append(
            f"| {target} | {held_txt} | {num(f.get('alerts_per_s'))} | {errors(f)} "
            f"| {num(b_tot / 2**20 if b_tot is not None else None, 1)} "
            f"| {num(f_tot / 2**20 if f_tot is not None else None, 1)}{rng} "
            f"| {num(bpa)} | {num(wpa)} | {num(hpa)} |"
        )
    out.append("")
    for target, bpa in per_alert.items():
        if target.startswith("ours-") and AM in per_alert:
            out.append(
                f"- **{target} / Alertmanager, bytes per open alert = {ratio(bpa, per_alert[AM])}** (lower is less)"
            )
    out.append(
        f"- Peer reference (RESULTS.md, separate run, 10k + 90k fill): Alertmanager about "
        f"{PEER_BYTES_PER_ALERT_100K:,} B of RSS per alert at 100k active."
    )
    out.append("")
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    res = Path(argv[1])
    out = [f"# llm-incident-manager vs Prometheus Alertmanager 0.25: {res.name}", ""]
    machine = res / "machine.txt"
    if machine.exists():
        out += ["```", machine.read_text().rstrip(), "```", ""]
    out += closed_section("(a) Sustained ingest, closed loop, large batches", load_points(res, "throughput"))
    out += closed_section("(b) Sustained ingest, closed loop, one alert per request", load_points(res, "single"))
    out += rate_section(load_rate_runs(res))
    out += memory_section(res)
    out.append(f"Raw loadgen JSON, memory.jsonl and logs/: `{res}`")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
