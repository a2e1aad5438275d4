"""`layerspec sweep`: a hyper-parameter search on Optuna, each trial a normal run folder.

`space` reads the search space (`--space KEY=DIST` and the spec's `search:` section), `records` holds the sweep's
own file (sweep.json, the `--json` payload), `run` drives the study and its trials, `report` renders a sweep.
"""
