"""Data handling: the task model, one reader per file format, SuperNI, JSON I/O, plan export.

``load_tasks`` is the single entry point for user data; ``inscl.data.export`` (imported on
its own, it needs the planner) writes plans.
"""

from inscl.data.formats import FORMATS, ReadOptions
from inscl.data.formats.alpaca import load_alpaca_file
from inscl.data.formats.superni import (
    SuperNITaskFile,
    is_english_task,
    load_superni_task_file,
    read_superni_task_file,
)
from inscl.data.loading import is_superni_layout, load_superni_dir, load_task_dir, load_tasks
from inscl.data.task import Example, Task, split_task

__all__ = [
    "FORMATS", "Example", "ReadOptions", "SuperNITaskFile", "Task", "is_english_task", "is_superni_layout", "load_alpaca_file",
    "load_superni_dir", "load_superni_task_file", "load_task_dir", "load_tasks", "read_superni_task_file",
    "split_task",
]
