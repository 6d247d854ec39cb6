"""File formats, one module each: a reader turns one file into a :class:`~inscl.data.task.Task`."""

from inscl.data.formats.alpaca import load_alpaca_file
from inscl.data.formats.superni import SuperNITaskFile, looks_like_superni, read_superni_task_file

__all__ = ["SuperNITaskFile", "load_alpaca_file", "looks_like_superni", "read_superni_task_file"]
