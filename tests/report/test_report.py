"""The HTML report (built from fake experiments' records) and the tour that writes it."""

from __future__ import annotations

import json
import os
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from mllab import cli
from mllab.core.errors import BadInput
from mllab.core.records import find_records
from mllab.core.run import execute
from mllab.report import build, build_report
from mllab.report.entries import doc_html, skipped_lines
from mllab.report.format import comparison_text, format_value, tidy_numbers

RUN = ["fake-breaks", "fake-compares", "fake-falls", "fake-rises"]  # the records conftest's fake_runs makes


class Tags(HTMLParser):
    """Every start tag of a page as (tag, attrs)."""

    def __init__(self, text: str):
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def listed(self) -> list[tuple[str, str]]:
        return [(a["data-experiment"], a["data-verdict"]) for _, a in self.tags if "data-experiment" in a]


def static_link_problems(site: Path) -> list[str]:
    """Links and image sources of every page that are absolute, leave the site, or point at nothing."""
    problems = []
    for page in site.rglob("*.html"):
        for tag, attrs in Tags(page.read_text()).tags:
            for key in ("href", "src"):
                if key not in attrs:
                    continue
                url = urlsplit(attrs[key])
                if url.scheme or url.netloc or url.path.startswith("/"):
                    problems.append(f"{page.name}: not relative: {attrs[key]}")
                    continue
                target = (page.parent / unquote(url.path)).resolve() if url.path else page
                if not target.is_file() or site.resolve() not in target.parents:
                    problems.append(f"{page.name}: {tag} {key}={attrs[key]} points at nothing in the site")
                elif url.fragment and f'id="{url.fragment}"' not in target.read_text():
                    problems.append(f"{page.name}: no #{url.fragment} in {target.name}")
    return problems


@pytest.fixture
def site(fake_registry, fake_runs, tmp_path) -> Path:
    return build_report(fake_runs, tmp_path / "report").parent


def test_index_lists_every_registered_experiment_in_section_order_with_verdicts(site):
    listed = Tags((site / "index.html").read_text()).listed()
    # training (registration order), optimization, classification, rl: the notes' order, not registration
    # order; fake-falls' record lies three folders deep, fake-compares' one: records are found at any depth
    assert listed == [("fake-rises", "holds"), ("fake-breaks", "error"), ("fake-falls", "fails"),
                      ("fake-compares", "holds"), ("fake-never", "not run")]


def test_index_shows_claims_key_numbers_and_thumbnails(site):
    index = (site / "index.html").read_text()
    assert "A parabola rises." in index and "Nobody runs this." in index
    assert "y(end) = 9" in index  # a check's observed numbers
    assert "slope_at_end" in index and "curve" not in index  # scalar metrics only on the index
    assert 'src="exp/fake-rises/parabola.png"' in index
    assert "profile quick · seed 0" in index and "mllab run fake-never" in index


def test_a_page_per_experiment_with_checks_config_figures_machine_and_source(site, fake_runs):
    assert sorted(p.name for p in (site / "exp").glob("*.html")) == [
        "fake-breaks.html", "fake-compares.html", "fake-falls.html", "fake-never.html", "fake-rises.html"]
    page = (site / "exp" / "fake-rises.html").read_text()
    for text in ("A parabola rises.", "A second paragraph", "y(end) = 9", "&gt; 0", "How many points the line has.",
                 "slope_at_end", "torch", "python", "tests/report/conftest.py", "profile quick"):
        assert text in page, text
    assert 'src="fake-rises/second%20figure%20%26%20more.png"' in page
    record = next((fake_runs / "fake-rises").iterdir())
    for name in ("parabola.png", "second figure & more.png"):
        assert (site / "exp" / "fake-rises" / name).read_bytes() == (record / "figures" / name).read_bytes()
    assert (site / "exp" / "fake-rises" / "result.json").is_file()


def test_error_and_not_run_pages(site):
    broken = (site / "exp" / "fake-breaks.html").read_text()
    assert "RuntimeError" in broken and "&lt;on purpose&gt;" in broken and "<on purpose>" not in broken
    never = (site / "exp" / "fake-never.html").read_text()
    assert "Not run yet" in never and "quick profile defaults" in never and "points" in never


def test_links_are_relative_and_resolve(site):
    assert static_link_problems(site) == []


def test_static_checker_finds_a_broken_link(site):
    index = site / "index.html"
    index.write_text(index.read_text().replace('href="exp/fake-falls.html"', 'href="exp/fake-fall.html"', 1))
    (site / "exp" / "fake-rises" / "parabola.png").unlink()
    problems = static_link_problems(site)
    assert any("exp/fake-fall.html" in p for p in problems) and any("parabola.png" in p for p in problems)


def test_rebuild_replaces_the_report_and_a_crash_keeps_the_old_one(fake_registry, fake_runs, tmp_path, monkeypatch):
    out = tmp_path / "report"
    build_report(fake_runs, out)
    (out / "index.html").write_text("old")
    build_report(fake_runs, out)
    assert "fake-rises" in (out / "index.html").read_text()

    (out / "index.html").write_text("old")
    monkeypatch.setattr(build, "_render_site", lambda *a: (_ for _ in ()).throw(RuntimeError("crash")))
    with pytest.raises(RuntimeError):
        build_report(fake_runs, out)
    assert (out / "index.html").read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["report"]  # no staging folder left behind


def test_refuses_to_replace_a_folder_that_is_not_a_report(fake_registry, fake_runs, tmp_path):
    precious = tmp_path / "mine"
    precious.mkdir()
    (precious / "thesis.tex").write_text("keep me")
    with pytest.raises(BadInput, match="not an mllab report"):
        build_report(fake_runs, precious)
    with pytest.raises(BadInput, match="run records"):
        build_report(fake_runs, fake_runs.parent)
    assert (precious / "thesis.tex").read_text() == "keep me"


def test_format_value_and_tidy_numbers_give_significant_digits():
    assert format_value(0.123456) == "0.1235" and format_value(3) == "3" and format_value(None) == "—"
    assert format_value(-44 / 15) == "-2.933" and format_value([1 / 3, 2.0]) == "[0.3333, 2.0]"
    assert format_value([0.5] * 100).endswith("(100 items)") and len(format_value([0.5] * 100)) < 180
    assert format_value(float("nan")) == "nan"
    # long decimals in a text are cut; integers, short decimals, versions and names are left alone
    assert tidy_numbers("loss -2.9333333333333336 at step 12, lr 0.05, torch 2.13.0, w_0.1234567x") == \
        "loss -2.933 at step 12, lr 0.05, torch 2.13.0, w_0.1234567x"
    assert tidy_numbers("ratio 1.23456789e-05") == "ratio 1.235e-05"


def test_comparison_text_shows_both_arms_difference_and_margin():
    comparison = {"a": {"label": "small", "mean": 0.912345678, "se": 0.0041234, "n": 3},
                  "b": {"label": "large", "mean": 0.8811111, "se": 0.01, "n": 3}, "difference": 0.0312345678,
                  "se": 0.0051234, "lower_bound": 0.0162345, "margin": 0.01, "log": False, "paired": True, "n": 3}
    assert comparison_text(comparison) == ("small 0.9123 ± 0.0041 vs large 0.8811 ± 0.01 (n=3, paired); "
                                           "difference 0.03123 ± 0.0051, lower 95% bound 0.01623 vs margin 0.01")


def test_docstrings_render_as_markdown_with_html_escaped():
    html = doc_html("Fits a `line` to\nthe **points**.\n\n- first\n- second\n\nThen:\n\n"
                    "    y = w x + b  # code\n\n<script>x</script>")
    assert "<code>line</code>" in html and "<strong>points</strong>" in html and "`" not in html
    assert "<li>first</li>" in html and "<pre><code>y = w x + b  # code" in html
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_page_renders_the_docstring_and_shows_numbers_to_significant_digits(site):
    page = (site / "exp" / "fake-compares.html").read_text()
    assert "<code>a</code>" in page and "<strong>1/3</strong>" in page and "`a`" not in page
    rises = (site / "exp" / "fake-rises.html").read_text()
    assert "-2.933" in rises and "2.9333333" not in rises  # the metric `offset`
    index = (site / "index.html").read_text()
    assert "33333" not in index and "33333" not in page  # observed comparisons too, on both pages


def test_page_shows_the_exact_reproduce_command(site):
    page = (site / "exp" / "fake-compares.html").read_text()
    assert "<code class=\"command\">mllab run fake-compares --profile quick --seed 0 --set margin=-1</code>" in page
    never = (site / "exp" / "fake-never.html").read_text()
    assert "mllab run fake-never</code>" in never


def test_checks_in_two_groups_and_comparisons_with_both_arms(site):
    page = (site / "exp" / "fake-compares.html").read_text()
    claim_part = page.split("claim-checks")[1].split("sanity-checks")[0]
    sanity_part = page.split("sanity-checks")[1].split("</table>")[0]
    assert "arm a beats arm b" in claim_part and "arm a beats arm b" not in sanity_part
    assert "arms have four seeds" in sanity_part and "arms have four seeds" not in claim_part
    # a = (4/3, 5/3, 2, 7/3), b = (1, 4/3, 5/3, 2.01): both arms' mean ± SE, the difference, the margin
    for text in ("wide arm", '<td class="num arm-a">1.833 ± 0.22</td>', "narrow arm",
                 '<td class="num arm-b">1.502 ± 0.22</td>', '<td class="num difference">0.3308 ± 0.0025</td>',
                 '<td class="num margin">-1</td>'):
        assert text in claim_part, text
    index = (site / "index.html").read_text()
    assert "sanity checks: 1 of 1 passed" in index


def test_modified_claim_badge_only_where_a_threshold_changed(site):
    index = (site / "index.html").read_text()
    assert index.count("badge modified") == 1
    item = index.split('data-experiment="fake-compares"')[1].split("</li>")[0]
    assert "modified claim" in item and "Arm a beats arm b by more than -1.00." in item  # the claim it tested
    page = (site / "exp" / "fake-compares.html").read_text()
    assert "badge modified" in page and "changed the claim's thresholds (margin)" in page
    assert "badge modified" not in (site / "exp" / "fake-rises.html").read_text()


def test_smoke_record_is_not_judged_on_index_and_page(fake_registry, tmp_path):
    runs = tmp_path / "runs"
    execute(fake_registry["fake-falls"], profile="smoke", out=runs / "falls", device="cpu")
    site = build_report(runs, tmp_path / "report").parent
    assert ("fake-falls", "not judged") in Tags((site / "index.html").read_text()).listed()
    page = (site / "exp" / "fake-falls.html").read_text()
    assert '<span class="badge notjudged"' in page and "does not judge the claim" in page
    assert "badge fails" not in page and "badge holds" not in page


def test_records_are_found_at_any_depth_and_one_record_folder_is_a_runs_folder(fake_registry, fake_runs, tmp_path):
    runs = tmp_path / "all" / "runs"
    shutil.copytree(fake_runs, runs)
    assert sorted(r["experiment"] for _, r in find_records(runs)) == RUN
    one = runs / "deeper" / "still" / "falls-record"  # conftest's RECORD_PATHS
    site = build_report(one, tmp_path / "report").parent
    assert dict(Tags((site / "index.html").read_text()).listed()) == {
        "fake-rises": "not run", "fake-breaks": "not run", "fake-falls": "fails", "fake-compares": "not run",
        "fake-never": "not run"}
    # a report built inside the runs folder is not read back as records, nor are hidden staging folders
    build_report(runs.parent, runs.parent / "report-inside")
    (runs / ".x.partial-1").mkdir()
    (runs / ".x.partial-1" / "result.json").write_text('{"experiment": "fake-never", "verdict": "holds"}')
    assert sorted(r["experiment"] for _, r in find_records(runs.parent)) == RUN


def _tour(tmp_path: Path, *extra: str, profile: str = "quick") -> int:
    return cli.main(["tour", "--profile", profile, "--device", "cpu", "--out", str(tmp_path), *extra])


def _records(tmp_path: Path, name: str) -> int:
    folder = tmp_path / "runs" / name
    return len([p for p in folder.iterdir() if not p.name.startswith(".")]) if folder.is_dir() else 0


def test_tour_runs_all_prints_table_and_report_path_then_keeps_current_records(fake_registry, tmp_path, capsys):
    assert _tour(tmp_path) == cli.EXIT_ERROR  # fake-breaks errs: exit 1, the rest still run
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert lines[-1] == f"report: {(tmp_path / 'report' / 'index.html').resolve()}"
    assert any(line.split()[:2] == ["fake-falls", "fails"] for line in lines)
    assert "5 experiments" in out and "3 holds, 1 fails, 1 error" in out
    assert Tags((tmp_path / "report" / "index.html").read_text()).listed()[-1] == ("fake-never", "holds")

    assert _tour(tmp_path) == cli.EXIT_ERROR
    assert "kept" in capsys.readouterr().out
    assert [_records(tmp_path, n) for n in ("fake-rises", "fake-falls", "fake-breaks")] == [1, 1, 2]  # errors rerun

    assert _tour(tmp_path, "--force", "--only", "optimization") == cli.EXIT_OK
    assert [_records(tmp_path, n) for n in ("fake-rises", "fake-falls")] == [1, 2]
    capsys.readouterr()


def test_smoke_tour_counts_not_judged_and_no_holds_or_fails(fake_registry, tmp_path, capsys):
    assert _tour(tmp_path, profile="smoke") == cli.EXIT_ERROR  # fake-breaks still errs
    out = capsys.readouterr().out
    assert "5 experiments" in out and "4 not judged, 1 error" in out and "holds" not in out
    assert any(line.split()[:3] == ["fake-falls", "not", "judged"] for line in out.splitlines())
    listed = dict(Tags((tmp_path / "report" / "index.html").read_text()).listed())
    assert listed["fake-falls"] == "not judged" and listed["fake-rises"] == "not judged"


def test_tour_reruns_a_record_of_another_profile(fake_registry, tmp_path, capsys):
    assert _tour(tmp_path, "--only", "optimization", profile="smoke") == cli.EXIT_OK
    assert _tour(tmp_path, "--only", "optimization") == cli.EXIT_OK
    assert _records(tmp_path, "fake-falls") == 2
    capsys.readouterr()


def test_report_command(fake_registry, fake_runs, tmp_path, capsys):
    assert cli.main(["report", "--runs", str(fake_runs), "--out", str(tmp_path / "r")]) == cli.EXIT_OK
    assert capsys.readouterr().out.strip() == f"report: {(tmp_path / 'r' / 'index.html').resolve()}"
    assert cli.main(["report", "--runs", str(tmp_path / "nothing"), "--out", str(tmp_path / "r")]) == cli.EXIT_BAD_INPUT


def test_report_of_a_folder_without_records_is_one_line_exit_2(fake_registry, tmp_path, capsys):
    empty = tmp_path / "empty"
    (empty / "some" / "folder").mkdir(parents=True)
    (empty / "some" / "notes.json").write_text("{}")
    assert cli.main(["report", "--runs", str(empty), "--out", str(tmp_path / "r")]) == cli.EXIT_BAD_INPUT
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no run records" in err[0] and "mllab run NAME" in err[0]
    assert not (tmp_path / "r").exists()


def test_report_finds_a_record_written_by_run_out_anywhere(fake_registry, tmp_path, capsys):
    """`mllab run X --out D` then `mllab report --runs D`: X is reported, not "not run"."""
    record = tmp_path / "mine" / "one-record"
    assert cli.main(["run", "fake-falls", "--device", "cpu", "--out", str(record), "-q"]) == cli.EXIT_OK
    assert cli.main(["report", "--runs", str(record), "--out", str(tmp_path / "r")]) == cli.EXIT_OK
    assert ("fake-falls", "fails") in Tags((tmp_path / "r" / "index.html").read_text()).listed()
    assert cli.main(["report", "--runs", str(tmp_path), "--out", str(tmp_path / "r")]) == cli.EXIT_OK
    assert ("fake-falls", "fails") in Tags((tmp_path / "r" / "index.html").read_text()).listed()
    capsys.readouterr()


# --- corrupt and skipped records --------------------------------------------------------------------------------

def _cut_short(record: Path, keep: float = 0.5) -> str:
    """Truncate the record's result.json (a full disk, an interrupted copy); the parse error json gives for it."""
    path = record / "result.json"
    text = path.read_text()
    path.write_text(text[:int(len(text) * keep)])
    try:
        json.loads(path.read_text())
    except ValueError as exc:
        return str(exc)
    raise AssertionError("the cut-short file still parses")


@pytest.fixture
def runs_with_corrupt(fake_runs, tmp_path) -> tuple[Path, Path, str]:
    """A copy of fake_runs whose fake-rises record is cut short: (runs, that record, its parse error)."""
    runs = tmp_path / "runs"
    shutil.copytree(fake_runs, runs)
    record = runs / RECORD_PATHS_RISES
    return runs, record, _cut_short(record)


RECORD_PATHS_RISES = "fake-rises/20260101-000000-000000"  # conftest's RECORD_PATHS["fake-rises"]


def test_a_corrupt_record_is_shown_as_corrupt_with_its_path_and_parse_error(fake_registry, runs_with_corrupt, tmp_path,
                                                                          capsys):
    runs, record, error = runs_with_corrupt
    assert cli.main(["report", "--runs", str(runs), "--out", str(tmp_path / "r")]) == cli.EXIT_OK
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == f"skipped 1 of 4 record files under {runs}: 1 corrupt; shown as corrupt records: fake-rises"
    assert lines[1] == f"  {record / 'result.json'}: corrupt ({error})"
    assert lines[-1].startswith("report: ")
    site = tmp_path / "r"
    listed = dict(Tags((site / "index.html").read_text()).listed())
    assert listed["fake-rises"] == "corrupt record" and listed["fake-falls"] == "fails"  # not "not run"
    index = (site / "index.html").read_text()
    assert "1 corrupt" in index and str(record / "result.json") in index and error in index
    page = (site / "exp" / "fake-rises.html").read_text()
    assert "Corrupt record" in page and error in page and "Not run yet" not in page
    assert (site / "exp" / "fake-rises" / "result.json").read_text() == (record / "result.json").read_text()
    assert static_link_problems(site) == []


def test_a_newer_valid_record_supersedes_a_corrupt_one(fake_registry, runs_with_corrupt, tmp_path):
    runs, record, error = runs_with_corrupt
    execute(fake_registry["fake-rises"], profile="quick", out=runs / "fake-rises" / "later", device="cpu")
    site = build_report(runs, tmp_path / "r").parent
    assert dict(Tags((site / "index.html").read_text()).listed())["fake-rises"] == "holds"
    lines = skipped_lines(runs)  # still skipped, and said so, but not shown in place of the newer record
    assert lines[0] == f"skipped 1 of 5 record files under {runs}: 1 corrupt" and error in lines[1]


def test_a_corrupt_record_newer_than_the_valid_one_wins(fake_registry, fake_runs, tmp_path):
    """An older valid record does not hide a newer corrupt one (the newest run is what the report shows)."""
    runs = tmp_path / "runs"
    shutil.copytree(fake_runs, runs)
    later = runs / "fake-falls" / "later"
    execute(fake_registry["fake-falls"], profile="quick", out=later, device="cpu")
    (later / "result.json").write_text("")  # empty: no name in it, so the folder layout runs/NAME/... names it
    site = build_report(runs, tmp_path / "r").parent
    assert dict(Tags((site / "index.html").read_text()).listed())["fake-falls"] == "corrupt record"
    assert "Expecting value" in skipped_lines(runs)[1]


def test_foreign_and_unparsed_record_files_are_counted_with_the_reason(fake_registry, fake_runs, tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(fake_runs, runs)
    (runs / "notes").mkdir()
    (runs / "notes" / "result.json").write_text('{"what": "not a record"}')
    execute(fake_registry["fake-falls"], profile="quick", out=runs / "renamed", device="cpu")
    result = json.loads((runs / "renamed" / "result.json").read_text())
    (runs / "renamed" / "result.json").write_text(json.dumps({**result, "experiment": "old-name"}))
    lines = skipped_lines(runs)
    assert lines[0] == (f"skipped 2 of 6 record files under {runs}: 1 not a run record, "
                        "1 of no registered experiment")
    assert any("notes" in line and "not a run record" in line for line in lines[1:])
    assert any("'old-name'" in line for line in lines[1:])
    assert skipped_lines(fake_runs) == []  # nothing to say: no line


def test_report_of_only_a_corrupt_record_builds_and_shows_it(fake_registry, fake_runs, tmp_path, capsys):
    record = tmp_path / "runs" / "fake-rises" / "one"
    shutil.copytree(fake_runs / RECORD_PATHS_RISES, record)
    _cut_short(record, keep=0.1)
    assert cli.main(["report", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "r")]) == cli.EXIT_OK
    assert "1 corrupt" in capsys.readouterr().out
    assert dict(Tags((tmp_path / "r" / "index.html").read_text()).listed())["fake-rises"] == "corrupt record"


def test_tour_reruns_an_experiment_whose_newest_record_is_corrupt_and_says_what_it_skipped(fake_registry, tmp_path,
                                                                                         capsys):
    """An older current record is not kept in place of a newer corrupt one: the experiment runs again."""
    assert _tour(tmp_path, "--only", "optimization") == cli.EXIT_OK
    assert _tour(tmp_path, "--only", "optimization", "--force") == cli.EXIT_OK
    older, newer = sorted((tmp_path / "runs" / "fake-falls").iterdir())  # timestamped folder names
    error = _cut_short(newer)
    capsys.readouterr()
    assert _tour(tmp_path, "--only", "optimization") == cli.EXIT_OK
    out = capsys.readouterr().out
    assert _records(tmp_path, "fake-falls") == 3 and "kept" not in out  # run again, not kept
    assert "1 corrupt" in out and error in out and out.strip().splitlines()[-1].startswith("report: ")
    assert ("fake-falls", "fails") in Tags((tmp_path / "report" / "index.html").read_text()).listed()
