"""churnml: churn and expansion prediction for Customer Success teams (`churnml.api` for Python)."""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _package_version

try:
    __version__ = _package_version("churnml")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
