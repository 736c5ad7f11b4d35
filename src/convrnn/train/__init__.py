"""Training: losses, sampling schedules (light), and the Lightning module, data and fit (heavy).

Import the Lightning parts from their modules (``convrnn.train.fit``) so that
``convrnn.train.losses`` and ``convrnn.train.sampling`` stay light; the config is
the leaf :mod:`convrnn.config`.
"""
