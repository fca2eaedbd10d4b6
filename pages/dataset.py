import streamlit as st

st.title("Dataset")
st.info("This page is not built yet.")
