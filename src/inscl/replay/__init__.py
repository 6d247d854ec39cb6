"""The replay method: task distance, quotas, tag merging, InsInfo, selectors, strategies, the planner.

A functional core (``distance``, ``quotas``, ``tags``, ``insinfo``, ``selectors``) under one
stateful shell (``planner.ReplayPlanner``). Submodules are imported on use: they load POT
and scikit-learn.
"""
