"""The run directory: layout, the config-hash guard, the stage log and atomic stage writes.

::

    OUT/
      config.yaml, config.sha256          resolved config and its identity hash
      stages.log                          one line per stage event, with a UTC timestamp
      data/<task>.{train,test}.jsonl
      shared/seed<k>/stage_01_<task>/     stage 1, trained once per seed, copied to each strategy
      experts/seed<k>/<tt>_<task>/        expert (task alone) scores for the Relative Gain
      <strategy>/seed<k>/stage_<tt>_<task>/{adapter|model, generations.jsonl, scores.json, stats.json}
      <strategy>/seed<k>/plan.json, results.json
      summary.json

A stage directory is built under a temporary name and renamed when complete, so its
presence means the stage is finished. ``OUT/.inscl-output`` marks the folder as a run
folder (see :mod:`inscl.outdir`): the runner writes only into an empty folder, a new one
or one that holds that marker (or, from older versions, ``config.sha256``), and never
into a folder that is, contains or lies inside one of its inputs.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

from inscl.data.jsonio import atomic_write_text
from inscl.errors import InputError
from inscl.outdir import check_reusable_dir, describe, make_temp_dir, read_marker, write_marker

_TMP_PREFIX = ".tmp-"
log = logging.getLogger("inscl.runner")
__all__ = ["RunDir", "link_or_copy_tree", "write_dir_atomically"]


class RunDir:
    """Paths and bookkeeping of one experiment's output directory."""

    def __init__(self, root: str | Path, active: bool = True) -> None:
        self.root = Path(root)
        self.active = active  # False on the non-main processes of a multi-GPU run: they write nothing

    # ---- layout --------------------------------------------------------------------------
    def run(self, strategy: str, seed: int) -> Path:
        return self.root / strategy / f"seed{seed}"

    def shared(self, seed: int) -> Path:
        return self.root / "shared" / f"seed{seed}"

    def experts(self, seed: int) -> Path:
        return self.root / "experts" / f"seed{seed}"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        return self.root / "stages.log"

    # ---- config guard ----------------------------------------------------------------------
    def check(self, inputs: Iterable[str | Path] = ()) -> None:
        """Refuses a directory the runner must not write into (before any work is done):
        one that is or lies inside an input, one whose runner-written entries (``data/``,
        ``shared/``, a strategy's folder, ...) hold an input, a file, or a non-empty folder
        that is not a run folder."""
        from inscl.runner.config import STRATEGIES

        owned = {*STRATEGIES, "shared", "experts", "data", "cache", "report", "summary.json", "config.yaml",
                 "config.sha256", "stages.log"}
        check_reusable_dir(self.root, kind="run", inputs=inputs, field="output_dir", owned=owned)

    def mark(self) -> None:
        """Creates the directory (if needed) and marks it as a run folder, for callers that
        write into it before the runner does (the demo's generated data)."""
        self.root.mkdir(parents=True, exist_ok=True)
        if read_marker(self.root) is None:
            write_marker(self.root, "run")

    def claim(self, config_yaml: str, config_hash: str, overwrite: bool, strategies: Iterable[str],
              inputs: Iterable[str | Path] = ()) -> None:
        """Binds the directory to a config: a different earlier config is refused unless
        ``overwrite`` (then its results are removed)."""
        self.check(inputs)
        sha = self.root / "config.sha256"
        if sha.is_file():
            old = sha.read_text(encoding="utf-8").strip()
            if old != config_hash:
                if not overwrite:
                    raise InputError(
                        f"holds results of a different config (hash {old[:12]} != {config_hash[:12]}); "
                        "use --force (overwrite: true) to replace them, or another --output-dir",
                        path=self.root, field="output_dir")
                self.remove_results(strategies)
        self.mark()
        atomic_write_text(self.root / "config.yaml", config_yaml)
        atomic_write_text(sha, config_hash + "\n")
        self.clean_tmp()

    def remove_results(self, strategies: Iterable[str]) -> None:
        """Removes what this runner wrote (never anything else in the directory)."""
        from inscl.runner.config import STRATEGIES

        doomed = [p for name in sorted({*STRATEGIES, *strategies, "shared", "experts", "data"})
                  if (p := self.root / name).is_dir()]
        if doomed:
            log.info("removing the results of the earlier config in %s: %s", self.root,
                     "; ".join(f"{p.name}/ ({describe(p)})" for p in doomed))
        for p in doomed:
            shutil.rmtree(p)
        for name in ("summary.json", "config.yaml", "config.sha256"):
            (self.root / name).unlink(missing_ok=True)

    def clean_tmp(self) -> None:
        """Drops half-written stage directories left by an interrupted run."""
        if not self.root.is_dir():
            return
        for p in self.root.rglob(f"{_TMP_PREFIX}*"):
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)

    # ---- stage log ---------------------------------------------------------------------------
    def log(self, event: str, strategy: str, seed: int, stage: int, task: str, detail: str = "") -> None:
        """Appends ``timestamp<TAB>event<TAB>strategy<TAB>seed<TAB>stage<TAB>task[<TAB>detail]``."""
        if not self.active:
            return
        stamp = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds")
        line = "\t".join([stamp, event, strategy, f"seed={seed}", f"stage={stage}", task] + ([detail] if detail
                                                                                               else []))
        with open(self.log_path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())


def write_dir_atomically(target: Path, build: Callable[[Path], None]) -> None:
    """Calls ``build(tmp)`` on a fresh temporary directory beside ``target``, then renames it."""
    tmp = make_temp_dir(target, prefix=f"{_TMP_PREFIX}{target.name}.")
    try:
        build(tmp)
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def link_or_copy_tree(src: Path, target: Path) -> None:
    """Atomically places a copy of ``src`` at ``target`` (hard links where the file system allows)."""
    def copy(s: str, d: str) -> None:
        try:
            os.link(s, d)
        except OSError:
            shutil.copy2(s, d)

    write_dir_atomically(target, lambda tmp: shutil.copytree(src, tmp, copy_function=copy, dirs_exist_ok=True))
