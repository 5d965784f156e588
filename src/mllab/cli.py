"""mllab list | describe | run | tour | report — thin: parse, call, print.

Exit codes: 0 a run completed (whatever its verdict), 1 an error inside a run, 2 bad input.
Every output goes under one folder, `mllab-out/` by default (git-ignored): `mllab run` writes
mllab-out/runs/NAME/<timestamp>, `mllab tour` mllab-out/runs and mllab-out/report, `mllab report`
reads mllab-out/runs and writes mllab-out/report.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time
from pathlib import Path

import mllab
from mllab.core.config import PROFILES, config_dict, field_help, make_config, work_factor
from mllab.core.devices import resolve_device
from mllab.core.errors import BadInput
from mllab.core.records import latest_corrupt, scan_records
from mllab.core.registry import SECTIONS, all_experiments, get_experiment
from mllab.core.run import code_version, default_out_dir, execute
from mllab.core.seeding import check_seed
from mllab.report.format import comparison_text, format_value, tidy_numbers

EXIT_OK, EXIT_ERROR, EXIT_BAD_INPUT = 0, 1, 2
OUT = Path("mllab-out")  # the one default folder of run, tour and report
PROFILE_HELP = ("smoke: tiny, seconds; exercises the code and does not judge the claim (verdict 'not judged'). "
                "quick (default): judges the claim on a laptop CPU, seconds to a minute per experiment. "
                "full: bigger data and models, meant for a GPU.")
# Seconds assumed for an experiment with no earlier record at the profile (tour's time estimate).
DEFAULT_SECONDS = {"smoke": 5.0, "quick": 30.0, "full": 600.0}
# `mllab run` asks for --yes when the --set values multiply the profile's work by more than this and the estimate
# exceeds WORK_SECONDS_LIMIT: `--set seeds=100000` is a typo or a plan for a cluster, not a quick run.
WORK_FACTOR_LIMIT, WORK_SECONDS_LIMIT = 20.0, 600.0


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line and exit 2 like every other bad input."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise BadInput(f"{self.prog}: {message}; see `{self.prog} --help`")


def version_text() -> str:
    """mllab's and torch's versions and the device `--device auto` picks here."""
    import torch

    return f"mllab {mllab.__version__}\ntorch {torch.__version__}\ndefault device {resolve_device('auto')}"


class _Version(argparse.Action):
    def __init__(self, option_strings: list[str], dest: str, **kwargs) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print mllab's and torch's versions and the default "
                         "device, then exit")

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        print(version_text())
        parser.exit()


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", default="quick", help=f"config profile: {' | '.join(PROFILES)} (default quick). "
                   + PROFILE_HELP)
    p.add_argument("--seed", type=int, default=0, help="seed for Python, NumPy and torch, 0 <= seed < 2**32 "
                   "(default 0)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps (default auto: cuda, "
                   "then mps, then cpu)")
    p.add_argument("--data-dir", default=None, help="folder with your own MNIST (IDX) or CIFAR-10 (binary) files "
                   "(default none: bundled data only)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mllab", description="Deep-learning techniques as tested components; claims as experiments.",
                     epilog=f"Profiles — {PROFILE_HELP} Outputs go under {OUT}/ unless --out says otherwise.")
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sub.add_parser("list", help="list experiments: name, section, claim")

    p = sub.add_parser("describe", help="show an experiment's claim and config fields (what --set accepts)")
    p.add_argument("name")

    p = sub.add_parser("run", help="run one experiment and write its run record",
                       epilog="`mllab describe NAME` lists the fields that --set accepts.")
    p.add_argument("name", help="experiment name (see `mllab list`)")
    _add_run_options(p)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a config field (repeatable; default none). Changing a claim's threshold "
                        "marks the record 'modified claim'")
    p.add_argument("--out", type=Path, default=None, help=f"record folder (default {OUT}/runs/NAME/<timestamp>)")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="echo the run's log to stderr (default when stderr is a terminal)")
    p.add_argument("-q", "--quiet", action="store_true", help="do not echo the run's log (default off)")
    p.add_argument("-y", "--yes", action="store_true",
                   help=f"run even when the --set values multiply the profile's work by more than "
                        f"{WORK_FACTOR_LIMIT:g}x and the estimate exceeds {WORK_SECONDS_LIMIT / 60:g} minutes "
                        "(default off: such a run stops before it starts, with its time estimate)")

    p = sub.add_parser("tour", help="run every experiment, print a verdict table, build the report")
    _add_run_options(p)
    p.add_argument("--only", choices=SECTIONS, action="append", default=None, metavar="SECTION",
                   help="run this section only; repeatable (--only cnn --only rl) (default: every section; "
                        "`mllab list` shows the sections that have experiments)")
    p.add_argument("--out", type=Path, default=OUT,
                   help=f"records go to OUT/runs, the report to OUT/report (default {OUT})")
    p.add_argument("--force", action="store_true", help="rerun experiments whose record is current (default off)")
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="experiments run side by side, one torch thread each (default: the number of CPU cores, "
                        f"here {os.cpu_count()}; 1 runs them one after another)")

    p = sub.add_parser("report", help="build the HTML report from run records")
    p.add_argument("--runs", type=Path, default=OUT / "runs",
                   help=f"folder searched (at any depth) for run records; one record folder works too "
                        f"(default {OUT / 'runs'})")
    p.add_argument("--out", type=Path, default=OUT / "report", help=f"report folder (default {OUT / 'report'})")
    return parser


def cmd_list(args: argparse.Namespace) -> int:
    experiments = all_experiments()
    width = max((len(e.name) for e in experiments), default=4)
    for e in experiments:
        print(f"{e.name:<{width}}  {e.section:<14}  {e.claim_text()}")
    return EXIT_OK


def cmd_describe(args: argparse.Namespace) -> int:
    e = get_experiment(args.name)
    print(f"{e.name} ({e.section})\nclaim: {e.claim_text()}\n")
    if e.doc:
        print(e.doc + "\n")
    print(f"torchrun: `torchrun --nproc_per_node N -m mllab run {e.name}` trains with DDP, each rank on its shard\n"
          if e.distributed else "torchrun: no, runs on one process\n")
    docs = field_help(e.config_cls)
    print("config fields (--set FIELD=VALUE); defaults are the quick profile:")
    for f in dataclasses.fields(e.config_cls):
        default = getattr(make_config(e.config_cls), f.name)
        print(f"  {f.name} = {default!r}\n      {docs.get(f.name, '')}")
    for name, values in e.config_cls.profiles.items():
        print(f"profile {name}: " + ", ".join(f"{k}={v!r}" for k, v in values.items()))
    return EXIT_OK


def work_estimate(e, profile: str, overrides: list[str], has_data_dir: bool = False) -> tuple[float, float, str]:
    """(work factor, estimated seconds, why) of a run with `overrides` against its profile: the profile's
    reference seconds (quick: experiments/quick_seconds.json; else DEFAULT_SECONDS) times Π of the work
    fields' ratios (`core.config.work_factor`: seeds, steps, epochs, grids' lengths ...)."""
    factor, changed = work_factor(make_config(e.config_cls, profile, overrides, has_data_dir=has_data_dir),
                                  make_config(e.config_cls, profile, has_data_dir=has_data_dir))
    base = (reference_seconds() if profile == "quick" else {}).get(e.name, DEFAULT_SECONDS.get(profile, 30.0))
    counts = ", ".join(f"{name} {old} → {new}" for name, (old, new) in changed.items())
    times = f"{factor:,.0f}" if factor >= 10 else f"{factor:.2g}"
    return factor, factor * base, f"{counts}: {times}x the work of a {profile} run, which takes about {base:.3g} s"


def _confirm_work(e, args: argparse.Namespace) -> None:
    """BadInput (exit 2, nothing written) before a run far longer than its profile's, unless --yes."""
    factor, seconds, why = work_estimate(e, args.profile, args.overrides, args.data_dir is not None)
    if factor <= WORK_FACTOR_LIMIT or seconds <= WORK_SECONDS_LIMIT:
        return
    if not args.yes:
        raise BadInput(f"--set: this run may take up to about {_duration(seconds)} ({why}); add --yes to run it "
                       "anyway, or choose smaller values")
    print(f"estimated run time: up to about {_duration(seconds)} ({why}); running it (--yes)", file=sys.stderr)


def _duration(seconds: float) -> str:
    return (f"{seconds / 86400:.1f} days" if seconds >= 2 * 86400 else f"{seconds / 3600:.1f} hours"
            if seconds >= 5400 else f"{seconds / 60:.0f} minutes")


def _torchrun_group(e, args: argparse.Namespace):
    """Under torchrun (`torchrun --nproc_per_node N -m mllab run NAME`): this rank's place in the job (NCCL on
    cuda:LOCAL_RANK, or gloo on the CPU) for an experiment registered with distributed=True; BadInput for the
    others when N > 1 (they run on one process). None in a plain run, and for one process under torchrun."""
    from mllab.train.distributed import join_torchrun, torchrun_world_size

    world_size = torchrun_world_size()
    if world_size is None or (world_size == 1 and not e.distributed):
        return None
    if not e.distributed:
        able = ", ".join(x.name for x in all_experiments() if x.distributed) or "none"
        raise BadInput(f"{e.name} runs on one process: it does not train with DDP under torchrun; run `mllab run "
                       f"{e.name}` without torchrun (experiments that do: {able})")
    return join_torchrun(args.device)


def cmd_run(args: argparse.Namespace) -> int:
    e = get_experiment(args.name)
    check_seed(args.seed)
    _confirm_work(e, args)
    group = _torchrun_group(e, args)  # None in a plain run
    rank0 = group is None or group.rank == 0  # under torchrun rank 0 alone echoes, prints and writes the record
    tty = sys.stderr.isatty() and not args.quiet and rank0
    try:
        result, out = execute(e, profile=args.profile, seed=args.seed, overrides=args.overrides,
                              out=args.out if args.out is not None else default_out_dir(e.name, OUT / "runs"),
                              device=args.device, data_dir=args.data_dir, echo=(args.verbose and rank0) or tty,
                              progress_position=0 if tty else None, group=group)
    finally:
        if group is not None:
            group.close()
    if not rank0:
        return EXIT_ERROR if result["verdict"] == "error" else EXIT_OK
    _print_result(result)
    print(f"record: {out}")
    if result["verdict"] == "error":
        print(f"error: {result['error']['type']}: {result['error']['message']} (traceback in {out}/result.json)",
              file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def _verdict_text(result: dict) -> str:
    text = result["verdict"].upper()
    if result["verdict"] == "not judged":
        text += f" ({result.get('profile', 'smoke')} run: exercises the code, does not judge the claim)"
    if result.get("modified_claim"):
        text += f" [MODIFIED CLAIM: {', '.join(result['modified_claim'])} changed]"
    return text


def _print_result(result: dict) -> None:
    """The verdict, the claim, the checks in two groups (comparisons as both arms' mean ± SE), the command."""
    print(f"{result['experiment']}: {_verdict_text(result)} ({result['seconds']:.1f}s)")
    print(f"  claim: {tidy_numbers(result['claim'])}")
    for kind, title in (("claim", "claim checks"), ("sanity", "sanity checks")):
        checks = [c for c in result["checks"] if c.get("kind", "claim") == kind]
        if checks:
            print(f"  {title}:")
        for c in checks:
            observed = comparison_text(c["comparison"]) if c.get("comparison") else format_value(str(c["observed"]))
            print(f"    [{'x' if c['passed'] else ' '}] {c['name']}: {observed}")
    for problem in result.get("figure_problems") or []:
        print(f"  figure problem: {problem}")
    if result.get("command"):
        print(f"  reproduce: {result['command']}")


def _is_current(record: dict, e, args: argparse.Namespace) -> bool:
    config = json.loads(json.dumps(config_dict(make_config(e.config_cls, args.profile))))  # tuples -> lists, as on disk
    return (record.get("verdict") != "error" and record.get("profile") == args.profile
            and record.get("seed") == args.seed and record.get("config") == config
            and record.get("code_version") == code_version(e))


def reference_seconds() -> dict[str, float]:
    """Quick-profile seconds of each experiment measured on a 2-core CPU (experiments/quick_seconds.json):
    the first tour's estimate and longest-first order before any record exists."""
    from importlib import resources

    try:
        return json.loads(resources.files("mllab.experiments").joinpath("quick_seconds.json").read_text())["seconds"]
    except (OSError, ValueError, KeyError):
        return {}


def expected_seconds(records: list[tuple[Path, dict]], names: list[str], profile: str) -> dict[str, float]:
    """Each experiment's expected run time: the median of its last (up to 5) completed records at this
    profile, else (quick) the reference time measured on a 2-core CPU, else DEFAULT_SECONDS[profile]."""
    reference = reference_seconds() if profile == "quick" else {}
    expected = {}
    for name in names:
        times = [float(r["seconds"]) for _, r in records if r["experiment"] == name and r.get("profile") == profile
                 and r.get("verdict") != "error" and isinstance(r.get("seconds"), (int, float))]
        expected[name] = statistics.median(times[-5:]) if times else \
            reference.get(name, DEFAULT_SECONDS.get(profile, 30.0))
    return expected


def remaining_seconds(expected: dict[str, float], pending: list[str], done: list[tuple[str, float]]) -> float:
    """Time left: the expected seconds of the pending experiments, scaled by how the finished ones compared
    with their expectation (a loaded machine runs everything slower)."""
    planned = sum(expected[name] for name, _ in done)
    scale = sum(seconds for _, seconds in done) / planned if planned >= 1.0 else 1.0
    return scale * sum(expected[name] for name in pending)


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else \
        f"{seconds // 60}:{seconds % 60:02d}"


_worker_interrupted = False  # in a tour worker: set by Ctrl-C, after which the worker starts no experiment


def _tour_worker(name: str, kwargs: dict, slots) -> dict:
    """Run one experiment in a worker process; its progress bar takes a free line below the tour's.
    After a Ctrl-C the worker refuses the experiment already queued to it (the pool queues one ahead)."""
    global _worker_interrupted
    from mllab.experiments import load_all

    if _worker_interrupted:
        raise KeyboardInterrupt
    load_all()  # a no-op after fork; registers every experiment in a fresh (spawned) interpreter
    slot = slots.get()
    try:
        result, _ = execute(get_experiment(name), progress_position=slot, **kwargs)
    except KeyboardInterrupt:  # execute left no half record
        _worker_interrupted = True
        raise
    finally:
        slots.put(slot)
    return result


def _stop_workers(running: list, grace: float = 3.0) -> None:
    """Stop the experiments still running after a Ctrl-C. In a terminal every worker got the SIGINT too and
    stops on its own; a SIGINT sent to the tour alone (`kill -INT PID`, a supervisor) is passed on to the
    workers still busy after `grace` seconds (not at once: a second SIGINT could cut short a worker's
    removal of its staging folder)."""
    import multiprocessing
    import signal
    from concurrent.futures import wait

    if running and wait(running, timeout=grace).not_done:
        for child in multiprocessing.active_children():  # the pool's workers; the Manager's server ignores SIGINT
            try:
                os.kill(child.pid, signal.SIGINT)
            except ProcessLookupError:
                pass


def _row(e, result: dict) -> tuple[str, str, float, str]:
    note = f"{result['error']['type']}: {result['error']['message']}"[:70] if result["error"] else ""
    if result.get("modified_claim"):
        note = f"modified claim ({', '.join(result['modified_claim'])}) " + note
    return (e.name, result["verdict"], result["seconds"], note)


def _run_tour(experiments: list, args: argparse.Namespace, runs_dir: Path) -> list[tuple[str, str, float, str]]:
    """Run (or keep) each experiment under a progress bar (the experiments' own bars on the lines below),
    `args.jobs` side by side in worker processes (longest expected first); one (name, verdict, seconds, note)
    row each, in the notes' order."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    import tqdm as tqdm_module
    from tqdm import tqdm

    tqdm_module.tqdm.monitor_interval = 0  # no monitor thread: worker processes are forked from this one
    records, skipped = scan_records(runs_dir) if runs_dir.is_dir() else ([], [])
    latest = {r["experiment"]: r for _, r in records}
    for name in latest_corrupt(records, skipped):  # a newer record is corrupt: run it again
        latest.pop(name, None)
    kept = {e.name for e in experiments if not args.force and e.name in latest and _is_current(latest[e.name], e, args)}
    expected = expected_seconds(records, [e.name for e in experiments], args.profile)
    expected.update({name: 0.0 for name in kept})
    jobs = max(1, min(args.jobs or os.cpu_count() or 1, len(experiments) - len(kept) or 1))
    done: list[tuple[str, float]] = []  # (name, seconds) of experiments run so far
    rows: dict[str, tuple[str, str, float, str]] = {}
    bar = tqdm(total=len(experiments), desc="tour", unit="exp", file=sys.stderr, dynamic_ncols=True, position=0,
               bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}]{postfix}")

    def finish(e, row: tuple[str, str, float, str], ran: bool) -> None:
        rows[e.name] = row
        if ran:
            done.append((e.name, row[2]))
        pending = [x.name for x in experiments if x.name not in rows]
        left = remaining_seconds(expected, pending, done) / jobs
        bar.update()
        bar.set_postfix_str(f"≈{_clock(left)} left" if pending else "done")
        bar.write(f"{row[1]:>10}  {row[2]:6.1f}s  {e.name}", file=sys.stderr)

    for e in experiments:
        if e.name in kept:
            finish(e, (e.name, latest[e.name]["verdict"], latest[e.name]["seconds"], "kept: record is current"), False)
    to_run = sorted((e for e in experiments if e.name not in kept), key=lambda e: -expected[e.name])
    bar.set_postfix_str(f"≈{_clock(remaining_seconds(expected, [e.name for e in to_run], done) / jobs)} left")
    kwargs = lambda e: dict(profile=args.profile, seed=args.seed, out=default_out_dir(e.name, runs_dir),  # noqa: E731
                            device=args.device, data_dir=args.data_dir)
    try:
        if jobs == 1:
            for e in to_run:
                result, _ = execute(e, progress_position=1, **kwargs(e))
                finish(e, _row(e, result), True)
        else:
            # fork (Linux) keeps the parent's registry, experiments registered at run time included; the parent
            # has run no torch op yet, so no thread pool is inherited. Elsewhere, fresh interpreters.
            context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
            with context.Manager() as manager, ProcessPoolExecutor(jobs, mp_context=context) as pool:
                slots = manager.Queue()
                for slot in range(1, jobs + 1):
                    slots.put(slot)
                futures = {pool.submit(_tour_worker, e.name, kwargs(e), slots): e for e in to_run}
                try:
                    while futures:
                        finished, _ = wait(futures, return_when=FIRST_COMPLETED)
                        for future in finished:
                            e = futures.pop(future)
                            finish(e, _row(e, future.result()), True)
                except BaseException:
                    for future in futures:  # experiments not yet queued never start
                        future.cancel()
                    _stop_workers([f for f in futures if f.running()])
                    raise  # leaving `with` waits for the workers (and keeps the Manager up until they are done)
    except KeyboardInterrupt:
        bar.close()
        print("tour interrupted; finished records are kept: rerun the same command to go on", file=sys.stderr)
        raise
    bar.close()
    return [rows[e.name] for e in experiments]


def _print_verdicts(rows: list[tuple[str, str, float, str]], seconds: float) -> dict[str, int]:
    width = max([len(r[0]) for r in rows] + [len("experiment")])
    print(f"\n{'experiment':<{width}}  {'verdict':<10}  seconds  note")
    for name, verdict, run_seconds, note in rows:
        print(f"{name:<{width}}  {verdict:<10}  {run_seconds:7.1f}  {note}")
    counts = {v: sum(r[1] == v for r in rows) for v in ("holds", "fails", "not judged", "error")}
    print(f"\n{len(rows)} experiments in {seconds:.0f}s: " + ", ".join(f"{n} {v}" for v, n in counts.items() if n))
    if counts["not judged"]:
        print("not judged: smoke runs exercise the code and do not judge the claims; use --profile quick for verdicts")
    return counts


def cmd_tour(args: argparse.Namespace) -> int:
    from mllab.report import build_report, check_out_dir, skipped_lines

    sections = [s for s in SECTIONS if s in args.only] if args.only else [None]  # the notes' order
    experiments = [e for s in sections for e in all_experiments(s)]  # an empty section: bad input, before any bar
    check_seed(args.seed)
    for e in experiments:  # every config builds at this profile: a bad --profile fails before any bar
        make_config(e.config_cls, args.profile)
    resolve_device(args.device)
    if args.jobs is not None and args.jobs < 1:
        raise BadInput(f"--jobs: must be >= 1, got {args.jobs}; e.g. --jobs {os.cpu_count() or 1}")
    if args.data_dir is not None and not Path(args.data_dir).is_dir():
        raise BadInput(f"--data-dir: {args.data_dir} is not a folder; give the folder that holds the dataset files")
    runs_dir = args.out / "runs"
    check_out_dir(args.out / "report", runs_dir)  # before the runs: a bad --out fails in a second, not an hour
    start = time.perf_counter()
    rows = _run_tour(experiments, args, runs_dir)
    counts = _print_verdicts(rows, time.perf_counter() - start)
    index = build_report(runs_dir, args.out / "report")
    for line in skipped_lines(runs_dir):  # corrupt or foreign record files: how many and why
        print(line)
    print(f"report: {Path(index).resolve()}")
    return EXIT_ERROR if counts["error"] else EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from mllab.report import build_report, skipped_lines

    if not args.runs.is_dir():
        raise BadInput(f"--runs: {args.runs} is not a folder of run records; run `mllab tour` first or pass --runs DIR")
    records, skipped = scan_records(args.runs)
    named = {r["experiment"] for _, r in records} | set(latest_corrupt(records, skipped))  # corrupt ones are shown
    if not named:
        first = f" ({len(skipped)} skipped, e.g. {skipped[0].line()})" if skipped else ""
        raise BadInput(f"--runs: no run records (result.json) under {args.runs}{first}; make one with `mllab run "
                       f"NAME` or `mllab tour`, or pass the folder that holds them")
    if not named & {e.name for e in all_experiments()}:
        raise BadInput(f"--runs: the records under {args.runs} are of no registered experiment; see `mllab list`")
    index = build_report(args.runs, args.out)
    for line in skipped_lines(args.runs, (records, skipped)):  # corrupt or foreign record files: how many and why
        print(line)
    print(f"report: {Path(index).resolve()}")
    return EXIT_OK


def _rank() -> int:
    """This process's rank under torchrun; 0 otherwise."""
    from mllab.train.distributed import torchrun_rank

    return torchrun_rank()


COMMANDS = {"list": cmd_list, "describe": cmd_describe, "run": cmd_run, "tour": cmd_tour, "report": cmd_report}


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        from mllab.experiments import load_all

        load_all()
        return COMMANDS[args.command](args)
    except BadInput as exc:
        if _rank() == 0:  # under torchrun every rank meets the same bad input: one line, from rank 0
            print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        if _rank() == 0:
            print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `mllab list | head`: the reader left; stay quiet
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
