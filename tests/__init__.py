"""FaceScope's tests. A package so that ``tests.helpers`` (the shared fixtures' code)
is this folder's, not a ``tests`` package some dependency installs in site-packages."""
