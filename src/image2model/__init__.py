"""image2model: turn batches of 2D images into textured 3D models."""

__version__ = "0.1.0"
