"""Suspect labels: find the wrong ones, record a person's decisions, retrain with them.

One concept per module:

- :mod:`~modelkit.curation.embed`: every image through the run's backbone once (the
  pooled features the heads read), with the run's own head probabilities;
- :mod:`~modelkit.curation.suspects`: out-of-sample predictions on those embeddings
  (K-fold ``cross_val_predict``) scored by ``cleanlab``; the ranked tidy table;
- :mod:`~modelkit.curation.ranking`: a run's ranking, saved as ``<run>/suspects.parquet``;
- :mod:`~modelkit.curation.rank_jobs`: the same as a ``rank`` job of the one queue
  (it waits behind a training run), and where a run's ranking stands;
- :mod:`~modelkit.curation.corrections`: the append-only corrections file of a
  dataset (latest decision wins, undo is a row too);
- :mod:`~modelkit.curation.apply`: ``apply_corrections``, the file's standing decisions
  applied to a dataset, which ``train --corrections``, the Dataset page and the Review
  page share.

Nothing here imports TensorFlow until an embedding is computed.

Example::

    from modelkit.curation import corrections, ranking
    ranking.rank_run(run_dir)                      # writes run_dir/suspects.parquet
    file = corrections.corrections_path(source="utkface", root=root)
    corrections.record_decision(file, path=p, attribute="gender", action="set",
                                value="male", race_classes=classes, root=root)
"""
