"""y7deploy: a YOLOv7 detector from labelled images to a fleet of Jetsons running DeepStream."""

__version__ = "0.1.0"
