"""rnastruct: RNA secondary structure as object detection on the base-pair map."""

__version__ = "0.1.0"
