"""Fine-tuning a pretrained backbone: heads first, then the whole network more gently.

``--freeze-epochs N`` trains only the heads for the first N epochs, and
``--backbone-lr-scale s`` trains the backbone at s times the heads' learning rate
after that. Both live in one optimizer, :class:`TransferAdam`, so a run is still one
``model.fit``: the checkpoints, resume, the cosine schedule and the weight average
(EMA) work across the switch as for any run, and a resumed run knows which phase it
is in from the optimizer's own step count.

Freezing is a learning rate of exactly 0 for the backbone's variables, so their
weights do not move (Adam's update is lr times a finite ratio). It does not save the
backward pass through the backbone: the frozen epochs cost as much as the others.
The backbones' batch norms never train when the backbone is pretrained (``dlib_resnet``'s
folded ones always, keras.applications' with pretrained weights), as Keras'
transfer-learning guide advises: their statistics are the pretrained ones throughout.
"""

from __future__ import annotations

import keras
from keras import ops


def backbone_variable_paths(model: keras.Model, heads) -> list[str]:
    """The paths of ``model``'s trainable variables outside its head layers (a head
    ``NAME`` and its ``NAME_hidden``): the shared backbone's."""
    head_layers = set(heads) | {f"{head}_hidden" for head in heads}
    return [v.path for layer in model.layers if layer.name not in head_layers
            for v in layer.trainable_weights]


def freeze_batch_norms(model: keras.Model) -> int:
    """Put every BatchNormalization layer of ``model`` in inference mode for good (the
    pretrained statistics stay); returns how many."""
    count = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
            count += 1
    return count


@keras.saving.register_keras_serializable(package="facescope")
class TransferAdam(keras.optimizers.Adam):
    """Adam whose ``backbone_variables`` (variable paths) learn at ``backbone_lr_scale``
    times the learning rate, and not at all for the first ``frozen_steps`` steps."""

    def __init__(self, *args, backbone_variables=(), frozen_steps: int = 0,
                 backbone_lr_scale: float = 1.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.backbone_variables = tuple(backbone_variables)
        self.frozen_steps = int(frozen_steps)
        self.backbone_lr_scale = float(backbone_lr_scale)
        self._backbone_index: frozenset[int] = frozenset()

    def build(self, variables):
        super().build(variables)
        wanted = set(self.backbone_variables)
        self._backbone_index = frozenset(self._get_variable_index(v) for v in variables
                                         if v.path in wanted)

    def update_step(self, gradient, variable, learning_rate):
        if self._get_variable_index(variable) in self._backbone_index:
            factor = ops.where(self.iterations < self.frozen_steps, 0.0, self.backbone_lr_scale)
            learning_rate = ops.multiply(ops.cast(learning_rate, "float32"), factor)
        super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        return super().get_config() | {"backbone_variables": list(self.backbone_variables),
                                       "frozen_steps": self.frozen_steps,
                                       "backbone_lr_scale": self.backbone_lr_scale}
