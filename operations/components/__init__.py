"""One module (or package) per component. A component imported on its own (a user's
deploy calling `node_exporter.install()`) finds the catalogue defined: it is the stack's,
which this package loads first."""

from operations import stack  # noqa: F401  (defines the catalogue)
