"""benchmarks/report.py --results-only: the page's results sections are re-read, its measurements kept."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import report_markdown  # a script beside the benchmarks, not a package


def test_refresh_replaces_the_results_sections_and_keeps_the_measured_part():
    page = "# measured\n| a | 1 |\n" + report_markdown.RESULTS_MARK + "\n## stale results\n"
    refreshed = report_markdown.refresh_results(page)
    measured, mark, results = refreshed.partition(report_markdown.RESULTS_MARK)
    assert measured == "# measured\n| a | 1 |\n" and mark
    assert "stale results" not in results
    assert results == report_markdown.measured_elsewhere()
    assert "## Training step: Winograd" in results  # benchmarks/results/train_speed.md


def test_refresh_of_a_page_without_the_mark_says_to_run_the_whole_report():
    with pytest.raises(SystemExit, match=r"run report\.py whole"):
        report_markdown.refresh_results("# a page from before the mark\n")
