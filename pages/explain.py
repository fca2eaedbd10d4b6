"""Explain: what did the model look at, for each head?

Pick a run and a face (from the evaluation set by group, split and right/wrong, from
the Evaluate gallery, or an upload), a method and a class; see the three heads' maps
side by side, and the average map per group to compare where the model looks for
different people. Every face is decoded exactly as training decodes it.
"""

import streamlit as st

from dashboard import demo_view, explain_outside_view, loaders
from dashboard import explain_faces_view as faces
from dashboard import explain_view as view

st.title("Explain")
faces.take_arrival()

run_dir = view.run_picker_ui(loaders.runs_with_model() + loaders.outside_models())
if run_dir is not None and view.is_outside(run_dir):  # no gradients: occlusion maps
    explain_outside_view.outside_ui(run_dir)
    st.stop()
if run_dir is None:
    st.info("No trained model yet. Train a run on the Train page (model.keras is written "
            "when training finishes), or point FACESCOPE_RUNS_ROOT at your runs.")
    demo_view.demo_button_ui(key="explain_demo")
    st.stop()

mtime = view.model_mtime(run_dir)
config = loaders.run_config(str(run_dir), mtime)
method, head, class_index, alpha = view.method_ui(config)
predictions = loaders.predictions(str(run_dir), loaders.predictions_mtime(run_dir))

st.header("One face, three heads")
face = faces.face_ui(predictions, head=head, image_size=view.model_image_size(run_dir, mtime))
if face is None:
    st.caption("Choose a face above to see its maps.")
else:
    view.face_maps_ui(face, run_dir=run_dir, mtime=mtime, config=config, method=method,
                      head=head, class_index=class_index, alpha=alpha)

st.header("Average map per group")
view.average_maps_ui(predictions, run_dir=run_dir, mtime=mtime, method=method, head=head,
                     class_index=class_index, config=config, alpha=alpha)
