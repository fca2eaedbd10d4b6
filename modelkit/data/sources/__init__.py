"""Dataset sources: each source's own layout and label codes read into the manifest.

- :mod:`~modelkit.data.sources.readers`: ``load_dataset`` and one ``read_<source>`` each;
- :mod:`~modelkit.data.sources.label_tables`: label CSVs read into typed columns;
- :mod:`~modelkit.data.sources.imdbwiki`: IMDB-WIKI's ``.mat`` metadata;
- :mod:`~modelkit.data.sources.raw`: what a reader found before the image scan.
"""
