"""The demo command end to end, shortened (``--model tiny --quick``): table, report, resume."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from inscl.cli import main
from inscl.demo.run import STRATEGIES, DemoSettings, experiment_dict
from inscl.errors import ConfigError


def _rows(text: str, title: str) -> dict[str, list[str]]:
    """Rows (strategy -> cells) of the Markdown table under ``### title`` in ``text``."""
    block = text.split(f"### {title}", 1)[1].split("###", 1)[0]
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in block.splitlines()
            if line.startswith("|")]
    return {r[0]: r[1:] for r in rows[2:]}


def _value(cell: str) -> float:
    assert re.fullmatch(r"-?\d+\.\d{4}", cell), cell
    return float(cell)


def test_quick_tiny_demo_prints_the_table_and_writes_the_report(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    assert main(["-q", "demo", "--model", "tiny", "--quick", "--out", str(out)]) == 0
    printed = capsys.readouterr().out

    docs = {json.loads(p.read_text())["strategy"]: json.loads(p.read_text())
            for p in out.glob("*/seed0/results.json")}
    assert set(docs) == set(STRATEGIES)
    tasks = docs["none"]["order"]
    assert len(tasks) == 3 and all(d["order"] == tasks for d in docs.values())
    # stage 1 is trained once and shared: identical first rows
    assert len({json.dumps(d["R"][0]) for d in docs.values()}) == 1
    assert docs["none"]["plan"]["stages"][-1]["quotas"] == {} or \
        sum(docs["none"]["plan"]["stages"][-1]["quotas"].values()) == 0
    assert sum(docs["inscl"]["plan"]["stages"][-1]["quotas"].values()) == docs["inscl"]["budget"] * 2

    for source in (printed, (out / "report" / "summary.md").read_text(encoding="utf-8")):
        final = _rows(source, "Final results")
        per_stage = _rows(source, "Relative Gain per stage")
        assert list(final) == list(STRATEGIES)
        for strategy, doc in docs.items():
            m = doc["metrics"]
            cell = final[strategy][1]
            if m["final_rg"] is None:
                assert cell == "–"
            else:
                assert _value(cell) == pytest.approx(m["final_rg"], abs=6e-5)
            assert _value(final[strategy][2]) == pytest.approx(m["avg_score"][-1], abs=6e-5)
            for t, rg in enumerate(m["relative_gain"]):
                cell = per_stage[strategy][t]
                assert cell == "–" if rg is None else _value(cell) == pytest.approx(rg, abs=6e-5)
    html = out / "report" / "report.html"
    assert str(html) in printed
    assert html.is_file() and len(list((out / "report" / "figures").glob("*.png"))) == 8
    assert "wall time" in printed
    # the paired comparison, with the note that one seed gives one pair and no interval
    block = printed.split("### Paired differences", 1)[1].split("###", 1)[0]
    paired = {tuple(r[:2]): r[2:] for r in ([c.strip() for c in line.strip().strip("|").split("|")]
                                            for line in block.splitlines() if line.startswith("|"))}
    assert {d for d, _ in paired} >= {"random - none", "inscl - random", "inscl - none"}
    rg = [docs[s]["metrics"]["final_rg"] for s in ("random", "inscl")]
    assert paired["inscl - random", "final RG"][:2] == ["1", "–" if None in rg else f"{rg[1] - rg[0]:+.2f}"]
    assert paired["inscl - random", "final RG"][2] == "–" and "only 1 pair(s) (fewer than 5)" in printed

    # A rerun resumes: nothing is trained again and the results are unchanged.
    log_lines = (out / "stages.log").read_text().splitlines()
    start = time.perf_counter()
    assert main(["-q", "demo", "--model", "tiny", "--quick", "--out", str(out)]) == 0
    new_lines = (out / "stages.log").read_text().splitlines()[len(log_lines):]
    assert new_lines and all("\ttrained\t" not in line for line in new_lines)
    again = {json.loads(p.read_text())["strategy"]: json.loads(p.read_text())["R"]
             for p in out.glob("*/seed0/results.json")}
    assert again == {s: d["R"] for s, d in docs.items()}
    assert time.perf_counter() - start < 60


def test_demo_settings_are_validated_and_fit_the_runner_config(tmp_path: Path) -> None:
    from inscl.runner import ExperimentConfig

    full = DemoSettings().resolve()
    quick = DemoSettings(model="tiny", quick=True).resolve()
    assert full.out == Path("runs/demo") and quick.out == Path("runs/demo-tiny-quick")
    assert len(full.tasks or []) >= 4 and len(quick.tasks or []) == 3
    for settings in (full, quick):
        cfg = ExperimentConfig.from_dict(experiment_dict(settings, tmp_path))
        assert cfg.replay.strategies == list(STRATEGIES) and cfg.reference == "diagonal"
        assert cfg.prompt.max_prompt_tokens <= 64
    with pytest.raises(ConfigError, match="--model"):
        DemoSettings(model="gpt").resolve()
    with pytest.raises(ConfigError, match="--steps"):
        DemoSettings(steps=0).resolve()


def test_bad_demo_arguments_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--steps", "0", "--out", str(tmp_path / "x")]) == 2
    assert "--steps" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    assert main(["demo", "--write-data", str(tmp_path / "d"), "--examples", "0"]) == 2
    assert not (tmp_path / "d").exists()
