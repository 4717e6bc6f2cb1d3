"""What the page tells a newcomer about a project: whether its model still matches the classes
and samples, and when the way samples were gathered may mislead the model."""

from __future__ import annotations


def model_status(project, current) -> dict:
    """Does the current model (its ModelInfo, or None) still match the classes and samples?
    ``stale`` with the reason a person reads, and the labels the model answers with (``None``:
    no model, or one too old to tell)."""
    if current is None or not current.trained_on:
        return {"stale": False, "reason": None, "labels": None}
    now_on = project.trained_on()
    labels = current.trained_on.get("classes")
    if labels != now_on["classes"]:
        reason = "Your classes changed since this model was trained (renamed, added, deleted or reordered) — train again."
    elif current.trained_on.get("samples") != now_on["samples"]:
        reason = "Samples were added, moved or removed since this model was trained — train again to use them."
    else:
        reason = None
    return {"stale": reason is not None, "reason": reason, "labels": labels}


def source_warning(project) -> str | None:
    """Some classes recorded live and others only uploaded: the model may learn the source
    (microphone or camera against clean files) instead of the thing itself."""
    sources: dict[int, set[str]] = {}
    for sample in project.samples():
        sources.setdefault(sample.class_id, set()).add("live" if sample.source in ("webcam", "microphone") else "files")
    kinds = {frozenset(s) for s in sources.values()}
    if {frozenset({"live"}), frozenset({"files"})} <= kinds:
        device = "microphone" if project.rules.audio else "webcam"
        return (f"Some classes were recorded with the {device} and others only uploaded as files: the model may "
                f"learn where a sample came from instead of what it is. Give every class samples from both, or "
                f"from the same source.")
    return None
