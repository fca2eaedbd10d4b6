"""The image cache: every image of a manifest decoded once at the model's size.

- :mod:`~modelkit.data.caches.image_cache`: the store training reads its epochs from;
- :mod:`~modelkit.data.caches.disk`: its folder on disk, limits, eviction, clearing.
"""
