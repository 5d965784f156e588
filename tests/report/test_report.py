"""The HTML report (built from fake experiments' records) and the tour that writes it."""

from __future__ import annotations

import os
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from mllab import cli
from mllab.core.errors import BadInput
from mllab.report import build, build_report
from mllab.report.entries import doc_blocks, format_value


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
    # training (registration order), optimization, rl: the notes' order, not registration order
    assert listed == [("fake-rises", "holds"), ("fake-breaks", "error"), ("fake-falls", "fails"),
                      ("fake-never", "not run")]


def test_index_shows_claims_key_numbers_and_thumbnails(site):
    index = (site / "index.html").read_text()
    assert "A parabola rises." in index and "Nobody runs this." in index
    assert "y(end) = 4" in index  # a check's observed numbers
    assert "slope_at_end" in index and "curve" not in index  # scalar metrics only on the index
    assert 'src="exp/fake-rises/parabola.png"' in index
    assert "profile smoke · seed 0" in index and "mllab run fake-never" in index


def test_a_page_per_experiment_with_checks_config_figures_machine_and_source(site, fake_runs):
    assert sorted(p.name for p in (site / "exp").glob("*.html")) == [
        "fake-breaks.html", "fake-falls.html", "fake-never.html", "fake-rises.html"]
    page = (site / "exp" / "fake-rises.html").read_text()
    for text in ("A parabola rises.", "A second paragraph", "y(end) = 4", "&gt; 0", "How many points the line has.",
                 "slope_at_end", "torch", "python", "tests/report/conftest.py", "profile smoke"):
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


def test_format_value():
    assert format_value(0.123456) == "0.1235" and format_value(3) == "3" and format_value(None) == "—"
    assert format_value([0.5] * 100).endswith("(100 items)") and len(format_value([0.5] * 100)) < 180


def test_docstring_paragraphs_lists_and_code():
    doc = "Fits a line to\nthe points.\n\n- first\n- second\n\n    y = w x + b  # code\n    z = y"
    assert doc_blocks(doc) == [("p", "Fits a line to the points."), ("lines", "- first\n- second"),
                               ("pre", "y = w x + b  # code\nz = y")]


def _tour(tmp_path: Path, *extra: str) -> int:
    return cli.main(["tour", "--profile", "smoke", "--device", "cpu", "--out", str(tmp_path), *extra])


def _records(tmp_path: Path, name: str) -> int:
    folder = tmp_path / "runs" / name
    return len([p for p in folder.iterdir() if not p.name.startswith(".")]) if folder.is_dir() else 0


def test_tour_runs_all_prints_table_and_report_path_then_keeps_current_records(fake_registry, tmp_path, capsys):
    assert _tour(tmp_path) == cli.EXIT_ERROR  # fake-breaks errs: exit 1, the rest still run
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert lines[-1] == f"report: {(tmp_path / 'report' / 'index.html').resolve()}"
    assert any(line.split()[:2] == ["fake-falls", "fails"] for line in lines)
    assert "4 experiments" in out and "2 holds, 1 fails, 1 error" in out
    assert Tags((tmp_path / "report" / "index.html").read_text()).listed()[-1] == ("fake-never", "holds")

    assert _tour(tmp_path) == cli.EXIT_ERROR
    assert "kept" in capsys.readouterr().out
    assert [_records(tmp_path, n) for n in ("fake-rises", "fake-falls", "fake-breaks")] == [1, 1, 2]  # errors rerun

    assert _tour(tmp_path, "--force", "--only", "optimization") == cli.EXIT_OK
    assert [_records(tmp_path, n) for n in ("fake-rises", "fake-falls")] == [1, 2]
    capsys.readouterr()


def test_tour_reruns_a_record_of_another_profile(fake_registry, tmp_path, capsys):
    assert _tour(tmp_path, "--only", "optimization") == cli.EXIT_OK
    assert cli.main(["tour", "--profile", "quick", "--device", "cpu", "--out", str(tmp_path),
                     "--only", "optimization"]) == cli.EXIT_OK
    assert _records(tmp_path, "fake-falls") == 2
    capsys.readouterr()


def test_report_command(fake_registry, fake_runs, tmp_path, capsys):
    assert cli.main(["report", "--runs", str(fake_runs), "--out", str(tmp_path / "r")]) == cli.EXIT_OK
    assert capsys.readouterr().out.strip() == f"report: {(tmp_path / 'r' / 'index.html').resolve()}"
    assert cli.main(["report", "--runs", str(tmp_path / "nothing"), "--out", str(tmp_path / "r")]) == cli.EXIT_BAD_INPUT
