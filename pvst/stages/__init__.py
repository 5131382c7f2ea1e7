"""The stage drivers: each reads its inputs, runs the science, and writes its artifact
(and reads it back for the next stage).
"""
