"""Instruction encoders: ``encode(texts) -> float32 array (n, d)``.

Owned by the encoders work (issue 3). The planner only relies on :class:`Encoder`.
"""

from inscl.encoders.base import Encoder

__all__ = ["Encoder"]
