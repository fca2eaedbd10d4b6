"""FaceScope's ML core: one shared-backbone model for gender, race and age.

Nothing in this package imports Streamlit; the dashboard and the CLI both call it.
"""

__version__ = "0.1.0"
