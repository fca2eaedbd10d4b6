"""Saliency maps: where in a face each head of the model looked (tf-keras-vis).

One concept per module, as tf-keras-vis splits its own:

* ``modelkit.models.run_model`` (re-exported): a run's model and config, its classes,
  and the input it is fed (through ``modelkit.data.decode``, so a map explains the
  pipeline's pixels);
* ``layers``: the Grad-CAM layer, and the clone whose softmax heads give logits;
* ``scores``: what each head's map explains (log-odds of a class, the expected age);
* ``explain``: the maps (``explain``, ``explain_detailed``, ``average_map``);
* ``overlay``: drawing them (``colorize``, ``overlay``).

Importing this package loads no TensorFlow; the functions do, when called.

Example::

    from modelkit import saliency
    model = saliency.load_run_model("runs/abc")
    maps = saliency.explain(model, faces, head="gender", method="gradcam")
    picture = saliency.overlay(faces[0].astype("uint8"), maps[0], alpha=0.45)
"""

from modelkit.models.run_model import (
    class_index_for,
    class_names,
    image_size,
    load_images,
    load_run_config,
    load_run_model,
    model_inputs,
)
from modelkit.saliency.explain import (
    ConstantMapWarning,
    Explanation,
    average_map,
    explain,
    explain_detailed,
)
from modelkit.saliency.layers import default_layer, find_last_conv_layer
from modelkit.saliency.overlay import colorize, overlay
from modelkit.saliency.scores import age_group_probs, expected_age, predict_heads

__all__ = [
    "ConstantMapWarning", "Explanation", "age_group_probs", "average_map", "class_index_for",
    "class_names", "colorize", "default_layer", "expected_age", "explain", "explain_detailed",
    "find_last_conv_layer", "image_size", "load_images", "load_run_config", "load_run_model",
    "model_inputs", "overlay", "predict_heads",
]
