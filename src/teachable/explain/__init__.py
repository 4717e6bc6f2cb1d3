"""Why a model answers as it does: the training samples a prediction resembles (``memory``), where
in a photo or a clip the answer came from (``heatmap``), and which samples to look at again
(``review``). Everything here reads cached embeddings and the classifiers' interface; projects,
routes and the CLI only delegate to it.

(``memory`` sits beside ``classify/``: a model keeps one. ``review`` needs only embeddings.
``heatmap`` runs a model, so it sits above ``model.py``; nothing here is imported eagerly.)
"""
