"""The offline CPU generator: a closed textured mesh inflated from the photo's silhouette."""

from image2model.providers.local.provider import LocalProvider

__all__ = ["LocalProvider"]
