"""A corpus of bad inputs and interruptions, each run as a new user would: ``python3 -m inscl``
in a real subprocess. For every case and command: exit code 2, one line on stderr naming
the path (and line and field where there is one), no traceback, nothing written, and every
file in the workspace byte for byte unchanged.

The subprocesses of the corpus run concurrently (a module fixture), each in its own
workspace; the parametrized tests then check one (case, command) each.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from inscl.cli import main
from inscl.errors import InputError

REPO_ROOT = Path(__file__).resolve().parents[1]
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


# ------------------------------------------------------------------------- workspace helpers
def good_records(task: str, n: int = 6) -> list[dict]:
    return [{"instruction": f"Do {task} step {j % 2}.", "input": f"x{j}", "output": f"y{j}", "id": f"{task}-{j}"}
            for j in range(n)]


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def make_workspace(ws: Path) -> None:
    """``ws/tasks`` with three good tasks, a tag file for them and a tiny-model run config."""
    tasks = ws / "tasks"
    tasks.mkdir(parents=True)
    for name in ("alpha", "beta", "gamma"):
        write_jsonl(tasks / f"{name}.jsonl", good_records(name))
    instructions = [f"Do {t} step {j}." for t in ("alpha", "beta", "gamma") for j in (0, 1)]
    write_jsonl(ws / "tags.jsonl", [{"instruction": s, "tags": [s.split()[1]]} for s in instructions])
    write_config(ws)


def write_config(ws: Path, **over: object) -> Path:
    cfg: dict = {"model": {"name": "tiny"}, "finetune": {"mode": "lora"},
                 "optim": {"max_steps": 1, "batch_size": 2}, "data": {"source": [str(ws / "tasks")]},
                 "replay": {"strategies": ["random"], "budget": 2, "encoder": "hashing"},
                 "evaluation": {"max_new_tokens": 2, "batch_size": 2}, "seeds": [0], "threads": 1,
                 "output_dir": str(ws / "runout")}
    for key, value in over.items():
        cfg[key] = {**cfg[key], **value} if isinstance(value, dict) else value
    path = ws / "exp.yaml"
    import yaml

    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def snapshot(root: Path) -> dict[str, str]:
    """Every path under ``root`` (links not followed) with a hash of its content."""
    out: dict[str, str] = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = "link:" + os.readlink(p)
            elif p.is_dir():
                out[rel] = "dir"
            else:
                try:
                    out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
                except PermissionError:
                    out[rel] = f"unreadable:{p.stat().st_size}"
    return out


def inscl_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", INSCL_CACHE_DIR="",
               PYTHONWARNINGS="ignore::DeprecationWarning")
    return env


def run_inscl(argv: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "inscl", *argv], cwd=cwd, capture_output=True, text=True,
                          env=inscl_env(), timeout=timeout, check=False)


# ------------------------------------------------------------------------- the corpus
@dataclass
class Case:
    """One bad input: ``setup(ws)`` breaks a fresh workspace; ``pattern`` (with ``{ws}`` for the
    escaped workspace path) must match the error line of every command in ``commands``."""

    setup: Callable[[Path], None]
    pattern: str
    commands: tuple[str, ...] = ("check", "plan", "run")
    plan_args: list[str] = field(default_factory=list)
    check_args: list[str] = field(default_factory=list)
    patterns: dict[str, str] = field(default_factory=dict)  # a command's own pattern, if it differs


def _bad_task(text: str | bytes, name: str = "bad.jsonl") -> Callable[[Path], None]:
    def setup(ws: Path) -> None:
        path = ws / "tasks" / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
    return setup


GOOD = '{"instruction": "Do bad things.", "input": "", "output": "b", "id": "b0"}\n'
DEEP = 100_000


def _symlink(name: str, target: str) -> Callable[[Path], None]:
    def setup(ws: Path) -> None:
        os.symlink(target, ws / "tasks" / name)
    return setup


def _split_overlap(ws: Path) -> None:
    write_jsonl(ws / "tasks" / "delta.train.jsonl", good_records("delta", 3))
    write_jsonl(ws / "tasks" / "delta.test.jsonl", good_records("delta", 2))


def _same_name(ws: Path) -> None:
    (ws / "tasks" / "alpha.json").write_text(json.dumps(good_records("other")), encoding="utf-8")


def _superni_bad(ws: Path) -> None:
    doc = {"Definition": ["Answer."], "Input_language": ["English"], "Output_language": ["English"],
           "Instruction_language": ["English"], "Instances": [{"id": "i0", "input": "q", "output": [3]}]}
    (ws / "tasks" / "task001_x.json").write_text(json.dumps(doc), encoding="utf-8")


def _unreadable(ws: Path) -> None:
    path = ws / "tasks" / "locked.jsonl"
    path.write_text(GOOD, encoding="utf-8")
    path.chmod(0)


DATA_CASES: dict[str, Case] = {
    "malformed_json": Case(_bad_task(GOOD + '{"instruction": "a", "output": \n'),
                           r"{ws}/tasks/bad\.jsonl:2: malformed JSON line"),
    "missing_output": Case(_bad_task(GOOD + '{"instruction": "a", "input": "c"}\n'),
                           r"{ws}/tasks/bad\.jsonl:2, field 'output': missing"),
    "empty_task": Case(_bad_task("\n \n"), r"{ws}/tasks/bad\.jsonl: no examples"),
    "non_string_instruction": Case(_bad_task(GOOD + '{"instruction": 5, "output": "b"}\n'),
                                   r"{ws}/tasks/bad\.jsonl:2, field 'instruction'"),
    "empty_output_list": Case(_bad_task('{"instruction": "a", "output": []}\n'),
                              r"{ws}/tasks/bad\.jsonl:1, field 'output': empty list"),
    "duplicate_id": Case(_bad_task(GOOD + GOOD), r"{ws}/tasks/bad\.jsonl:2, field 'id': duplicate"),
    "not_an_object": Case(_bad_task(GOOD + "[1, 2]\n"), r"{ws}/tasks/bad\.jsonl:2: .*object"),
    "deeply_nested": Case(_bad_task(GOOD + '{"instruction": "a", "output": ' + "[" * DEEP + "]" * DEEP + "}\n"),
                          r"{ws}/tasks/bad\.jsonl:2: malformed JSON line \(nested too deeply"),
    "deeply_nested_list": Case(_bad_task("[\n" + "[" * DEEP + "]" * DEEP + "\n]\n", "bad.json"),
                               r"{ws}/tasks/bad\.json:2: malformed JSON \(nested too deeply"),
    "not_utf8": Case(_bad_task(GOOD.encode() + b'{"instruction": "caf\xe9", "output": "b"}\n'),
                     r"{ws}/tasks/bad\.jsonl:2: not UTF-8"),
    "json_list_bad_record": Case(_bad_task('[\n  {"instruction": "a", "output": "b"},\n\n  {\n'
                                           '    "instruction": "c"\n  }\n]\n', "bad.json"),
                                 r"{ws}/tasks/bad\.json:4, field 'output': missing"),
    "json_list_with_bom_malformed": Case(
        _bad_task("\ufeff[\n" + ' {"instruction": "a", "output": "b"},\n {"instruction": "a" "output": "b"}\n]\n',
                  "bad.json"),
        r"{ws}/tasks/bad\.json:3: malformed JSON"),
    "single_object_json": Case(_bad_task('{"instruction_x": "a", "Instances": []}', "bad.json"),
                               r"{ws}/tasks/bad\.json:1: expected a JSON list"),
    "superni_bad_instance": Case(_superni_bad, r"{ws}/tasks/task001_x\.json, field 'Instances\[0\]\.output'"),
    "dangling_symlink": Case(_symlink("gone.jsonl", "nowhere/gone.jsonl"),
                             r"{ws}/tasks/gone\.jsonl, field '--tasks': dangling symbolic link"),
    "looping_symlink": Case(_symlink("loop.jsonl", "loop.jsonl"),
                            r"{ws}/tasks/loop\.jsonl, field '--tasks': symbolic link loop"),
    "id_in_train_and_test": Case(_split_overlap, r"{ws}/tasks, field 'id': id 'delta-0' is in both"),
    "task_name_twice": Case(_same_name, r"field '--tasks': task name 'alpha' is used twice"),
    "unreadable_file": Case(_unreadable, r"{ws}/tasks/locked\.jsonl: cannot read file \(Permission denied\)"),
}


def _file(name: str, text: str = "x") -> Callable[[Path], None]:
    def setup(ws: Path) -> None:
        (ws / name).write_text(text, encoding="utf-8")
    return setup


def _user_folder(ws: Path) -> None:
    (ws / "mine").mkdir()
    (ws / "mine" / "notes.txt").write_text("precious", encoding="utf-8")


def _truncated_npz(ws: Path) -> None:
    from inscl.data.precomputed import save_embeddings

    save_embeddings(ws / "full.npz", ["a", "b"], np.ones((2, 4), dtype=np.float32))
    data = (ws / "full.npz").read_bytes()
    (ws / "full.npz").unlink()
    (ws / "e.npz").write_bytes(data[: len(data) // 2])


def _tags_missing_one(ws: Path) -> None:
    lines = (ws / "tags.jsonl").read_text(encoding="utf-8").splitlines()
    (ws / "tags.jsonl").write_text("\n".join(line for line in lines if "gamma step 1" not in line) + "\n",
                                   encoding="utf-8")


def _tags_malformed(ws: Path) -> None:
    with open(ws / "tags.jsonl", "a", encoding="utf-8") as fh:
        fh.write('{"instruction": "x", "tags": [\n')


def _nothing(ws: Path) -> None:
    pass


def plan_case(setup: Callable[[Path], None], pattern: str, **kw: object) -> Case:
    kw.setdefault("commands", ("plan",))
    return Case(setup, pattern, **kw)  # type: ignore[arg-type]


def _tags_in_sub(ws: Path) -> None:
    (ws / "sub").mkdir()
    (ws / "tags.jsonl").rename(ws / "sub" / "tags.jsonl")


PLAN_CASES: dict[str, Case] = {
    "out_is_tasks": plan_case(_nothing, r"{ws}/tasks, field '--out': is the input path {ws}/tasks",
                         plan_args=["--out", "{ws}/tasks", "--force"]),
    "out_contains_tasks": plan_case(_file("notes.txt", "unrelated"),
                               r"{ws}, field '--out': contains the input path {ws}/tasks",
                               plan_args=["--out", "{ws}", "--force"]),
    "out_inside_tasks": plan_case(_nothing, r"{ws}/tasks/plan, field '--out': is inside the input path",
                             plan_args=["--out", "{ws}/tasks/plan"]),
    "out_contains_tags": plan_case(_tags_in_sub, r"{ws}/sub, field '--out': contains the input path "
                                                r"{ws}/sub/tags\.jsonl",
                                  plan_args=["--tags", "{ws}/sub/tags.jsonl", "--strategy", "insinfo", "--out",
                                             "{ws}/sub", "--force"]),
    "out_user_folder_force": plan_case(_user_folder, r"{ws}/mine, field '--out': was not written by inscl .*"
                                                r"would delete 1 file\(s\) in 1 folder\(s\): notes\.txt",
                                  plan_args=["--out", "{ws}/mine", "--force"]),
    "out_user_folder": plan_case(_user_folder, r"{ws}/mine, field '--out': exists and is not empty",
                            plan_args=["--out", "{ws}/mine"]),
    "out_is_a_file": plan_case(_file("afile"), r"{ws}/afile, field '--out': exists and is a file",
                          plan_args=["--out", "{ws}/afile"]),
    "out_parent_is_a_file": plan_case(_file("afile"), r"{ws}/afile/plan, field '--out': cannot be created: "
                                                 r"{ws}/afile is a file", plan_args=["--out", "{ws}/afile/plan"]),
    "cache_dir_is_a_file": plan_case(_file("afile"), r"{ws}/afile, field '--cache-dir': is a file",
                                plan_args=["--cache-dir", "{ws}/afile"]),
    "corrupt_npz": plan_case(_truncated_npz, r"{ws}/e\.npz: cannot read \.npz file \(BadZipFile",
                        plan_args=["--embeddings", "{ws}/e.npz", "--strategy", "dynamic"]),
    "embeddings_missing": plan_case(_nothing, r"{ws}/none\.npz, field '--embeddings': no such file",
                               plan_args=["--embeddings", "{ws}/none.npz", "--strategy", "dynamic"]),
    "tags_malformed": plan_case(_tags_malformed, r"{ws}/tags\.jsonl:7: malformed JSON line",
                           plan_args=["--tags", "{ws}/tags.jsonl", "--strategy", "insinfo"]),
    "tags_untagged_instruction": plan_case(
        _tags_missing_one, r"{ws}/tags\.jsonl, field 'tags': no intention tags for instruction "
                           r"'Do gamma step 1\.' of task 'gamma'",
        plan_args=["--tags", "{ws}/tags.jsonl", "--strategy", "insinfo"]),
    "tags_dangling_symlink": plan_case(lambda ws: os.symlink("gone.jsonl", ws / "t.jsonl"),
                                  r"{ws}/t\.jsonl, field '--tags': dangling symbolic link",
                                  plan_args=["--tags", "{ws}/t.jsonl", "--strategy", "insinfo"]),
    "order_empty": plan_case(_nothing, r"field '--order'", commands=("check", "plan"), plan_args=["--order", ","],
                        check_args=["--order", ","]),
    "out_not_writable": plan_case(_nothing, r"/proc/inscl-out, field '--out': cannot write in folder /proc",
                             plan_args=["--out", "/proc/inscl-out"]),
}


def _fill(value: object, ws: Path) -> object:
    if isinstance(value, str):
        return value.replace("{ws}", str(ws))
    if isinstance(value, dict):
        return {k: _fill(v, ws) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ws) for v in value]
    return value


def _run_config(**over: object) -> Callable[[Path], None]:
    def setup(ws: Path) -> None:
        write_config(ws, **{k: _fill(v, ws) for k, v in over.items()})
    return setup


def _run_user_folder(ws: Path) -> None:
    _user_folder(ws)
    write_config(ws, output_dir=str(ws / "mine"))


def _data_named_data(ws: Path) -> None:
    # `data/` inside a run folder is the runner's own: --force would remove it with the results
    (ws / "o").mkdir()
    (ws / "tasks").rename(ws / "o" / "data")
    write_config(ws, data={"source": [str(ws / "o" / "data")]}, output_dir=str(ws / "o"))


def _deep_yaml(ws: Path) -> None:
    (ws / "exp.yaml").write_text("model: " + "[" * 3000 + "]" * 3000 + "\n", encoding="utf-8")


RUN_CASES: dict[str, Case] = {
    "run_output_is_tasks": Case(_run_config(output_dir="{ws}/tasks"),
                                r"{ws}/tasks, field 'output_dir': is the input path", commands=("run",)),
    "run_output_contains_tasks": Case(_run_config(output_dir="{ws}"),
                                      r"{ws}, field 'output_dir': exists, is not empty and was not written by "
                                      r"inscl run", commands=("run",)),
    "run_output_would_remove_input": Case(_data_named_data, r"{ws}/o, field 'output_dir': contains the input "
                                                            r"path {ws}/o/data", commands=("run",)),
    "run_output_user_folder": Case(_run_user_folder, r"{ws}/mine, field 'output_dir': exists, is not empty and "
                                                     r"was not written by inscl run.*notes\.txt",
                                   commands=("run",)),
    "run_output_parent_is_a_file": Case(lambda ws: (_file("afile")(ws), _run_config(output_dir="{ws}/afile/o")(ws)),
                                        r"{ws}/afile/o, field 'output_dir': cannot be created", commands=("run",)),
    "run_cache_dir_is_a_file": Case(lambda ws: (_file("afile")(ws), _run_config(
        replay={"strategies": ["random"], "budget": 2, "encoder": "hashing", "cache_dir": "{ws}/afile"})(ws)),
        r"{ws}/afile, field 'replay.cache_dir': is a file", commands=("run",)),
    "run_source_missing": Case(_run_config(data={"source": ["{ws}/nope"]}),
                               r"{ws}/nope, field 'data.source': no such file", commands=("run",)),
    "run_config_malformed": Case(_file("exp.yaml", "optim: [1, 2\n"), r"{ws}/exp\.yaml:\d+: malformed YAML",
                                 commands=("run",)),
    "run_config_deeply_nested": Case(_deep_yaml, r"(nested too deeply|malformed YAML).*{ws}/exp\.yaml|"
                                                 r"{ws}/exp\.yaml.*(nested too deeply|malformed YAML)",
                                     commands=("run",)),
}

ALL_CASES = {**DATA_CASES, **PLAN_CASES, **RUN_CASES}
RUNS = [(name, cmd) for name, case in ALL_CASES.items() for cmd in case.commands]


def argv_for(command: str, case: Case, ws: Path) -> list[str]:
    def fill(args: list[str]) -> list[str]:
        return [a.replace("{ws}", str(ws)) for a in args]

    if command == "check":
        return ["data", "check", "--tasks", str(ws / "tasks"), *fill(case.check_args)]
    if command == "run":
        return ["run", str(ws / "exp.yaml")]
    flags: dict[str, str | None] = {"--tasks": str(ws / "tasks"), "--strategy": "random", "--encoder": "hashing",
                                    "--cache-dir": str(ws / "cache"), "--out": str(ws / "out")}
    extra, i = fill(case.plan_args), 0
    while i < len(extra):  # the case's flags win; a flag without a value (--force) stands alone
        if i + 1 < len(extra) and not extra[i + 1].startswith("--"):
            flags[extra[i]], i = extra[i + 1], i + 2
        else:
            flags[extra[i]], i = None, i + 1
    if "--embeddings" in flags:
        del flags["--encoder"]
    argv = ["plan"]
    for flag, value in flags.items():
        argv += [flag] if value is None else [flag, value]
    return argv


def skip_reason(name: str) -> str | None:
    if name == "unreadable_file" and IS_ROOT:
        return "root reads any file"
    if name == "out_not_writable" and not Path("/proc/self").exists():
        return "needs Linux /proc"
    return None


@dataclass
class Outcome:
    ws: Path
    argv: list[str]
    returncode: int
    stderr: str
    before: dict[str, str]
    after: dict[str, str]


@pytest.fixture(scope="module")
def outcomes(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
             ) -> dict[tuple[str, str], Outcome]:
    # Only the selected cases (-k), all at once: each is a fresh `python3 -m inscl`.
    selected = {(item.callspec.params["name"], item.callspec.params["command"]) for item in request.session.items
                if item.originalname == "test_bad_input" and hasattr(item, "callspec")}
    root = tmp_path_factory.mktemp("bad")
    jobs = []
    for name, command in RUNS:
        case = ALL_CASES[name]
        if skip_reason(name) or (name, command) not in selected:
            continue
        ws = root / f"{name}-{command}"
        make_workspace(ws)
        case.setup(ws)
        jobs.append((name, command, ws, argv_for(command, case, ws), snapshot(ws)))

    def go(job: tuple) -> Outcome:
        _, _, ws, argv, before = job
        proc = run_inscl(argv, ws)
        return Outcome(ws, argv, proc.returncode, proc.stderr, before, snapshot(ws))

    with ThreadPoolExecutor(max_workers=max(2, min(8, os.cpu_count() or 2))) as pool:
        results = list(pool.map(go, jobs))
    yield {(job[0], job[1]): r for job, r in zip(jobs, results)}
    for r in results:  # let pytest remove the workspaces
        for p in r.ws.rglob("*"):
            if not p.is_symlink():
                p.chmod(0o755)


@pytest.mark.parametrize(("name", "command"), RUNS, ids=[f"{n}-{c}" for n, c in RUNS])
def test_bad_input(name: str, command: str, outcomes: dict[tuple[str, str], Outcome]) -> None:
    case = ALL_CASES[name]
    reason = skip_reason(name)
    if reason:
        pytest.skip(reason)
    r = outcomes[(name, command)]
    label = {"check": "data", "plan": "plan", "run": "run"}[command]
    detail = f"argv={r.argv}\nstderr={r.stderr}"
    assert r.returncode == 2, detail
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, detail
    assert lines[0].startswith(f"inscl {label}: error: "), detail
    assert "Traceback" not in r.stderr
    pattern = case.patterns.get(command, case.pattern).replace("{ws}", re.escape(str(r.ws)))
    assert re.search(pattern, lines[0]), detail
    # nothing written, nothing changed: the same files with the same bytes, no temp folder
    assert r.after == r.before, detail


# ------------------------------------------------------------------------- --force never loses data
@pytest.fixture()
def ws(tmp_path: Path) -> Path:
    make_workspace(tmp_path / "ws")
    return tmp_path / "ws"


def test_force_with_out_equal_to_or_parent_of_tasks_refuses_and_changes_nothing(
        ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (ws / "notes.txt").write_text("unrelated", encoding="utf-8")
    before = snapshot(ws)
    for out in (ws, ws / "tasks", ws.parent):
        code = main(["plan", "--tasks", str(ws / "tasks"), "--strategy", "random", "--encoder", "hashing",
                     "--cache-dir", str(ws / "cache"), "--out", str(out), "--force"])
        err = capsys.readouterr().err
        assert code == 2 and "input path" in err and len(err.strip().splitlines()) == 1, err
        assert snapshot(ws) == before
    # and a plan folder inscl wrote is replaced by --force, naming what it replaced
    out = ws.parent / "plan"
    argv = ["plan", "--tasks", str(ws / "tasks"), "--strategy", "random", "--encoder", "hashing",
            "--cache-dir", str(ws.parent / "cache"), "--out", str(out)]
    assert main(argv) == 0
    assert main(argv) == 2 and "pass --force" in capsys.readouterr().err
    assert main([*argv, "--force", "--budget", "1"]) == 0
    assert json.loads((out / "plan.json").read_text())["budget"] == 1
    assert sorted(p.name for p in ws.parent.iterdir()) == ["plan", "ws"]  # no temp or old folder


def test_runner_refuses_a_folder_it_did_not_write(ws: Path) -> None:
    from inscl.runner.rundir import RunDir

    (ws / "tasks" / "x").mkdir()
    for root in (ws.parent, ws / "tasks", ws / "tasks" / "x"):  # contains `data/`, is, lies inside the input
        inputs = [ws.parent / "data"] if root == ws.parent else [ws / "tasks"]
        if root == ws.parent:
            (ws.parent / "data").mkdir()
        with pytest.raises(InputError, match="input path"):
            RunDir(root).claim("a: 1\n", "h", overwrite=True, strategies=["none"], inputs=inputs)
    with pytest.raises(InputError, match="not written by inscl run"):  # a folder of the user's
        RunDir(ws).claim("a: 1\n", "h", overwrite=True, strategies=["none"], inputs=[ws / "tasks"])
    mine = ws / "mine"
    mine.mkdir()
    (mine / "data").mkdir()  # a name the runner would remove with --force
    with pytest.raises(InputError, match="not written by inscl run"):
        RunDir(mine).claim("a: 1\n", "h", overwrite=True, strategies=["none"])
    assert (mine / "data").is_dir()
    fresh = RunDir(ws.parent / "run")
    (ws.parent / "data").rmdir()
    fresh.claim("a: 1\n", "h", overwrite=False, strategies=["none"])
    assert json.loads((fresh.root / ".inscl-output").read_text())["kind"] == "run"
    fresh.claim("a: 1\n", "h", overwrite=False, strategies=["none"])  # a run folder is resumed


# ------------------------------------------------------------------------- U+2028 and friends
def test_line_separators_in_an_instruction_through_load_tag_cache_plan_and_reload(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from inscl.data import load_tasks
    from inscl.taggers.cache import TagCache, read_tags_jsonl

    odd = "Do this\u2028then that\u2029and\u0085more."
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    write_jsonl(tasks / "alpha.jsonl", [{**r, "instruction": odd if j % 2 else r["instruction"],
                                         "input": f"in\u2028put {j}"} for j, r in enumerate(good_records("alpha"))])
    write_jsonl(tasks / "beta.jsonl", good_records("beta"))
    (loaded, _) = load_tasks([tasks])
    assert odd in loaded.instructions() and len(loaded) == 6 and loaded.examples[1].input == "in\u2028put 1"
    cache, out = tmp_path / "cache", tmp_path / "plan"
    argv = ["-q", "plan", "--tasks", str(tasks), "--strategy", "inscl", "--budget", "2", "--encoder", "hashing",
            "--tagger", "offline", "--cache-dir", str(cache), "--out", str(out)]
    assert main(argv) == 0, capsys.readouterr().err
    (cache_file,) = cache.glob("*/tags.jsonl")
    assert odd in read_tags_jsonl(cache_file)  # strict: every line of the cache reads back
    tagger_id = json.loads(cache_file.read_text(encoding="utf-8").split("\n")[0])["tagger"]
    assert odd in TagCache(cache, tagger_id).tags
    assert not (cache_file.parent / "quarantine.jsonl").exists()
    # inscl re-reads its own output, and the cache serves the next plan, on this and other data
    reloaded = {t.name: t for t in load_tasks([out / "data"])}
    assert odd in reloaded["alpha"].instructions() and len(reloaded["alpha"]) == 6
    assert main([*argv, "--force"]) == 0
    other = tmp_path / "other"
    other.mkdir()
    write_jsonl(other / "gamma.jsonl", good_records("gamma"))
    write_jsonl(other / "delta.jsonl", good_records("delta"))
    assert main([*argv[:3], str(other), *argv[4:-1], str(tmp_path / "plan2")]) == 0, capsys.readouterr().err


def test_bom_files_are_read(tmp_path: Path) -> None:
    from inscl.data import load_tasks
    from inscl.data.jsonio import read_json
    from inscl.data.precomputed import load_tags

    (tmp_path / "a.jsonl").write_text("\ufeff" + "".join(json.dumps(r) + "\n" for r in good_records("a")),
                                      encoding="utf-8")
    (tmp_path / "b.json").write_text("\ufeff" + json.dumps(good_records("b")), encoding="utf-8")
    assert [len(t) for t in load_tasks([tmp_path / "a.jsonl", tmp_path / "b.json"])] == [6, 6]
    (tmp_path / "t.jsonl").write_text('\ufeff{"instruction": "a", "tags": ["x"]}\n', encoding="utf-8")
    assert load_tags(tmp_path / "t.jsonl") == {"a": ["x"]}
    (tmp_path / "m.json").write_text('\ufeff{"order": []}', encoding="utf-8")
    assert read_json(tmp_path / "m.json") == {"order": []}


# ------------------------------------------------------------------------- caches
def test_unreadable_tag_cache_line_is_quarantined_and_blocks_nothing(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from inscl.taggers.cache import TagCache

    cache = TagCache(tmp_path, "tagger-x")
    cache.add("first", ["a"])
    cache.add("second", ["b"])
    cache.close()
    lines = cache.path.read_bytes().split(b"\n")
    lines.insert(1, b'{"instruction": "broken", "tags": [')  # a hand edit gone wrong
    lines.insert(2, b'{"instruction": "caf\xe9", "tags": []}')  # not UTF-8
    cache.path.write_bytes(b"\n".join(lines))
    with caplog.at_level(logging.WARNING):
        again = TagCache(tmp_path, "tagger-x")
    assert again.tags == {"first": ["a"], "second": ["b"]}
    assert "tags.jsonl:2: unreadable tag-cache line" in caplog.text and "to repair it" in caplog.text
    quarantined = [json.loads(line) for line in again.quarantine_path.read_text().splitlines()]
    assert [q["line"] for q in quarantined] == [2, 3] and quarantined[0]["text"].startswith('{"instruction": "br')
    assert b"broken" not in again.path.read_bytes()  # moved out: the next load is clean
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert TagCache(tmp_path, "tagger-x").tags == again.tags
    assert "unreadable" not in caplog.text


def test_damaged_embedding_cache_is_set_aside(tmp_path: Path) -> None:
    from inscl.encoders.cache import CachedEncoder, cache_file_name
    from inscl.encoders.hashing import HashingEncoder

    inner = HashingEncoder(dim=16)
    path = tmp_path / cache_file_name(inner.id)
    path.write_bytes(b"this is not an SQLite database" * 100)
    enc = CachedEncoder(inner, tmp_path)
    assert np.array_equal(enc.encode(["a b", "c"]), inner.encode(["a b", "c"]))
    assert len(list(tmp_path.glob("*.corrupt-*"))) == 1
    with pytest.raises(InputError, match=r"field '--cache-dir': is a file"):
        CachedEncoder(inner, path)


def test_corrupt_npz_variants(tmp_path: Path) -> None:
    from inscl.data.precomputed import load_embeddings, save_embeddings

    save_embeddings(tmp_path / "ok.npz", ["a", "b"], np.ones((2, 3), dtype=np.float32))
    data = (tmp_path / "ok.npz").read_bytes()
    with zipfile.ZipFile(tmp_path / "ok.npz") as zf:
        info = zf.getinfo("embeddings.npy")
    at = info.header_offset + 30 + len(info.filename) + len(info.extra) + 128 + 4  # inside the float data
    variants = {"trunc.npz": data[: len(data) // 2], "empty.npz": b"",
                "crc.npz": data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:]}
    for name, content in variants.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(InputError, match=rf"{name}: cannot read \.npz file"):
            load_embeddings(tmp_path / name)


# ------------------------------------------------------------------------- degenerate signals
def test_degenerate_signals_warn() -> None:
    from inscl.data.task import Example, Task
    from inscl.replay.planner import DegenerateSignalWarning, PlannerConfig, plan_stream

    class Zeros:
        id = "zeros"

        def encode(self, texts: list[str]) -> np.ndarray:
            return np.zeros((len(texts), 4), dtype=np.float32)

    tasks = [Task(n, [Example(f"Do {n} {j % 2}.", "", "y", f"{n}-{j}", n) for j in range(4)]) for n in "abc"]
    tags = {f"Do {n} {j}.": [] for n in "abc" for j in range(2)}
    with pytest.warns(DegenerateSignalWarning) as record:
        plan_stream(tasks, PlannerConfig(strategy="inscl", budget=1, dbscan_min_samples=1), Zeros(), tags,
                    progress=False)
    text = "\n".join(str(w.message) for w in record)
    assert "all-zero embedding" in text and "no intention tags" in text
    assert "Wasserstein distances are equal" in text and "same InsInfo" in text


# ------------------------------------------------------------------------- signals
def test_sigterm_during_the_write_leaves_no_temp_folder(tmp_path: Path) -> None:
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    filler = "lorem ipsum dolor sit amet " * 8
    for name in ("alpha", "beta", "gamma"):
        write_jsonl(tasks / f"{name}.jsonl", [{"instruction": f"Do {name} {j % 3}.", "input": f"{filler}{j}",
                                                "output": f"y{j}", "id": f"{name}-{j}"} for j in range(25_000)])
    before = snapshot(tmp_path)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "inscl", "-q", "plan", "--tasks", str(tasks), "--strategy",
                             "random", "--budget", "20000", "--out", str(out)],
                            cwd=tmp_path, env=inscl_env(), stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    seen = None
    while proc.poll() is None and time.monotonic() < deadline:
        seen = next((p for p in tmp_path.iterdir() if p.name.startswith(".out.")), None)
        if seen is not None and any(seen.rglob("*.jsonl")):  # the write is under way
            proc.send_signal(signal.SIGTERM)
            break
        time.sleep(0.002)
    _, err = proc.communicate(timeout=120)
    assert seen is not None, f"the plan finished before the test saw its temp folder: {err}"
    assert proc.returncode == 143, err
    assert err.strip().splitlines() == [
        "inscl plan: terminated (SIGTERM); temporary files removed, finished work is cached, rerun to resume"]
    assert snapshot(tmp_path) == before  # no temp folder, no --out, inputs unchanged


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS is enforced on Linux")
def test_out_of_memory_is_one_line_exit_2(tmp_path: Path) -> None:
    import resource

    tasks = tmp_path / "tasks"
    tasks.mkdir()
    write_jsonl(tasks / "big.jsonl", [good_records("big")[0], {"instruction": "a", "input": "x" * 50_000_000,
                                                               "output": "b"}])
    before = snapshot(tmp_path)
    # What the interpreter and the `data check` imports take, plus less than the file needs twice
    # (its bytes and its text): the read itself runs out of memory.
    probe = "import inscl.cli.data, inscl.data; print(open('/proc/self/status').read().split('VmPeak:')[1].split()[0])"
    base_kb = int(subprocess.run([sys.executable, "-c", probe], env=inscl_env(), capture_output=True, text=True,
                                 check=True).stdout)
    limit = base_kb * 1024 + 75 * 2**20

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    proc = subprocess.run([sys.executable, "-m", "inscl", "data", "check", "--tasks", str(tasks)], cwd=tmp_path,
                          env=inscl_env(), capture_output=True, text=True, preexec_fn=cap, timeout=120, check=False)
    assert proc.returncode == 2, proc.stderr
    expected = (f"inscl data: error: out of memory while working on {tasks}; use fewer or smaller tasks, or a "
                "machine with more memory")
    assert proc.stderr.strip().splitlines() == [expected]
    assert snapshot(tmp_path) == before


def test_embed_and_tag_check_their_paths_first(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (ws / "afile").write_text("x", encoding="utf-8")
    before = snapshot(ws)
    tasks = str(ws / "tasks")
    cases = [
        (["tag", "--tasks", tasks, "--cache-dir", str(ws / "c"), "--out", str(ws / "tasks" / "tags.jsonl")],
         r"tags\.jsonl, field '--out': is inside the input path"),  # it would be read as a task next time
        (["embed", "--tasks", tasks, "--encoder", "hashing", "--tags", str(ws / "tags.jsonl"), "--cache-dir",
          str(ws / "c"), "--out", str(ws / "tags.jsonl")], r"tags\.jsonl, field '--out': is the input path"),
        (["embed", "--tasks", tasks, "--encoder", "hashing", "--cache-dir", str(ws / "afile")],
         r"afile, field '--cache-dir': is a file"),
        (["tag", "--tasks", tasks, "--cache-dir", str(ws / "afile" / "sub")],
         r"afile/sub, field '--cache-dir': cannot be created: .*afile is a file"),
        (["embed", "--tasks", tasks, "--encoder", "hashing", "--cache-dir", str(ws / "c"), "--out",
          str(ws / "afile" / "e.npz")], r"e\.npz, field '--out': cannot be created"),
    ]
    for argv, pattern in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and re.search(pattern, err), (argv, err)
        assert snapshot(ws) == before


def test_sigterm_while_tagging_keeps_the_finished_tags(tmp_path: Path) -> None:
    from inscl.taggers.cache import read_tags_jsonl

    tasks = tmp_path / "tasks"
    tasks.mkdir()
    n = 20_000
    write_jsonl(tasks / "many.jsonl", [{"instruction": f"Classify review number {j} of the movie set.",
                                        "output": "y", "id": str(j)} for j in range(n)])
    cache = tmp_path / "cache"
    proc = subprocess.Popen([sys.executable, "-m", "inscl", "-q", "tag", "--tasks", str(tasks), "--tagger",
                             "offline", "--cache-dir", str(cache)],
                            cwd=tmp_path, env=inscl_env(), stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    cache_file = None
    while proc.poll() is None and time.monotonic() < deadline:
        cache_file = next(cache.glob("*/tags.jsonl"), None) if cache.is_dir() else None
        if cache_file is not None and cache_file.stat().st_size > 0:
            proc.send_signal(signal.SIGTERM)
            break
        time.sleep(0.005)
    _, err = proc.communicate(timeout=120)
    assert cache_file is not None, err
    assert proc.returncode == 143, err
    assert err.strip().splitlines() == [
        "inscl tag: terminated (SIGTERM); temporary files removed, finished work is cached, rerun to resume"]
    kept = read_tags_jsonl(cache_file)  # strict: every line written before the signal is whole
    assert 0 < len(kept) < n
