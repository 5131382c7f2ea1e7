"""pvst: photo-realistic video style transfer as a staged, cached pipeline."""

__version__ = "0.1.0"
