"""An embedded KurrentDB-compatible node (gRPC, SQLite) for development and tests.

It imports nothing from Django. `EmbeddedNode` runs in this process; `NodeProcess` runs
`python -m kurrent.embedded` in a subprocess. See `python -m kurrent.embedded --help`.
"""

from .process import NodeProcess
from .server import EmbeddedNode, NodeError

__all__ = ["EmbeddedNode", "NodeError", "NodeProcess"]
