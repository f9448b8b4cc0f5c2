"""photorescue: back up a photo library as one small video per folder, plus a sidecar."""

__version__ = "0.4.0"
