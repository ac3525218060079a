"""ui: the Gradio chat, a thin shell around :mod:`qa.chat`."""
