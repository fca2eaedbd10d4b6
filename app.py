"""FaceScope dashboard: ``streamlit run app.py``.

The entry point only sets the page up and routes; each page lives in ``pages/``.
"""

import streamlit as st

st.set_page_config(page_title="FaceScope", page_icon=":material/face:", layout="wide")

navigation = st.navigation(
    [
        st.Page("pages/dataset.py", title="Dataset", icon=":material/dataset:", default=True),
        st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
        st.Page("pages/runs.py", title="Runs", icon=":material/list:"),
        st.Page("pages/evaluate.py", title="Evaluate", icon=":material/analytics:"),
        st.Page("pages/explain.py", title="Explain", icon=":material/visibility:"),
    ]
)
navigation.run()
