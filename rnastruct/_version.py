"""The package version, in a module of its own so that library modules can name it without
importing the package's top level (which would import the predictor)."""

__version__ = "0.1.0"
