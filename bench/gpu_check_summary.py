#!/usr/bin/env python3
"""The bookkeeping of bench/gpu_check.sh (python3 stdlib only).

  gpu_check_summary.py --log-dir D --dry-run 0|1 record --phase P --status S --wall W [details]
      appends one JSON line for the phase to D/summary.jsonl, with what its logs say
  ... case-status CASES_DIR [--expect-failure NAME]   prints the tests phase's status word
  ... nccl-status NCCL_LOG / sanitize-status SANITIZE_LOG   the same for those phases
  ... table                                             prints the final table (also D/table.txt);
                                                        exit 0 only when every phase is ok

A case directory holds NNN.status files, "status<TAB>wall_s<TAB>name" (run_case in gpu_check.sh).
"""
import argparse
import glob
import json
import os
import re
import sys

BAD_CASE = ("failed", "timeout", "not_found", "sanitizer_error")
GOOD_PHASE = ("ok", "clean")


def read_cases(case_dir):
    cases = []
    for path in sorted(glob.glob(os.path.join(case_dir, "*.status"))):
        with open(path) as f:
            status, wall, name = f.read().rstrip("\n").split("\t", 2)
        cases.append({"name": name, "status": status, "wall_s": float(wall)})
    return cases


def is_bad(status):
    return status in BAD_CASE or status.startswith("crashed")


def case_counts(cases):
    counts = {}
    for c in cases:
        key = "crashed" if c["status"].startswith("crashed") else c["status"]
        counts[key] = counts.get(key, 0) + 1
    return counts


def case_status(case_dir, dry_run, expect_failure):
    cases = read_cases(case_dir)
    bad = {c["name"] for c in cases if is_bad(c["status"])}
    counts = case_counts(cases)
    if not cases:
        return "failed"
    if dry_run:  # the planted failure must be caught, and the CPU stand-in must pass
        return "ok" if bad == set(expect_failure or []) and counts.get("passed", 0) >= 1 else "failed"
    if bad:
        return "failed"
    if counts.get("not_run") or counts.get("skipped"):
        return "incomplete"  # a skip on the GPU machine means CUDA was not usable there
    return "ok"


def read_json_lines(path):
    rows, errors = [], []
    with open(path, errors="replace") as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    errors.append(line[:200])
            elif line.startswith("error"):
                errors.append(line[:300])
    return rows, errors


def parse_demo(path):
    """The demo's closing table: '  scale_shift   0.9571 (ep 1)  0.9634    0.9571      0.9634'."""
    srcc = {}
    row = re.compile(r"^\s+(\w+)\s+([-\d.]+) \(ep (\d+)\)\s+([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s*$")
    with open(path, errors="replace") as f:
        text = f.read()
    tail = text.split("side by side", 1)[1] if "side by side" in text else ""
    for line in tail.splitlines():
        m = row.match(line)
        if m:
            srcc[m.group(1)] = {"best": float(m.group(2)), "best_epoch": int(m.group(3)),
                                "best_plcc": float(m.group(4)), "final": float(m.group(5)),
                                "final_plcc": float(m.group(6))}
    rates = re.findall(r"([\d.]+) img/s", text)
    return {"srcc": srcc, "last_train_img_per_s": float(rates[-1]) if rates else None}


def parse_nccl(path):
    with open(path, errors="replace") as f:
        text = f.read()
    out = {}
    m = re.search(r"nccl_case_rc=(\d+)", text)
    out["case_rc"] = int(m.group(1)) if m else None
    out["case_skipped"] = "skipping CUDA test" in text
    m = re.search(r"dp_ranks=(\d+) dp_failed_ranks=(\d+)", text)
    if m:
        out["ranks"], out["failed_ranks"] = int(m.group(1)), int(m.group(2))
        out["sharded"] = f"per rank x {out['ranks']}" in text
    m = re.search(r"watchdog_case_rc=(\d+)", text)
    out["watchdog_rc"] = int(m.group(1)) if m else None
    m = re.search(r"death_killed_rc=(\d+) death_rank0_rc=(\d+) death_seconds=(\d+) death_named=(\d)", text)
    if m:
        out["death"] = {"killed_rc": int(m.group(1)), "rank0_rc": int(m.group(2)),
                        "seconds": int(m.group(3)), "named": m.group(4) == "1"}
    m = re.search(r"NCCL version ([\w.+-]+)", text)
    if m:
        out["nccl_version"] = m.group(1)
    return out


def nccl_status(path, dry_run):
    n = parse_nccl(path)
    if n["case_rc"] != 0:
        return "failed"
    if "ranks" in n and (n["failed_ranks"] or not n["sharded"]):
        return "failed"
    if n["watchdog_rc"] != 0:
        return "failed"
    d = n.get("death")
    # The killed rank ends by SIGKILL (137 through timeout's shell); the survivor exits 1, naming the
    # collective, well within the 20 s collective timeout plus start-up and one evaluation.
    if "ranks" in n and (d is None or d["rank0_rc"] != 1 or not d["named"] or d["seconds"] > 75):
        return "failed"
    if dry_run and "ranks" not in n:
        return "failed"  # the dry run must have exercised the multi-rank launch
    if not dry_run and n["case_skipped"]:
        return "incomplete"
    return "ok"


def parse_sanitize(path, work):
    with open(path, errors="replace") as f:
        text = f.read()
    out = {"bench_rc": {t: int(rc) for t, rc in re.findall(r"bench_rc\[(\w+)\]=(\d+)", text)},
           "error_summaries": [int(n) for n in re.findall(r"ERROR SUMMARY: (\d+) error", text)], "cases": {}}
    for tool in ("memcheck", "racecheck"):
        out["cases"][tool] = read_cases(os.path.join(work, "cases_" + tool))
    return out


def sanitize_status(path, work):
    s = parse_sanitize(path, work)
    if any(rc == 86 for rc in s["bench_rc"].values()) or any(n > 0 for n in s["error_summaries"]) or any(
            c["status"] == "sanitizer_error" for cs in s["cases"].values() for c in cs):
        return "findings"
    if any(rc != 0 for rc in s["bench_rc"].values()) or any(
            is_bad(c["status"]) for cs in s["cases"].values() for c in cs):
        return "failed"
    if len(s["bench_rc"]) < 2 or any(c["status"] == "not_run" for cs in s["cases"].values() for c in cs):
        return "incomplete"
    return "clean"


def record(args):
    rec = {"phase": args.phase, "status": args.status, "wall_s": args.wall}
    if args.note:
        rec["note"] = args.note
    if args.cases:
        cases = read_cases(args.cases)
        rec["counts"] = case_counts(cases)
        rec["total"] = len(cases)
        rec["not_passed"] = [c for c in cases if c["status"] != "passed"]
    if args.bench:
        rec["rows"], rec["errors"] = read_json_lines(args.bench)
    if args.demo:
        rec.update(parse_demo(args.demo))
    if args.nccl:
        rec.update(parse_nccl(args.nccl))
    if args.sanitize:
        rec.update(parse_sanitize(args.sanitize, args.work))
    with open(os.path.join(args.log_dir, "summary.jsonl"), "a") as f:
        f.write(json.dumps(rec) + "\n")


def fmt(v, spec=".4g"):
    return "-" if v is None else format(v, spec)


def rate(r):
    for key, unit in (("gbps", "GB/s"), ("tflops", "TF/s"), ("images_per_s", "img/s")):
        if key in r:
            return f"{r[key]:.4g} {unit}"
    return "-"


def table_lines(phases, dry_run):
    out = ["", "=" * 100, "GPU CHECK" + ("  [DRY RUN: CPU stand-ins, fake device results]" if dry_run else "")]
    out.append(f"{'phase':<16} {'status':<18} {'wall_s':>7}  note")
    for p in phases.values():
        note = p.get("note", "")
        if "counts" in p:
            note = ", ".join(f"{v} {k}" for k, v in sorted(p["counts"].items())) + f" of {p['total']}"
        out.append(f"{p['phase']:<16} {p['status']:<18} {p['wall_s']:>7}  {note}")
    tests = phases.get("tests")
    if tests and tests.get("not_passed"):
        out.append("test cases not passed:")
        out += [f"  {c['status']:<10} {c['name']}" for c in tests["not_passed"]]
    ours = phases.get("bench", {}).get("rows", [])
    peers = phases.get("bench_torch", {}).get("rows", [])
    if ours or peers:
        out.append(f"{'op':<20} {'shape':<22} {'ours_ms':>9} {'peer':<12} {'peer_ms':>9} {'peer/ours':>9} "
                   f"{'ours_rate':>13} {'peer_rate':>13}")
        for o in ours:
            matched = [t for t in peers if (t["op"], t["shape"]) == (o["op"], o["shape"])] or [None]
            for t in matched:
                ratio = t["median_ms"] / o["median_ms"] if t and o["median_ms"] > 0 else None
                out.append(f"{o['op']:<20} {o['shape']:<22} {o['median_ms']:>9.4f} "
                           f"{(t or {}).get('impl', '-'):<12} {fmt(t and t['median_ms'], '.4f'):>9} "
                           f"{fmt(ratio, '.2f'):>9} {rate(o):>13} {rate(t) if t else '-':>13}")
        for e in phases.get("bench", {}).get("errors", []) + phases.get("bench_torch", {}).get("errors", []):
            out.append(f"  {e}")
        steps = [r for r in ours + peers if "images_per_s" in r]
        if steps:
            out.append("steps: " + "; ".join(f"{r['op']} {r['impl']} {r['images_per_s']:.4g} img/s" for r in steps))
    demo = phases.get("demo")
    if demo and demo.get("srcc"):
        out.append("demo SRCC (unseen scene, best / final epoch): " + "; ".join(
            f"{loss} {v['best']:.4f} / {v['final']:.4f}" for loss, v in demo["srcc"].items()))
    nccl = phases.get("nccl")
    if nccl:
        ranks = f", {nccl['ranks']} ranks, {nccl['failed_ranks']} failed" if "ranks" in nccl else ", 1 rank"
        out.append(f"nccl: one-rank case exit {nccl.get('case_rc')}, watchdog case exit {nccl.get('watchdog_rc')}"
                   f"{ranks}, NCCL {nccl.get('nccl_version', '?')}")
        d = nccl.get("death")
        if d:
            out.append(f"rank death: rank 1 killed (exit {d['killed_rc']}); rank 0 exit {d['rank0_rc']} after "
                       f"{d['seconds']} s, {'naming' if d['named'] else 'NOT naming'} the collective")
    san = phases.get("sanitize")
    if san and "bench_rc" in san:
        per_tool = []
        for tool, cases in san["cases"].items():
            bad = [c["name"] for c in cases if c["status"] != "passed" and c["status"] != "skipped"]
            per_tool.append(f"{tool} bench exit {san['bench_rc'].get(tool, '-')}, cases "
                            f"{len(cases) - len(bad)}/{len(cases)} clean")
        out.append("sanitizer: " + "; ".join(per_tool))
    return out


def table(args):
    phases = {}
    path = os.path.join(args.log_dir, "summary.jsonl")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                p = json.loads(line)
                phases[p["phase"]] = p
    lines = table_lines(phases, args.dry_run)
    ok = bool(phases) and all(p["status"] in GOOD_PHASE for p in phases.values())
    if args.dry_run:
        expected = ["build", "tests", "tests_sanitizer", "bench", "bench_torch", "demo", "nccl", "sanitize"]
        missing = [p for p in expected if p not in phases]
        bad = [p["phase"] for p in phases.values() if p["status"] not in GOOD_PHASE]
        ok = ok and not missing
        lines.append("dry run: " + ("every phase's plumbing ran" if ok else
                                    f"PLUMBING BROKEN (not ok: {bad}; never ran: {missing})"))
    else:
        lines.append("result: " + ("every phase ok" if ok else "NOT ALL OK (see the phases above)"))
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(args.log_dir, "table.txt"), "w") as f:
        f.write(text + "\n")
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--log-dir", required=True)
    ap.add_argument("--dry-run", type=int, default=0)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record")
    r.add_argument("--phase", required=True)
    r.add_argument("--status", required=True)
    r.add_argument("--wall", type=float, required=True)
    r.add_argument("--note")
    r.add_argument("--cases")
    r.add_argument("--bench")
    r.add_argument("--demo")
    r.add_argument("--nccl")
    r.add_argument("--sanitize")
    r.add_argument("--work")
    c = sub.add_parser("case-status")
    c.add_argument("case_dir")
    c.add_argument("--expect-failure", action="append")
    n = sub.add_parser("nccl-status")
    n.add_argument("log")
    s = sub.add_parser("sanitize-status")
    s.add_argument("log")
    s.add_argument("work")
    sub.add_parser("table")
    args = ap.parse_args()
    if args.cmd == "record":
        record(args)
    elif args.cmd == "case-status":
        print(case_status(args.case_dir, args.dry_run, args.expect_failure))
    elif args.cmd == "nccl-status":
        print(nccl_status(args.log, args.dry_run))
    elif args.cmd == "sanitize-status":
        print(sanitize_status(args.log, args.work))
    else:
        return table(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
