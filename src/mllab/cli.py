"""mllab list | describe | run | tour | report — thin: parse, call, print.

Exit codes: 0 a run completed (whatever its verdict), 1 an error inside a run, 2 bad input.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

from mllab.core.config import PROFILES, config_dict, field_help, make_config
from mllab.core.errors import BadInput
from mllab.core.records import latest_record
from mllab.core.registry import SECTIONS, all_experiments, get_experiment
from mllab.core.run import code_version, default_out_dir, execute

EXIT_OK, EXIT_ERROR, EXIT_BAD_INPUT = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line and exit 2 like every other bad input."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise BadInput(f"{self.prog}: {message}; see `{self.prog} --help`")


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", default="quick", help=f"config profile: {' | '.join(PROFILES)} (default quick)")
    p.add_argument("--seed", type=int, default=0, help="seed for Python, NumPy and torch (default 0)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps (default auto)")
    p.add_argument("--data-dir", default=None, help="folder with your own MNIST (IDX) or CIFAR-10 (binary) files")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mllab", description="Deep-learning techniques as tested components; claims as experiments.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sub.add_parser("list", help="list experiments: name, section, claim")

    p = sub.add_parser("describe", help="show an experiment's claim and config fields (what --set accepts)")
    p.add_argument("name")

    p = sub.add_parser("run", help="run one experiment and write its run record",
                       epilog="`mllab describe NAME` lists the fields that --set accepts.")
    p.add_argument("name", help="experiment name (see `mllab list`)")
    _add_run_options(p)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a config field (repeatable)")
    p.add_argument("--out", type=Path, default=None, help="record folder (default runs/NAME/<timestamp>)")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="echo the run's log to stderr (default when stderr is a terminal)")
    p.add_argument("-q", "--quiet", action="store_true", help="do not echo the run's log")

    p = sub.add_parser("tour", help="run every experiment, print a verdict table, build the report")
    _add_run_options(p)
    p.add_argument("--only", choices=SECTIONS, default=None, metavar="SECTION", help="run one section only")
    p.add_argument("--out", type=Path, default=Path("tour"), help="records go to OUT/runs, the report to OUT/report")
    p.add_argument("--force", action="store_true", help="rerun experiments whose record is current")

    p = sub.add_parser("report", help="build the HTML report from run records")
    p.add_argument("--runs", type=Path, default=Path("tour/runs"), help="folder of run records")
    p.add_argument("--out", type=Path, default=Path("tour/report"), help="report folder")
    return parser


def cmd_list(args: argparse.Namespace) -> int:
    experiments = all_experiments()
    width = max((len(e.name) for e in experiments), default=4)
    for e in experiments:
        print(f"{e.name:<{width}}  {e.section:<14}  {e.claim}")
    return EXIT_OK


def cmd_describe(args: argparse.Namespace) -> int:
    e = get_experiment(args.name)
    print(f"{e.name} ({e.section})\nclaim: {e.claim}\n")
    if e.doc:
        print(e.doc + "\n")
    docs = field_help(e.config_cls)
    print("config fields (--set FIELD=VALUE); defaults are the quick profile:")
    for f in dataclasses.fields(e.config_cls):
        default = getattr(make_config(e.config_cls), f.name)
        print(f"  {f.name} = {default!r}\n      {docs.get(f.name, '')}")
    for name, values in e.config_cls.profiles.items():
        print(f"profile {name}: " + ", ".join(f"{k}={v!r}" for k, v in values.items()))
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    e = get_experiment(args.name)
    result, out = execute(e, profile=args.profile, seed=args.seed, overrides=args.overrides, out=args.out,
                          device=args.device, data_dir=args.data_dir,
                          echo=args.verbose or (sys.stderr.isatty() and not args.quiet))
    _print_result(result)
    print(f"record: {out}")
    if result["verdict"] == "error":
        print(f"error: {result['error']['type']}: {result['error']['message']} (traceback in {out}/result.json)",
              file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def _print_result(result: dict) -> None:
    print(f"{result['experiment']}: {result['verdict'].upper()} ({result['seconds']:.1f}s)  {result['claim']}")
    for c in result["checks"]:
        print(f"  [{'x' if c['passed'] else ' '}] {c['name']}: {c['observed']}")


def _is_current(record: dict, e, args: argparse.Namespace) -> bool:
    config = json.loads(json.dumps(config_dict(make_config(e.config_cls, args.profile))))  # tuples -> lists, as on disk
    return (record.get("verdict") != "error" and record.get("profile") == args.profile
            and record.get("seed") == args.seed and record.get("config") == config
            and record.get("code_version") == code_version(e))


def _run_tour(experiments: list, args: argparse.Namespace, runs_dir: Path) -> list[tuple[str, str, float, str]]:
    """Run (or keep) each experiment under a progress bar; one (name, verdict, seconds, note) row each."""
    from tqdm import tqdm

    rows = []
    bar = tqdm(experiments, desc="tour", unit="exp", file=sys.stderr, dynamic_ncols=True,
               bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}]{postfix}")
    try:
        for e in bar:
            bar.set_postfix_str(e.name)
            found = latest_record(runs_dir, e.name)
            if found and not args.force and _is_current(found[1], e, args):
                rows.append((e.name, found[1]["verdict"], found[1]["seconds"], "kept: record is current"))
            else:
                result, _ = execute(e, profile=args.profile, seed=args.seed, out=default_out_dir(e.name, runs_dir),
                                    device=args.device, data_dir=args.data_dir)
                note = f"{result['error']['type']}: {result['error']['message']}"[:70] if result["error"] else ""
                rows.append((e.name, result["verdict"], result["seconds"], note))
            bar.write(f"{rows[-1][1]:>7}  {rows[-1][2]:6.1f}s  {e.name}", file=sys.stderr)
    except KeyboardInterrupt:
        bar.close()
        print("tour interrupted; finished records are kept: rerun the same command to go on", file=sys.stderr)
        raise
    bar.close()
    return rows


def _print_verdicts(rows: list[tuple[str, str, float, str]], seconds: float) -> dict[str, int]:
    width = max([len(r[0]) for r in rows] + [len("experiment")])
    print(f"\n{'experiment':<{width}}  verdict  seconds  note")
    for name, verdict, run_seconds, note in rows:
        print(f"{name:<{width}}  {verdict:<7}  {run_seconds:7.1f}  {note}")
    counts = {v: sum(r[1] == v for r in rows) for v in ("holds", "fails", "error")}
    print(f"\n{len(rows)} experiments in {seconds:.0f}s: " + ", ".join(f"{n} {v}" for v, n in counts.items()))
    return counts


def cmd_tour(args: argparse.Namespace) -> int:
    from mllab.report import build_report, check_out_dir

    experiments = all_experiments(args.only)
    runs_dir = args.out / "runs"
    check_out_dir(args.out / "report", runs_dir)  # before the runs: a bad --out fails in a second, not an hour
    start = time.perf_counter()
    rows = _run_tour(experiments, args, runs_dir)
    counts = _print_verdicts(rows, time.perf_counter() - start)
    index = build_report(runs_dir, args.out / "report")
    print(f"report: {Path(index).resolve()}")
    return EXIT_ERROR if counts["error"] else EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from mllab.report import build_report

    if not args.runs.is_dir():
        raise BadInput(f"--runs: {args.runs} is not a folder of run records; run `mllab tour` first or pass --runs DIR")
    index = build_report(args.runs, args.out)
    print(f"report: {Path(index).resolve()}")
    return EXIT_OK


COMMANDS = {"list": cmd_list, "describe": cmd_describe, "run": cmd_run, "tour": cmd_tour, "report": cmd_report}


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        from mllab.experiments import load_all

        load_all()
        return COMMANDS[args.command](args)
    except BadInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `mllab list | head`: the reader left; stay quiet
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
