"""The experiment report: one self-contained HTML page with figures, PNG files and a Markdown table.

``build_report(run_dirs, out_dir)`` reads every ``results.json`` under the run directories
(written by :mod:`inscl.runner`) and writes ``report.html``, ``summary.md`` and
``figures/*.png``.
"""

from inscl.report.build import ReportFiles, build_report, render_report
from inscl.report.results import RunResult, load_results, parse_result

__all__ = ["ReportFiles", "RunResult", "build_report", "load_results", "parse_result", "render_report"]
