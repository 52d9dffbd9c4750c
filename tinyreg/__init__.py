"""tinyreg: a container registry in one Python process.

`tinyreg serve` starts it; `tinyreg.testing` embeds it in a test suite.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
