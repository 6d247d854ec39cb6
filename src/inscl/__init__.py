"""inscl: continual instruction tuning with data-efficient replay (InsCL, Wang et al., NAACL 2024)."""

from inscl.errors import ConfigError, InputError
from inscl.task import Example, Task, split_task

__version__ = "0.1.0"

__all__ = ["ConfigError", "Example", "InputError", "Task", "split_task", "__version__"]
