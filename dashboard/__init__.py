"""Streamlit UI helpers: figure builders, cached loaders, widgets. Never trains."""
