"""The out-of-the-box demo: a generated stream of rule-based tasks and the ``inscl demo`` command.

:mod:`inscl.demo.stream` writes the task stream like any user dataset;
:mod:`inscl.demo.run` runs none / random / inscl on it and writes the report.
"""

from inscl.demo.run import DemoSettings, run_demo
from inscl.demo.stream import TASK_NAMES, generate_stream, write_stream

__all__ = ["TASK_NAMES", "DemoSettings", "generate_stream", "run_demo", "write_stream"]
