"""Providers: the things that turn an image into a model."""
