"""Beyond one machine: the networks on a Ray cluster (the ``ray`` extra).

The pixels → embedding step is most of the CPU time of every live frame and every upload, so the
design splits there: project state (SQLite files, classifiers, the page) stays in one
``teachable serve`` process, and the image and sound networks run as Ray Serve deployments
(:mod:`.serving`, :mod:`.replica`) on as many machines as the cluster has. Folders of files go
through Ray Data (:mod:`.bulk`). Nothing here imports Ray until a command asks for ``--ray``
(:mod:`.cluster`); without it everything runs as before. docs/scale.md says how to run it.
"""
