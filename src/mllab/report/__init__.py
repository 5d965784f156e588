"""The HTML report: a static site built from the latest run record of every registered experiment."""

from mllab.report.build import build_report, check_out_dir
from mllab.report.entries import skipped_lines

__all__ = ["build_report", "check_out_dir", "skipped_lines"]
