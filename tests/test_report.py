"""The report built from a REAL (tiny, shortened) run of the runner: files, figures and numbers.

The run: a from-scratch 1-layer Llama, 3 generated demo tasks, a few dozen (sub-second)
optimiser steps per stage, strategies none / random / inscl, two seeds. Every number checked in ``summary.md`` is
parsed back and compared with the run's own results.json files.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from inscl.cli import main
from inscl.demo.stream import write_stream
from inscl.errors import InputError
from inscl.report import build_report, load_results

TASKS = ["even_or_odd", "keyword_sentiment", "extract_city"]
SEEDS = [0, 1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from inscl.runner import ExperimentConfig, run_experiment

    root = tmp_path_factory.mktemp("report-run")
    write_stream(root / "data", n_examples=12, seed=0, tasks=TASKS)
    config = ExperimentConfig.from_dict({
        # Full fine-tuning of a 1-layer model: 40 steps cost well under a second per stage and
        # give non-trivial scores (some learned, some forgotten), so the numbers checked below vary.
        "model": {"name": "tiny", "tiny_layers": 1, "tiny_hidden": 32},
        "finetune": {"mode": "full"},
        "optim": {"max_steps": 40, "batch_size": 4, "lr": 1e-2, "schedule": "constant", "warmup_ratio": 0.0},
        "prompt": {"max_prompt_tokens": 32, "max_target_tokens": 8},
        "data": {"source": [str(root / "data")], "order": TASKS, "test_fraction": 0.25},
        "replay": {"strategies": ["none", "random", "inscl"], "budget": 2, "encoder": "hashing",
                   "tagger": "offline"},
        "evaluation": {"max_new_tokens": 8, "batch_size": 8},
        "reference": "diagonal", "seeds": SEEDS, "output_dir": str(root / "run"),
        "threads": 1,  # 2 OpenMP threads crawl on a 2-core machine shared with other test runs
    })
    docs = run_experiment(config, progress=False)
    assert len(docs) == 3 * len(SEEDS)
    scores = {x for d in docs for row in d["R"] for x in row if x is not None}
    assert len(scores) > 2, "the run should give varied scores, or the number checks below prove little"
    return root / "run"


def _json_docs(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(run_dir.glob("*/seed*/results.json"))]


def parse_markdown_tables(text: str) -> dict[str, list[dict[str, str]]]:
    """``{### title: [row as {header: cell}]}`` from summary.md."""
    tables: dict[str, list[dict[str, str]]] = {}
    title, header = None, None
    for line in text.splitlines():
        if line.startswith("### "):
            title, header = line[4:].strip(), None
            tables[title] = []
        elif line.startswith("|") and title is not None:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if header is None:
                header = cells
            elif not all(set(c) <= {"-"} for c in cells):
                tables[title].append(dict(zip(header, cells)))
    return tables


def parse_cell(cell: str) -> tuple[float, float | None]:
    match = re.fullmatch(r"(-?\d+\.\d+)(?: ± (\d+\.\d+))?", cell)
    assert match, f"not a number cell: {cell!r}"
    return float(match[1]), (float(match[2]) if match[2] else None)


def _check(cell: str, values: list[float | None]) -> None:
    """The cell holds the mean (± std over seeds) of the defined values, or "–" when none is."""
    values = [v for v in values if v is not None]
    if not values:
        assert cell == "–"
        return
    mean, std = parse_cell(cell)
    assert mean == pytest.approx(float(np.mean(values)), abs=6e-5)
    if len(values) > 1:
        assert std == pytest.approx(float(np.std(values)), abs=6e-5)
    else:
        assert std is None


def test_report_files_and_numbers_match_the_runs_json(run_dir: Path, tmp_path: Path) -> None:
    docs = _json_docs(run_dir)
    files = build_report([run_dir], tmp_path / "report")
    assert files.html.is_file() and files.summary.is_file()
    expected = {"paired_differences", "task_distance", "replay_quotas", "scores", "stage_curves", "forgetting",
                "forgetting_analysis", "insinfo"}
    assert set(files.figures) == expected
    for path in files.figures.values():
        assert path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 2000
    page = files.html.read_text(encoding="utf-8")
    assert page.count('src="data:image/png;base64,') == len(expected)
    assert "<script" not in page and "http://" not in page and "https://" not in page

    tables = parse_markdown_tables(files.summary.read_text(encoding="utf-8"))
    by_strategy: dict[str, list[dict[str, Any]]] = {}
    for d in docs:
        by_strategy.setdefault(d["strategy"], []).append(d)
    overview = {row["strategy"]: row for row in tables["Final results"]}
    assert list(overview) == ["none", "random", "inscl"]
    rg_rows = {row["strategy"]: row for row in tables["Relative Gain per stage"]}
    avg_rows = {row["strategy"]: row for row in tables["Average score per stage"]}
    final_rows = {row["strategy"]: row for row in tables["ROUGE-L after the last stage"]}
    for strategy, runs in by_strategy.items():
        assert overview[strategy]["seeds"] == ",".join(str(d["seed"]) for d in sorted(runs, key=lambda d: d["seed"]))
        _check(overview[strategy]["final RG"], [d["metrics"]["final_rg"] for d in runs])
        _check(overview[strategy]["final avg score"], [d["metrics"]["avg_score"][-1] for d in runs])
        _check(overview[strategy]["BWT"], [d["metrics"]["bwt"] for d in runs])
        for t in range(len(TASKS)):
            _check(rg_rows[strategy][f"stage {t + 1}"], [d["metrics"]["relative_gain"][t] for d in runs])
            _check(avg_rows[strategy][f"stage {t + 1}"], [d["metrics"]["avg_score"][t] for d in runs])
            _check(final_rows[strategy][TASKS[t]], [d["R"][-1][t] for d in runs])


def test_paired_differences_match_the_runs_json(run_dir: Path, tmp_path: Path) -> None:
    # recomputed from the results.json files without inscl, as docs/report.md describes
    docs = _json_docs(run_dir)
    files = build_report([run_dir], tmp_path / "report")
    paired = json.loads(files.paired.read_text())  # type: ignore[union-attr]
    comparisons = {c["difference"]: c for c in paired["comparisons"]}
    assert list(comparisons) == ["random - none", "inscl - random", "inscl - none"]
    by_key = {(d["strategy"], tuple(d["order"]), d["seed"]): d for d in docs}
    for c in comparisons.values():
        assert c["n_pairs"] == len(SEEDS) and [p["seed"] for p in c["pairs"]] == SEEDS
        for metric, get in (("final_rg", lambda d: d["metrics"]["final_rg"]), ("bwt", lambda d: d["metrics"]["bwt"]),
                            ("final_avg_score", lambda d: d["metrics"]["avg_score"][-1])):
            d = np.array([get(by_key[c["b"], tuple(p["order"]), p["seed"]]) - get(by_key[c["a"], tuple(p["order"]),
                                                                                       p["seed"]]) for p in c["pairs"]])
            means = d[np.random.default_rng(0).integers(0, d.size, size=(10_000, d.size))].mean(axis=1)
            stats = c["metrics"][metric]
            assert stats["mean"] == pytest.approx(d.mean(), abs=1e-12)
            assert [stats["ci_low"], stats["ci_high"]] == np.quantile(means, [0.025, 0.975]).tolist()
        assert any("fewer than 5" in note for note in c["notes"])
    summary = files.summary.read_text(encoding="utf-8")
    assert "### Paired differences" in summary and "fewer than 5" in summary
    assert 'id="paired"' in files.html.read_text(encoding="utf-8")


def test_report_figures_come_from_the_plan(run_dir: Path) -> None:
    from inscl.report.aggregate import summarize
    from inscl.report.figures import distance_matrix, last_insinfo, plan_of

    summaries = summarize(load_results([run_dir]))
    summary, plan = plan_of(summaries, "distances")  # type: ignore[misc]
    assert summary.strategy == "inscl"
    doc = json.loads((run_dir / "inscl" / "seed0" / "results.json").read_text())
    D = distance_matrix(plan, TASKS)
    for stage_index, stage in enumerate(doc["plan"]["stages"]):
        for other, value in stage["distances"].items():
            assert D[stage_index, TASKS.index(other)] == D[TASKS.index(other), stage_index] == value
    stage, scores = last_insinfo(plan)  # type: ignore[misc]
    assert scores == doc["plan"]["stages"][stage - 1]["insinfo"]


def test_cli_report_prints_the_table(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli-report"
    assert main(["report", str(run_dir), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| strategy |" in printed and str(out / "report.html") in printed
    assert (out / "report.html").is_file() and len(list((out / "figures").glob("*.png"))) == 8


def test_runs_without_plans_are_reported_with_notes(run_dir: Path, tmp_path: Path) -> None:
    files = build_report([run_dir / "none" / "seed0" / "results.json"], tmp_path / "r")
    assert set(files.figures) == {"scores", "stage_curves", "forgetting", "forgetting_analysis"}
    page = files.html.read_text(encoding="utf-8")
    assert "No plan with task distances" in page and "No plan with InsInfo scores" in page


@pytest.mark.parametrize("mutate, field", [
    (lambda d: d.pop("order"), "field 'order'"),
    (lambda d: d.update(R="oops"), "field 'R'"),
    (lambda d: d["R"][1].__setitem__(0, "x"), "field 'R[1][0]'"),
    (lambda d: d.update(seed="zero"), "field 'seed'"),
    (lambda d: d.update(plan=[1]), "field 'plan'"),
])
def test_bad_results_are_one_line_errors_and_write_nothing(run_dir: Path, tmp_path: Path, mutate: Any, field: str,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(run_dir / "random", bad / "random")
    path = bad / "random" / "seed0" / "results.json"
    doc = json.loads(path.read_text())
    mutate(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match=re.escape(field)):
        load_results([bad])
    out = tmp_path / "out"
    assert main(["report", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(path) in err and field in err
    assert not out.exists()


def test_malformed_json_and_missing_dirs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "run" / "inscl" / "seed0" / "results.json"
    broken.parent.mkdir(parents=True)
    broken.write_text('{"strategy": "inscl",\n "seed": }')
    assert main(["report", str(tmp_path / "run"), "--out", str(tmp_path / "o")]) == 2
    assert f"{broken}:2" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert "no such file or directory" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 2
    assert "no results.json found" in capsys.readouterr().err
    assert not (tmp_path / "o").exists() and not (tmp_path / "empty" / "report").exists()
