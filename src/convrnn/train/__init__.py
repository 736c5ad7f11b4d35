"""Training: config, losses, sampling schedules (light), and the Lightning module, data and fit (heavy).

Import the Lightning parts from their modules (``convrnn.train.fit``) so that
``import convrnn.train.config`` stays light.
"""
