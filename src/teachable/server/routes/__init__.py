"""One router per resource of the HTTP API."""

from . import classes, explanations, meta, models, prediction, projects, publishing, samples, sketches, tflite_jobs, training

ROUTERS = [meta.router, projects.router, classes.router, samples.router, training.router, models.router, prediction.router,
           publishing.router, explanations.router, tflite_jobs.router, sketches.router,
           sketches.page_router]
